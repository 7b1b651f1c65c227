"""Analysis cost: ``surgegate report DIR`` on results folders of 1x, 4x and 16x the requests, and one hour's.

    .venv/bin/python benchmarks/analysis_cost.py                 # a 30 s run, folders 1x/4x/16x/1 h, 3 rounds
    .venv/bin/python benchmarks/analysis_cost.py --rounds 5 --duration 60
    .venv/bin/python benchmarks/analysis_cost.py --smoke         # a 4 s run, 1x/4x/16x, one round, no hour

The base folder is a real run: the real locustfile against the real stub
(``fixed`` preset, reads holding their connection 0 ms instead of 30, so
that it answers as fast as it can), ``--users`` shoppers who never think,
with the stub's metrics scraped every second, as a user's run would be. The larger folders
are that run played again end to end, ``k`` times (synthesized, not run):
``windows.jsonl`` rows, ``load.jsonl`` and ``server_metrics.jsonl`` lines
shifted by ``i x`` the run's length (counters carried on, not reset),
``totals.json`` the base totals' HdrHistograms added ``k`` times (exactly,
as the recorder adds windows), the manifest's stage and totals stretched to
match; written with the project's own ``ResultsFolder`` and ``WindowRow``.
So a 16x folder has 16 times the requests, windows and scrapes of the base
run, the realistic way a folder grows: with the run's length. The one-hour
folder is the same with ``k = 3600 / duration``: a folder of a one-hour run
at the base run's rate, measured, not extrapolated (``--no-hour`` skips it
and extrapolates from 16x, saying so).

Each size is timed as a user runs it: ``surgegate report DIR`` in a fresh
process (Python start-up and imports included), rebuilding every output
(analysis.json, verdict.json, junit.xml, summary.md, report.html); sizes
alternate within each round. Printed, ``key: value`` (median of the rounds,
then ``_spread``):

    requests_1x, requests_4x, requests_16x, requests_hour    requests in each folder
    report_s_1x, report_s_4x, report_s_16x, report_s_hour    seconds to rebuild every output
    ratio_4x_to_1x, ratio_16x_to_4x        cost ratios; no faster than linear: <= 4 each
    ratio_hour_to_16x                      and <= requests_ratio_hour_to_16x (about 7.3 at 30 s)
    startup_s                              ``surgegate --version``: the fixed cost in every figure
    hour_report_percent_of_run             report_s_hour / 3600 x 100; target < 2

Exit 0 when growth is at most linear (each ratio <= its requests ratio x 1.1, for noise) and
the hour's rebuild is under 2% of an hour, 1 when not, 3 when the base run
failed. Only 127.0.0.1 is loaded; the run is bounded and stopped by its PID.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from hdrh.histogram import HdrHistogram

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (  # noqa: E402
    EXIT_INCONCLUSIVE, EXIT_MET, EXIT_MISSED, REPO, locust_env, median_spread, print_header, ratio_line,
    stop_process)
from reports.results_folder import ResultsFolder  # noqa: E402
from reports.windows import WindowRow  # noqa: E402
from target_stub.process import StubProcess  # noqa: E402

HOUR_S = 3600.0
TARGET_HOUR_PERCENT = 2.0
LINEAR_TOLERANCE = 1.1
LOCUSTFILE = REPO / "locustfiles" / "flash_sale.py"
SURGEGATE = Path(sys.executable).parent / "surgegate"


@dataclass(frozen=True)
class Settings:
    rounds: int
    duration_s: float
    users: int
    hour: bool
    smoke: bool
    keep_dir: Path | None


def parse_args(argv: list[str] | None = None) -> Settings:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="a 4 s base run, one round, no hour folder")
    p.add_argument("--rounds", type=int, help="timings per size (default 3; smoke 1)")
    p.add_argument("--duration", type=float, help="seconds of the base run (default 30; smoke 4)")
    p.add_argument("--users", type=int, default=30, help="shoppers of the base run, never thinking (default 30)")
    p.add_argument("--no-hour", action="store_true", help="do not build the one-hour folder: extrapolate from 16x")
    p.add_argument("--keep-dir", type=Path, help="keep the folders here (default: temporary)")
    a = p.parse_args(argv)
    s = Settings(rounds=a.rounds or (1 if a.smoke else 3), duration_s=a.duration or (4.0 if a.smoke else 30.0),
                 users=a.users, hour=not (a.no_hour or a.smoke), smoke=a.smoke, keep_dir=a.keep_dir)
    if s.rounds < 1:
        p.error(f"--rounds: must be >= 1, got {s.rounds}")
    if not 3 <= s.duration_s <= HOUR_S:
        p.error(f"--duration: must be between 3 and 3600, got {s.duration_s:g}")
    if s.users < 1:
        p.error(f"--users: must be >= 1, got {s.users}")
    return s


def profile_yaml(s: Settings) -> str:
    return ("# Written by benchmarks/analysis_cost.py: a constant load of every journey.\n"
            "name: analysis-cost\ntime_scale: 1\n"
            "mix: {browser: 50, abandoner: 15, buyer: 25, sniper: 10}\n"
            "think_time_s: {min: 0, max: 0}\n"
            f"stages:\n  - {{name: steady, duration: {s.duration_s:g}s, users: {s.users}, "
            f"spawn_rate: {s.users}, peak: true}}\n")


def base_run(s: Settings, work: Path) -> Path | None:
    """The real run every folder is made of; its folder, or None."""
    (work / "profile.yaml").write_text(profile_yaml(s))
    with StubProcess("fixed", args=("--query-time-ms", "0")) as stub:
        cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--profile",
               str(work / "profile.yaml"), "--host", stub.url, "--results-dir", str(work / "base"),
               "--run-id", "x1", "--stop-timeout", "10", "--loglevel", "WARNING", "--only-summary"]
        with open(work / "locust.log", "w") as log:
            proc = subprocess.Popen(cmd, cwd=REPO, env=locust_env(), stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            try:
                proc.wait(timeout=s.duration_s + 120)
            except subprocess.TimeoutExpired:
                pass
            finally:
                code = stop_process(proc)
    folder = work / "base" / "x1"
    if not (folder / "totals.json").exists():
        print(f"error: the base run (exit {code}) wrote no totals; its log:\n"
              + (work / "locust.log").read_text()[-3000:], file=sys.stderr)
        return None
    return folder


def _series_key(line: dict) -> tuple:
    return line["source"], line["metric"], tuple(sorted(line["labels"].items()))


def _cumulative(line: dict) -> bool:
    """Counters and histogram series only grow: a later copy carries on from where the one before ended."""
    return line["type"] in ("counter", "histogram") and not line["metric"].endswith("_created")


def synthesize(base: Path, k: int, dest: Path, length_s: float) -> int:
    """The base run played ``k`` times end to end, into a new folder ``dest``; its request count."""
    src = ResultsFolder(base)
    out = ResultsFolder.create(dest.parent, dest.name)
    manifest = src.read_json("manifest.json")
    windows = src.read_lines("windows.jsonl")
    load = src.read_lines("load.jsonl")
    steady = load[-1]
    metrics = src.read_lines("server_metrics.jsonl")
    first, last = {}, {}
    for line in metrics:
        if _cumulative(line):
            first.setdefault(_series_key(line), line["value"])
            last[_series_key(line)] = line["value"]
    for i in range(k):
        shift = i * length_s
        out.append_lines("windows.jsonl", (WindowRow(r["t"] + shift, r["name"], r["method"], r["status"], r["kind"],
                                                     r["count"], r["bytes"], r["hist"]).to_json() for r in windows))
        # Later copies carry on at the steady load: the shoppers of a long run do not leave and come back
        # every run length (a ramp in each copy would make every copy a stretch of its own for capacity).
        out.append_lines("load.jsonl", ({**line, "t": round(line["t"] + shift, 3),
                                         **({"users": steady["users"], "target_users": steady["target_users"],
                                             "stage": steady["stage"]} if i else {})} for line in load))
        out.append_lines("server_metrics.jsonl", (
            {**line, "t": round(line["t"] + shift, 3),
             "value": line["value"] + i * (last[_series_key(line)] - first[_series_key(line)])
             if _cumulative(line) else line["value"]} for line in metrics))
    events = src.read_lines("events.jsonl")
    out.append_lines("events.jsonl", (e if e["event"] != "stop" else
                                      {**e, "t": round(e["t"] + (k - 1) * length_s, 3),
                                       "elapsed_s": round(e["elapsed_s"] + (k - 1) * length_s, 3)} for e in events))
    totals = src.read_json("totals.json")
    for row in totals["totals"]:
        one = HdrHistogram.decode(row["hist"])
        merged = HdrHistogram.decode(row["hist"])
        for _ in range(k - 1):
            merged.add(one)
        row.update(count=row["count"] * k, bytes=row["bytes"] * k, hist=merged.encode().decode("ascii"))
    out.write_json("totals.json", totals)
    stretch = (k - 1) * length_s
    profile = manifest["profile"]
    profile["stages"][-1]["end_s"] += stretch
    profile["total_s"] += stretch
    manifest["elapsed_s"] = round(manifest["elapsed_s"] + stretch, 3)
    manifest["totals"] = {key: (value * k if isinstance(value, int) else value)
                          for key, value in manifest["totals"].items()}
    manifest["run_id"] = dest.name
    manifest["synthesized"] = f"benchmarks/analysis_cost.py: run {base.name} played {k} times end to end"
    out.write_json("manifest.json", manifest)
    out.write_text("slo.yaml", (base / "slo.yaml").read_text())
    return manifest["totals"]["requests"]


def time_report(folder: Path) -> float:
    """Seconds for ``surgegate report DIR`` in a fresh process (rebuilding every output)."""
    t0 = time.perf_counter()
    done = subprocess.run([str(SURGEGATE), "report", str(folder)], capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - t0
    if done.returncode not in (0, 1) or not (folder / "report.html").exists():
        raise RuntimeError(f"surgegate report {folder} exited {done.returncode}: {done.stderr[-2000:]}")
    return elapsed


def run(s: Settings, work: Path) -> int:
    base = base_run(s, work)
    if base is None:
        return EXIT_INCONCLUSIVE
    length_s = math.ceil(json.loads((base / "manifest.json").read_text())["elapsed_s"])
    sizes = {"1x": 1, "4x": 4, "16x": 16}
    if s.hour:
        sizes["hour"] = math.ceil(HOUR_S / length_s)
    requests, folders = {}, {}
    for label, k in sizes.items():
        t0 = time.perf_counter()
        folders[label] = work / "sizes" / label
        requests[label] = synthesize(base, k, folders[label], length_s)
        print(f"synthesized {label}: {k} x {length_s} s, {requests[label]} requests in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)
    times: dict[str, list[float]] = {label: [] for label in sizes}
    startup = []
    for round_no in range(s.rounds):
        t0 = time.perf_counter()
        subprocess.run([str(SURGEGATE), "--version"], capture_output=True, timeout=120, check=True)
        startup.append(time.perf_counter() - t0)
        for label in (list(sizes) if round_no % 2 == 0 else list(sizes)[::-1]):
            times[label].append(time_report(folders[label]))
            print(f"round {round_no + 1} {label}: {times[label][-1]:.2f} s", flush=True)
    med = {label: median_spread(v)[0] for label, v in times.items()}
    for label, k in sizes.items():
        print(f"requests_{label}: {requests[label]}")
        print(f"run_length_s_{label}: {k * length_s}")
        print(ratio_line(f"report_s_{label}", times[label], 2))
        print(f"report_us_per_request_{label}: {med[label] / requests[label] * 1e6:.2f}")
    print(ratio_line("startup_s", startup, 2))
    r4 = [b / a for a, b in zip(times["1x"], times["4x"], strict=True)]
    r16 = [b / a for a, b in zip(times["4x"], times["16x"], strict=True)]
    print(ratio_line("ratio_4x_to_1x", r4, 2))
    print(ratio_line("ratio_16x_to_4x", r16, 2))
    growth = [median_spread(r4)[0] / 4, median_spread(r16)[0] / 4]
    if s.hour:  # the hour against 16x: time ratio per requests ratio
        k = requests["hour"] / requests["16x"]
        r_hour = [b / a for a, b in zip(times["16x"], times["hour"], strict=True)]
        print(ratio_line("ratio_hour_to_16x", r_hour, 2))
        print(f"requests_ratio_hour_to_16x: {k:.2f}")
        growth.append(median_spread(r_hour)[0] / k)
    linear = max(growth) <= LINEAR_TOLERANCE
    print(f"growth_at_most_linear: {'yes' if linear else 'no'}")
    base_rps = requests["1x"] / length_s
    print(f"base_run_requests_per_s: {base_rps:.1f}")
    if s.hour:
        hour_s = med["hour"]
        print(f"hour_folder: measured (run played {sizes['hour']} times = {sizes['hour'] * length_s} s)")
    else:  # extrapolated: the 4x -> 16x slope, carried on to an hour's requests
        slope = (med["16x"] - med["4x"]) / (requests["16x"] - requests["4x"])
        hour_s = med["16x"] + max(slope, 0) * (base_rps * HOUR_S - requests["16x"])
        print("hour_folder: extrapolated from the 4x and 16x timings (not measured)")
    print(f"report_s_hour_equivalent: {hour_s:.2f}")
    percent = hour_s / HOUR_S * 100
    print(f"hour_report_percent_of_run: {percent:.3f}")
    print(f"target_hour_percent: {TARGET_HOUR_PERCENT}")
    met = linear and percent < TARGET_HOUR_PERCENT
    print(f"target_met: {'yes' if met else 'no'}")
    return EXIT_MET if met or s.smoke else EXIT_MISSED


def main(argv: list[str] | None = None) -> int:
    s = parse_args(argv)
    print_header(f"base run {s.duration_s:g} s, {s.users} users never thinking, stub preset fixed (0 ms queries), "
                 f"{s.rounds} rounds, hour folder {'measured' if s.hour else 'extrapolated'}"
                 f"{' (smoke)' if s.smoke else ''}")
    work = s.keep_dir or Path(tempfile.mkdtemp(prefix="surgegate-bench-analysis-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        return run(s, work)
    finally:
        if s.keep_dir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
