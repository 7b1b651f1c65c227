"""The recorder's memory over a long run at full rate: flat, or growing with the requests?

    .venv/bin/python benchmarks/recorder_memory.py              # 10 min at full rate (issue 10, item 3)
    .venv/bin/python benchmarks/recorder_memory.py --smoke      # a few seconds, for the tests
    .venv/bin/python benchmarks/recorder_memory.py --processes 2 --samples-csv rss.csv   # workers too; every sample

Starts the real stub (``fixed`` preset, reads that hold no connection time:
``--query-time-ms 0``, so the shop answers as fast as it can) on a free
loopback port, runs the real locustfile headless against it with a constant
profile written to a temporary file (``--users`` shoppers who never think,
no snipers, whose 0.5-1.5 s retry pauses would slow the rate), and samples
the resident memory of the Locust process once a second from
``/proc/<pid>/status`` (``VmRSS``); with ``--processes N``, the forked
workers' too (their sum overcounts pages shared after the fork, so the
master's own figure is printed as well: it is the one that records).

Time 0 is the run's start as the results folder records it (``events.jsonl``
appears at Locust's ``test_start``), so the import of Locust and the shopper
data, generated before the run, are not counted as growth.

Printed, one ``key: value`` per line, units in the keys (parsed by
``tests/test_benchmarks_smoke.py``)::

    rss_early_mib           the sample nearest to --early-s (default 60 s)
    rss_late_mib            the sample nearest to --late-s (default 600 s)
    rss_growth_percent      (late - early) / early x 100; target <= 5
    requests_recorded       the manifest's totals.requests
    requests_in_totals      the sum of totals.json's counts (must equal it)
    requests_in_windows     the sum of windows.jsonl's counts (must equal it)
    requests_per_s          requests_recorded / the manifest's elapsed_s

Exit 0 when the growth is within the target (always in ``--smoke``: a few
seconds say nothing about growth), 1 when it is not, 3 when the run could not
be measured (Locust failed, the folder is incomplete, the counts disagree).
Only 127.0.0.1 is loaded; every run is bounded by ``--duration-s`` plus a
grace period, after which the Locust process this script started (and only
it, with the workers it forked, in their own session) is stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._common import cpu_model, in_scratch_folder, stop_process  # noqa: E402
from target_stub.process import StubProcess  # noqa: E402  (after the path is set)

LOCUSTFILE = REPO / "locustfiles" / "flash_sale.py"
RUN_ID = "recorder-memory"
TARGET_GROWTH_PERCENT = 5.0
STUB_KNOBS = ("--query-time-ms", "0")
"""The stub as fast as it goes: checkout's one read holds its connection for 0 ms instead of 30."""
SHUTDOWN_GRACE_S = 90.0
"""After the profile's end: Locust's --stop-timeout, writing the folder, and the forked workers' exit."""

EXIT_MET, EXIT_MISSED, EXIT_INCONCLUSIVE = 0, 1, 3


@dataclass(frozen=True)
class Settings:
    """One benchmark run, as the command line set it."""

    duration_s: float
    early_s: float
    late_s: float
    users: int
    processes: int
    sample_interval_s: float
    preset: str
    results_dir: Path | None
    samples_csv: Path | None
    smoke: bool


@dataclass(frozen=True)
class Sample:
    """Resident memory at one moment of the run."""

    t_s: float
    """Seconds since the run started (-1 before it)."""
    master_kib: int
    total_kib: int
    """The Locust process and every process it forked."""
    processes: int


def parse_args(argv: list[str] | None = None) -> Settings:
    """The command line, checked; exits 2 with one line for bad input."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="a few seconds with 4 users, for the tests")
    p.add_argument("--duration-s", type=float, help="length of the run (default 605; smoke 6)")
    p.add_argument("--early-s", type=float, help="the first memory figure (default 60; smoke 2)")
    p.add_argument("--late-s", type=float, help="the second memory figure (default 600; smoke 5)")
    p.add_argument("--users", type=int, help="shoppers, none thinking (default 50; smoke 4)")
    p.add_argument("--processes", type=int, default=0, help="Locust's --processes (default 0: one process)")
    p.add_argument("--sample-interval-s", type=float, help="seconds between two samples (default 1; smoke 0.5)")
    p.add_argument("--preset", default="fixed", help="the stub's preset (default fixed)")
    p.add_argument("--results-dir", type=Path, help="keep the run folder here (default: a temporary folder, removed)")
    p.add_argument("--samples-csv", type=Path, help="also write every sample (t_s, master_kib, total_kib) to this file")
    a = p.parse_args(argv)
    defaults = (6, 2, 5, 4, 0.5) if a.smoke else (605, 60, 600, 50, 1.0)
    s = Settings(duration_s=a.duration_s or defaults[0], early_s=a.early_s or defaults[1],
                 late_s=a.late_s or defaults[2], users=a.users or defaults[3], processes=a.processes,
                 sample_interval_s=a.sample_interval_s or defaults[4], preset=a.preset,
                 results_dir=a.results_dir, samples_csv=a.samples_csv, smoke=a.smoke)
    if not 0 < s.early_s < s.late_s < s.duration_s:
        p.error(f"--early-s, --late-s, --duration-s: must be 0 < early < late < duration, "
                f"got {s.early_s:g}, {s.late_s:g}, {s.duration_s:g}")
    if s.users < 1:
        p.error(f"--users: must be >= 1, got {s.users}")
    if s.processes < 0:
        p.error(f"--processes: must be >= 0, got {s.processes}")
    if s.sample_interval_s <= 0:
        p.error(f"--sample-interval-s: must be > 0, got {s.sample_interval_s:g}")
    return s


def profile_yaml(s: Settings) -> str:
    """One constant stage of ``users`` shoppers who never think, reached in 1 s."""
    return (
        "# Written by benchmarks/recorder_memory.py: constant load at full rate.\n"
        "name: recorder-memory\n"
        "time_scale: 1\n"
        "mix: {browser: 60, abandoner: 20, buyer: 20, sniper: 0}\n"
        "think_time_s: {min: 0, max: 0}\n"
        "stages:\n"
        f"  - {{name: full-rate, duration: {s.duration_s:g}s, users: {s.users}, spawn_rate: {s.users}, peak: true}}\n"
    )


def rss_kib(pid: int) -> int:
    """``VmRSS`` of ``pid`` in KiB; 0 when it has exited."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def descendants(pid: int) -> list[int]:
    """Every process forked (transitively) by ``pid``, from ``/proc/<pid>/task/*/children``."""
    found, queue = [], [pid]
    while queue:
        parent = queue.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found.extend(children)
            queue.extend(children)
    return found


def sample(pid: int, t_s: float) -> Sample:
    """The Locust process's memory now, and its workers'."""
    master = rss_kib(pid)
    others = [rss_kib(child) for child in descendants(pid)]
    return Sample(t_s, master, master + sum(others), 1 + len(others))


def nearest(samples: list[Sample], t_s: float) -> Sample:
    """The sample of the run nearest to ``t_s``."""
    return min((x for x in samples if x.t_s >= 0), key=lambda x: abs(x.t_s - t_s))




def run(s: Settings, work: Path) -> tuple[list[Sample], Path, int, str]:
    """Run the stub and Locust, sampling memory; the samples, the run folder, Locust's exit code and stderr."""
    results_dir = s.results_dir or work / "results"
    profile = work / "recorder-memory.yaml"
    profile.write_text(profile_yaml(s))
    folder = results_dir / RUN_ID
    samples: list[Sample] = []
    with StubProcess(s.preset, args=STUB_KNOBS) as stub:
        cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--profile", str(profile),
               "--host", stub.url, "--results-dir", str(results_dir), "--run-id", RUN_ID, "--stop-timeout", "5",
               "--loglevel", "WARNING"]
        if s.processes:
            cmd += ["--processes", str(s.processes)]
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
        with open(work / "locust.out", "w") as out, open(work / "locust.err", "w") as err:
            proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=err, start_new_session=True)
            try:
                started_at = None
                deadline = time.monotonic() + s.duration_s + SHUTDOWN_GRACE_S + 120  # + startup
                while proc.poll() is None and time.monotonic() < deadline:
                    if started_at is None and (folder / "events.jsonl").exists():
                        started_at = time.monotonic()
                    t_s = time.monotonic() - started_at if started_at is not None else -1.0
                    samples.append(sample(proc.pid, t_s))
                    time.sleep(s.sample_interval_s)
            finally:
                stop_process(proc)
        code = proc.returncode
    return samples, folder, code, (work / "locust.err").read_text()


def count_lines(path: Path) -> int:
    """The sum of ``count`` over a JSON-lines member of the folder."""
    with open(path) as f:
        return sum(json.loads(line)["count"] for line in f if line.strip())


def report(s: Settings, samples: list[Sample], folder: Path, code: int, stderr: str) -> int:
    """Print the figures; the exit code."""
    started = [x for x in samples if x.t_s >= 0]
    if s.samples_csv is not None:
        s.samples_csv.write_text("t_s,master_kib,total_kib,processes\n" + "".join(
            f"{x.t_s:.1f},{x.master_kib},{x.total_kib},{x.processes}\n" for x in started))
    print(f"date: {datetime.now(UTC).isoformat(timespec='seconds')}")
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} CPUs, {cpu_model()}, "
          f"Python {platform.python_version()}")
    print(f"settings: {s.duration_s:g} s, {s.users} users at think time 0, stub preset {s.preset} "
          f"{' '.join(STUB_KNOBS)}, processes {s.processes}{' (smoke)' if s.smoke else ''}")
    print(f"locust_exit_code: {code}")
    print(f"results_folder: {folder}{'' if s.results_dir else ' (temporary, removed at exit)'}")
    manifest_path = folder / "manifest.json"
    if not started or not manifest_path.exists():
        print("error: the run did not start or wrote no manifest; Locust said:\n" + stderr[-3000:], file=sys.stderr)
        return EXIT_INCONCLUSIVE
    manifest = json.loads(manifest_path.read_text())
    totals = manifest.get("totals", {})
    requests = totals.get("requests")
    elapsed_s = manifest.get("elapsed_s")
    in_totals = sum(row["count"] for row in json.loads((folder / "totals.json").read_text())["totals"])
    in_windows = count_lines(folder / "windows.jsonl")
    early, late = nearest(started, s.early_s), nearest(started, s.late_s)
    growth = (late.master_kib - early.master_kib) / early.master_kib * 100
    print(f"status: {manifest.get('status')}")
    print(f"rss_early_mib: {early.master_kib / 1024:.1f}")
    print(f"rss_early_at_s: {early.t_s:.1f}")
    print(f"rss_late_mib: {late.master_kib / 1024:.1f}")
    print(f"rss_late_at_s: {late.t_s:.1f}")
    print(f"rss_growth_percent: {growth:.2f}")
    print(f"rss_peak_mib: {max(x.master_kib for x in started) / 1024:.1f}")
    growths = [growth]
    if s.processes:  # the workers record too: their growth counts as much as the master's
        growths.append((late.total_kib - early.total_kib) / early.total_kib * 100)
        print(f"rss_all_processes_early_mib: {early.total_kib / 1024:.1f}")
        print(f"rss_all_processes_late_mib: {late.total_kib / 1024:.1f}")
        print(f"rss_all_processes_growth_percent: {growths[-1]:.2f}")
        print(f"processes_sampled: {late.processes}")
    print(f"requests_recorded: {requests}")
    print(f"requests_in_totals: {in_totals}")
    print(f"requests_in_windows: {in_windows}")
    print(f"elapsed_s: {elapsed_s}")
    print(f"requests_per_s: {requests / elapsed_s:.1f}" if requests and elapsed_s else "requests_per_s: 0")
    print(f"target_growth_percent: {TARGET_GROWTH_PERCENT:g}")
    if requests is None or not requests == in_totals == in_windows:
        print(f"error: the folder's counts disagree: manifest {requests}, totals.json {in_totals}, "
              f"windows.jsonl {in_windows}", file=sys.stderr)
        return EXIT_INCONCLUSIVE
    if s.smoke:
        print("target_met: n/a (smoke: too short to say)")
        return EXIT_MET
    met = max(growths) <= TARGET_GROWTH_PERCENT
    print(f"target_met: {'yes' if met else 'no'}")
    return EXIT_MET if met else EXIT_MISSED




def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    s = parse_args(argv)
    return in_scratch_folder("memory", lambda work: report(s, *run(s, work)))


if __name__ == "__main__":
    sys.exit(main())
