"""The stub prints where it listens, serves until a signal, then stops cleanly with its app process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from target_stub.process import StubProcess
from tests._shop import session
from tests._net import free_port


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


@pytest.mark.parametrize("unbuffered", ["1", ""], ids=["unbuffered", "buffered"])
def test_a_stub_whose_stdout_reader_is_gone_serves_and_stops_on_sigterm(unbuffered):
    """Its stdout a pipe nobody reads any more (closed before the banner): it serves, and SIGTERM stops it with 0,
    no traceback, its app process gone too (with stdout buffered or not: the last flush at exit must not fail)."""
    port = free_port()
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the stub writes its banner
    env = {**os.environ, "PYTHONUNBUFFERED": unbuffered}
    proc = subprocess.Popen([sys.executable, "-m", "target_stub", "--preset", "incident", "--port", str(port)],
                            stdout=write_end, stderr=subprocess.PIPE, text=True, env=env)
    os.close(write_end)
    try:
        answered = None
        deadline = time.monotonic() + 60
        while answered is None and proc.poll() is None and time.monotonic() < deadline:
            try:
                answered = session().get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()
            except requests.RequestException:
                time.sleep(0.2)
        assert proc.poll() is None, f"the stub died (exit {proc.returncode}): {proc.stderr.read()[-2000:]}"
        assert answered == {"status": "ok", "preset": "incident"}
        app_pids = _children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert "Traceback" not in proc.stderr.read()
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in app_pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(pid) for pid in app_pids)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stderr.close()


def test_sigterm_right_after_the_banner_with_the_reader_gone_is_a_clean_stop():
    """Read the banner, close the pipe, SIGTERM at once: exit 0 (a signal once the banner invites it is a stop,
    not an interrupted start), with stdout buffered as it is when nobody sets PYTHONUNBUFFERED."""
    env = {**os.environ, "PYTHONUNBUFFERED": ""}
    proc = subprocess.Popen([sys.executable, "-m", "target_stub", "--preset", "incident", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        banner = []
        for line in proc.stdout:  # until the line inviting a signal (read no further: nothing follows it)
            banner.append(line)
            if line.startswith("Stop with"):
                break
        assert banner[-1] == "Stop with Ctrl-C or SIGTERM.\n", banner
        proc.stdout.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stderr.close()
