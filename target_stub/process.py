"""Run the stub as a child process: for the demo, the tests and the benchmarks.

    with StubProcess(preset="incident") as stub:
        requests.get(stub.url + "/products")
        stub.scrape_app()["shop_db_pool_timeouts_total"]

The stub listens on a free loopback port; ``stop()`` sends SIGTERM (only to
the process this object started) and returns its exit code.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence

from target_stub.scrape import Samples, scrape

__all__ = ["StubProcess", "StubStartError"]

_LISTENING = re.compile(r"listening on (http://\S+)")
_APP = re.compile(r"^\s+app\s+(http://\S+)")


class StubStartError(RuntimeError):
    """The stub exited, or said nothing, before it listened."""


class StubProcess:
    """``python -m target_stub`` on a free loopback port, stopped on exit."""

    def __init__(self, preset: str = "incident", *, db: str | None = None, args: Sequence[str] = (),
                 start_timeout_s: float = 90.0) -> None:
        cmd = [sys.executable, "-m", "target_stub", "--port", "0", "--host", "127.0.0.1", "--preset", preset]
        if db is not None:
            cmd += ["--db", db]
        self.cmd = [*cmd, *args]
        self.start_timeout_s = start_timeout_s
        self.url = self.app_url = ""
        self.proc: subprocess.Popen | None = None
        self.stdout_lines: list[str] = []
        self.stderr_lines: list[str] = []
        self._readers: list[threading.Thread] = []

    def start(self) -> StubProcess:
        """Start the stub and wait until it listens (``with StubProcess(...)`` starts it too: not both)."""
        if self.proc is not None:
            raise RuntimeError("this StubProcess was already started; a second start would orphan the first")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        ready = threading.Event()
        # Both pipes are drained all the time, so a chatty stub never blocks on a full pipe.
        self._readers = [threading.Thread(target=self._read_stdout, args=(ready,), daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for reader in self._readers:
            reader.start()
        if not ready.wait(self.start_timeout_s) or not self.app_url:
            code = self.stop()
            raise StubStartError(f"stub did not start (exit {code}): {''.join(self.stderr_lines).strip()}")
        return self

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line)

    def _read_stdout(self, ready: threading.Event) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.stdout_lines.append(line)
            if m := _LISTENING.search(line):
                self.url = m.group(1)
            elif m := _APP.match(line):
                self.app_url = m.group(1)
                ready.set()
        ready.set()  # stdout closed: the stub exited

    def scrape_gateway(self) -> Samples:
        """The gateway's metrics now."""
        return scrape(self.url + "/metrics")

    def scrape_app(self) -> Samples:
        """The app's metrics now."""
        return scrape(self.app_url + "/metrics")

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM the stub, wait for it, and return its exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for reader in self._readers:
            reader.join(timeout=5)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        return self.proc.returncode

    def __enter__(self) -> StubProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
