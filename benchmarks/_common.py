"""What every benchmark shares: the machine line, median and spread, tools from apt, processes it started.

Figures are printed one ``key: value`` per line, units in the keys, so that
``tests/test_benchmarks_smoke.py`` can parse them. Every comparison is made
in one invocation, the sides alternating round by round, and reported as the
median of the rounds with their spread (min..max): the machine is shared, so
a single figure says little and a ratio of figures measured minutes apart
says less.
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

EXIT_MET, EXIT_MISSED, EXIT_BAD_INPUT, EXIT_INCONCLUSIVE = 0, 1, 2, 3

APT_HINT = "install them with: apt-get install -y nginx wrk"

__all__ = ["REPO", "EXIT_MET", "EXIT_MISSED", "EXIT_BAD_INPUT", "EXIT_INCONCLUSIVE", "APT_HINT", "print_header",
           "median_spread", "ratio_line", "require_tools", "free_port", "stop_process", "tree_cpu_s", "cpu_model",
           "locust_env", "tool_path"]


def cpu_model() -> str:
    """The CPU's model name, from ``/proc/cpuinfo``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def print_header(settings: str) -> None:
    """The date, the machine and the settings, first lines of every benchmark's output."""
    print(f"date: {datetime.now(UTC).isoformat(timespec='seconds')}")
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} CPUs, {cpu_model()}, "
          f"Python {platform.python_version()}")
    print(f"settings: {settings}")


def median_spread(values: Sequence[float]) -> tuple[float, float, float]:
    """(median, min, max) of the rounds."""
    return statistics.median(values), min(values), max(values)


def ratio_line(key: str, values: Sequence[float], digits: int = 3) -> str:
    """``key: median`` and, on the next line, ``key_spread: min..max`` of per-round values."""
    med, low, high = median_spread(values)
    return f"{key}: {med:.{digits}f}\n{key}_spread: {low:.{digits}f}..{high:.{digits}f}"


def require_tools(*tools: str, smoke: bool = False) -> list[str]:
    """The tools (``nginx``, ``wrk``) that are missing; outside smoke mode, a missing one exits 2.

    They come from apt on a fresh machine; the message says so in one line.
    """
    paths = {"nginx": ("/usr/sbin/nginx", "nginx"), "wrk": ("/usr/bin/wrk", "wrk")}
    missing = [t for t in tools if not any(Path(p).is_file() or shutil.which(p) for p in paths.get(t, (t,)))]
    if missing and not smoke:
        print(f"Error: {', '.join(missing)} not found; {APT_HINT}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    if missing:
        print(f"notice: {', '.join(missing)} not found ({APT_HINT}); smoke mode skips the parts that need them")
    return missing


def tool_path(tool: str) -> str:
    """The path of ``nginx`` or ``wrk``."""
    for candidate in {"nginx": ("/usr/sbin/nginx",), "wrk": ("/usr/bin/wrk",)}.get(tool, ()):
        if Path(candidate).is_file():
            return candidate
    found = shutil.which(tool)
    if found is None:
        raise FileNotFoundError(tool)
    return found


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (bound, read back, released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: subprocess.Popen, *, first: int = signal.SIGINT, grace_s: float = 30.0) -> int:
    """Stop a process this benchmark started (in its own session): ``first``, then its session, killed."""
    if proc.poll() is None:
        try:
            proc.send_signal(first)
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # its own session (start_new_session): only what it forked
            except ProcessLookupError:
                pass
            proc.wait()
    return proc.returncode


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and every live process it forked."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        for p in [root, *root.children(recursive=True)]:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
    except psutil.NoSuchProcess:
        pass
    return total


def locust_env() -> dict[str, str]:
    """The environment for a Locust child: the repository importable, output unbuffered."""
    return {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}


def in_scratch_folder(name: str, run: Callable[[Path], int]) -> int:
    """``run(folder)`` in a scratch folder of its own, removed afterwards whatever happens; its exit code."""
    work = Path(tempfile.mkdtemp(prefix=f"surgegate-bench-{name}-"))
    try:
        return run(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
