"""The stub prints where it listens, serves until a signal, then stops cleanly with its app process."""

from __future__ import annotations

import os
import signal
import time

import pytest

from target_stub.process import StubProcess
from tests._shop import session


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes: read its state.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_gateway_and_app_cleanly(sig):
    """SIGTERM or Ctrl-C: exit code 0, the app process is gone too."""
    stub = StubProcess("incident").start()
    assert stub.url.startswith("http://127.0.0.1:") and stub.app_url.startswith("http://127.0.0.1:")
    assert session().get(stub.url + "/healthz", timeout=5).json() == {"status": "ok", "preset": "incident"}
    app_pids = _children(stub.proc.pid)
    assert len(app_pids) == 1
    with open(f"/proc/{app_pids[0]}/cmdline", "rb") as f:
        assert b"db_url" not in f.read(), "the config (and any database password) must not be on argv"
    stub.proc.send_signal(sig)
    assert stub.proc.wait(timeout=30) == 0
    stub.stop()
    deadline = time.monotonic() + 10
    while _alive(app_pids[0]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(app_pids[0])


def test_app_dies_with_a_killed_stub():
    """SIGKILL to the stub leaves no app process behind."""
    stub = StubProcess("incident").start()
    app_pid = _children(stub.proc.pid)[0]
    stub.proc.kill()
    stub.proc.wait(timeout=10)
    stub.stop()
    deadline = time.monotonic() + 10
    while _alive(app_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(app_pid)
