"""Percentile accuracy: surgegate's histogram percentiles vs the exact ones of the same run, and Locust's.

    .venv/bin/python benchmarks/percentile_accuracy.py              # 3 runs of 30 s (issue 10, item 2)
    .venv/bin/python benchmarks/percentile_accuracy.py --rounds 5 --duration 60
    .venv/bin/python benchmarks/percentile_accuracy.py --smoke      # one run of a few seconds, for the tests

Each round starts the real stub (``fixed`` preset: browsing in a few ms,
checkout ~150 ms, so the percentiles span two orders of magnitude), runs
the real locustfile headless against it with ``--raw-samples`` (every
request's response time in ``samples.csv.gz``) and Locust's own ``--csv``
statistics, then compares, overall and per endpoint:

    exact       from the raw samples: the nearest-rank percentile (the sample of rank
                max(1, int(p x N / 100 + 0.5)), HdrHistogram's own rule), of the requests
                surgegate times (all but cancelled and refused ones)
    surgegate   ``analysis.json``'s ``latency_ms``: what surgegate reports, read from the folder by
                ``reports.analysis`` (the merged histograms' bucket middle, ``reports.histograms``)
    histogram   the run's merged histograms (``totals.json``) read by ``hdrh`` itself, the bucket middle:
                what the recorder knows (HdrHistogram, 3 significant digits: within 1/2048 of the value),
                a check on the analysis's own decoding and merging
    locust      Locust's ``*_stats.csv`` percentile columns (its rounded response-time dict)

Printed, ``key: value`` (the worst of every round, scope and percentile, and the median of the rounds):

    surgegate_max_error_percent     the largest |surgegate - exact| / exact x 100; target <= 0.1
    histogram_max_error_percent     the same for the histograms read by hdrh; target <= 0.1
    locust_max_error_percent        the same for Locust's figures
    overall_p50_exact_ms ...        the last round's overall figures, each percentile and source
    requests_compared               the last round's samples (= the folder's timed requests)

Exit 0 when both worst errors are within the target, 1 when not (also
in smoke: accuracy does not need a long run), 3 when a run could not be
compared (Locust failed, the samples and the folder disagree). Only
127.0.0.1 is loaded; each run is bounded and stopped by its PID.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hdrh.histogram import HdrHistogram

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (  # noqa: E402
    EXIT_INCONCLUSIVE, in_scratch_folder, EXIT_MET, EXIT_MISSED, REPO, locust_env, print_header, ratio_line, stop_process)
from reports.raw_samples import FILE_NAME, read_samples  # noqa: E402
from target_stub.process import StubProcess  # noqa: E402

TARGET_ERROR_PERCENT = 0.1
PERCENTILES = (("p50", 50.0, "50%"), ("p95", 95.0, "95%"), ("p99", 99.0, "99%"), ("p99.9", 99.9, "99.9%"))
"""(name, percentile, Locust's CSV column)."""
UNTIMED_KINDS = ("cancelled", "refused_target")
"""Not in surgegate's latency figures (``reports.analysis``): no answer was waited for to the end."""
LOCUSTFILE = REPO / "locustfiles" / "flash_sale.py"


@dataclass(frozen=True)
class Settings:
    rounds: int
    duration_s: float
    users: int
    smoke: bool
    results_dir: Path | None


def parse_args(argv: list[str] | None = None) -> Settings:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="one run of 5 s, for the tests")
    p.add_argument("--rounds", type=int, help="runs (default 3; smoke 1)")
    p.add_argument("--duration", type=float, help="seconds per run (default 30; smoke 5)")
    p.add_argument("--users", type=int, default=30, help="shoppers, thinking 0-0.2 s (default 30)")
    p.add_argument("--results-dir", type=Path, help="keep the run folders here (default: temporary)")
    a = p.parse_args(argv)
    s = Settings(rounds=a.rounds or (1 if a.smoke else 3), duration_s=a.duration or (5.0 if a.smoke else 30.0),
                 users=a.users, smoke=a.smoke, results_dir=a.results_dir)
    if s.rounds < 1:
        p.error(f"--rounds: must be >= 1, got {s.rounds}")
    if s.duration_s < 3:
        p.error(f"--duration: must be >= 3, got {s.duration_s:g}")
    if s.users < 1:
        p.error(f"--users: must be >= 1, got {s.users}")
    return s


def profile_yaml(s: Settings) -> str:
    return ("# Written by benchmarks/percentile_accuracy.py: a constant load of every journey.\n"
            "name: percentile-accuracy\ntime_scale: 1\n"
            "mix: {browser: 50, abandoner: 15, buyer: 25, sniper: 10}\n"
            "think_time_s: {min: 0, max: 0.2}\n"
            f"stages:\n  - {{name: steady, duration: {s.duration_s:g}s, users: {s.users}, "
            f"spawn_rate: {s.users}, peak: true}}\n")


def exact_us(values: np.ndarray, percentile: float) -> int:
    """The nearest-rank percentile: the sample of rank max(1, int(p x N / 100 + 0.5)), as HdrHistogram counts."""
    ordered = np.sort(values)
    rank = max(1, int(percentile * len(ordered) / 100 + 0.5))
    return int(ordered[min(rank, len(ordered)) - 1])


def histogram_percentiles(totals: dict) -> dict[str, dict[str, float]]:
    """(``METHOD name`` or ``overall``) -> percentile name -> ms: the merged histograms' bucket middle, unrounded."""
    merged: dict[str, HdrHistogram] = {}
    for row in totals["totals"]:
        if row["kind"] in UNTIMED_KINDS:
            continue
        h = HdrHistogram.decode(row["hist"])
        for scope in ("overall", f"{row['method']} {row['name']}"):
            if scope in merged:
                merged[scope].add(h)
            else:
                merged[scope] = HdrHistogram.decode(row["hist"])
    return {scope: {name: h._hdr_median_equiv_value(h.get_value_at_percentile(p)) / 1000
                    for name, p, _ in PERCENTILES} for scope, h in merged.items()}


def locust_percentiles(stats_csv: Path) -> dict[str, dict[str, float]]:
    """(``METHOD name`` or ``overall``) -> Locust's percentile column -> ms."""
    out = {}
    with open(stats_csv, newline="") as f:
        for row in csv.DictReader(f):
            key = "overall" if row["Name"] == "Aggregated" else f"{row['Type']} {row['Name']}"
            out[key] = {col: float(row[col]) for _, _, col in PERCENTILES if row.get(col) not in (None, "", "N/A")}
    return out


def surgegate_percentiles(analysis: dict) -> dict[str, dict[str, float]]:
    """(``METHOD name`` or ``overall``) -> percentile name -> ms, from ``analysis.json``."""
    out = {"overall": analysis["overall"]["run"]["latency_ms"]}
    for e in analysis["endpoints"]:
        if e["run"]["latency_ms"] is not None:
            out[f"{e['method']} {e['name']}"] = e["run"]["latency_ms"]
    return out


def one_round(s: Settings, work: Path, round_no: int) -> dict | None:
    """Run, then compare every scope and percentile; None (with a message) when the run cannot be compared."""
    results = s.results_dir or work / "results"
    run_id = f"percentile-accuracy-{round_no}"
    (work / "profile.yaml").write_text(profile_yaml(s))
    with StubProcess("fixed") as stub:
        cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--profile",
               str(work / "profile.yaml"), "--host", stub.url, "--results-dir", str(results), "--run-id", run_id,
               "--raw-samples", "--csv", str(work / f"locust-{round_no}"), "--stop-timeout", "10",
               "--loglevel", "WARNING", "--only-summary"]
        with open(work / f"locust-{round_no}.log", "w") as log:
            proc = subprocess.Popen(cmd, cwd=REPO, env=locust_env(), stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            try:
                proc.wait(timeout=s.duration_s + 120)
            except subprocess.TimeoutExpired:
                pass
            finally:
                code = stop_process(proc)
    folder = results / run_id
    if not (folder / "analysis.json").exists() or not (folder / FILE_NAME).exists():
        print(f"error: round {round_no + 1}: Locust exited {code} without analysis.json or samples; its log:\n"
              + (work / f"locust-{round_no}.log").read_text()[-3000:], file=sys.stderr)
        return None
    samples: dict[str, list[int]] = {"overall": []}
    untimed = 0
    for row in read_samples(folder / FILE_NAME):
        if row["kind"] in UNTIMED_KINDS:
            untimed += 1
            continue
        samples.setdefault(f"{row['method']} {row['name']}", []).append(row["response_time_us"])
        samples["overall"].append(row["response_time_us"])
    analysis = json.loads((folder / "analysis.json").read_text())
    timed_in_folder = analysis["overall"]["run"]["requests"] - sum(
        analysis["overall"]["run"]["failures_by_kind"].get(k, 0) for k in UNTIMED_KINDS)
    if timed_in_folder != len(samples["overall"]):
        print(f"error: round {round_no + 1}: {len(samples['overall'])} timed samples but the folder timed "
              f"{timed_in_folder} requests", file=sys.stderr)
        return None
    ours, theirs = surgegate_percentiles(analysis), locust_percentiles(work / f"locust-{round_no}_stats.csv")
    hist = histogram_percentiles(json.loads((folder / "totals.json").read_text()))
    scopes = {}
    for scope, values in samples.items():
        array = np.asarray(values, dtype=np.int64)
        for name, p, column in PERCENTILES:
            exact_ms = exact_us(array, p) / 1000
            entry = {"exact_ms": exact_ms, "surgegate_ms": ours[scope][name], "histogram_ms": hist[scope][name],
                     "locust_ms": theirs.get(scope, {}).get(column)}
            entry["histogram_error_percent"] = abs(entry["histogram_ms"] - exact_ms) / exact_ms * 100
            entry["surgegate_error_percent"] = abs(entry["surgegate_ms"] - exact_ms) / exact_ms * 100
            entry["locust_error_percent"] = (None if entry["locust_ms"] is None
                                             else abs(entry["locust_ms"] - exact_ms) / exact_ms * 100)
            scopes[(scope, name)] = entry
    with open(work / f"locust-{round_no}_stats.csv", newline="") as f:
        locust_count = next(int(r["Request Count"]) for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    return {"scopes": scopes, "requests": len(samples["overall"]), "untimed": untimed, "locust_exit_code": code,
            "locust_requests": locust_count,
            "endpoints": len(samples) - 1}


def run(s: Settings, work: Path) -> int:
    rounds = []
    for round_no in range(s.rounds):
        r = one_round(s, work, round_no)
        if r is None:
            return EXIT_INCONCLUSIVE
        worst = max(r["scopes"].items(), key=lambda kv: kv[1]["histogram_error_percent"])
        print(f"round {round_no + 1}: {r['requests']} requests over {r['endpoints']} endpoints; worst histogram "
              f"error {worst[1]['histogram_error_percent']:.4f}% ({worst[0][0]} {worst[0][1]}: "
              f"{worst[1]['histogram_ms']} ms vs exact {worst[1]['exact_ms']} ms)", flush=True)
        rounds.append(r)
    last = rounds[-1]
    print(f"requests_compared: {last['requests']}")
    print(f"requests_untimed: {last['untimed']}")
    print(f"endpoints_compared: {last['endpoints']}")
    print(f"locust_exit_code: {last['locust_exit_code']}")
    print(f"locust_requests_counted: {last['locust_requests']}")
    for name, _, _ in PERCENTILES:
        e = last["scopes"][("overall", name)]
        key = name.replace(".", "_")
        print(f"overall_{key}_exact_ms: {e['exact_ms']:.3f}")
        print(f"overall_{key}_histogram_ms: {e['histogram_ms']:.3f}")
        print(f"overall_{key}_histogram_error_percent: {e['histogram_error_percent']:.4f}")
        print(f"overall_{key}_surgegate_ms: {e['surgegate_ms']:.3f}")
        print(f"overall_{key}_surgegate_error_percent: {e['surgegate_error_percent']:.4f}")
        print(f"overall_{key}_locust_ms: {e['locust_ms']:g}" if e["locust_ms"] is not None else
              f"overall_{key}_locust_ms: n/a")
        if e["locust_error_percent"] is not None:
            print(f"overall_{key}_locust_error_percent: {e['locust_error_percent']:.2f}")
    print("scope                    pct      exact_ms  histogram   error_%   reported   error_%  locust  error_%"
          "  (last round)")
    for (scope, name), e in sorted(last["scopes"].items()):
        locust = ("n/a", "") if e["locust_ms"] is None else (f"{e['locust_ms']:g}", f"{e['locust_error_percent']:.2f}")
        print(f"  {scope:22} {name:6} {e['exact_ms']:10.3f} {e['histogram_ms']:10.3f} "
              f"{e['histogram_error_percent']:8.4f} {e['surgegate_ms']:10.3f} {e['surgegate_error_percent']:8.4f} "
              f"{locust[0]:>7} {locust[1]:>7}")
    hist = [max(e["histogram_error_percent"] for e in r["scopes"].values()) for r in rounds]
    ours = [max(e["surgegate_error_percent"] for e in r["scopes"].values()) for r in rounds]
    theirs = [max((e["locust_error_percent"] for e in r["scopes"].values() if e["locust_error_percent"] is not None),
                  default=0.0) for r in rounds]
    print(ratio_line("histogram_max_error_percent", hist, 4))
    print(ratio_line("surgegate_max_error_percent", ours, 4))
    print(ratio_line("locust_max_error_percent", theirs, 2))
    print(f"target_error_percent: {TARGET_ERROR_PERCENT}")
    met = max(hist) <= TARGET_ERROR_PERCENT and max(ours) <= TARGET_ERROR_PERCENT
    print(f"target_met: {'yes' if met else 'no'}")
    if s.results_dir is not None:
        print(f"results_folder: {s.results_dir / f'percentile-accuracy-{s.rounds - 1}'}")
    return EXIT_MET if met else EXIT_MISSED


def main(argv: list[str] | None = None) -> int:
    s = parse_args(argv)
    print_header(f"{s.rounds} runs x {s.duration_s:g} s, {s.users} users thinking 0-0.2 s, stub preset fixed"
                 f"{' (smoke)' if s.smoke else ''}")
    return in_scratch_folder("percentiles", lambda work: run(s, work))


if __name__ == "__main__":
    sys.exit(main())
