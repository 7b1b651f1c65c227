"""The benchmarks' smoke modes: each script runs for a few seconds, so that it cannot rot.

The benchmarks themselves never run in the test suite (issue 10); their
``--smoke`` mode does, as a subprocess (it starts the stub and Locust
itself), and the test checks what it printed against what the run wrote.
No timing is asserted: a smoke run says nothing about speed or growth.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIGURE = re.compile(r"^(\w+): (.*)$")


def run_benchmark(script: str, *args: str, timeout_s: float = 240) -> tuple[subprocess.CompletedProcess, dict]:
    """Run ``benchmarks/<script>`` and return the process and its ``key: value`` lines."""
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), *args], capture_output=True, text=True,
                          timeout=timeout_s, cwd=REPO)
    figures = {m.group(1): m.group(2) for line in done.stdout.splitlines() if (m := FIGURE.match(line))}
    return done, figures



def _tools_may_be_missing() -> None:
    """Without nginx or wrk a smoke test checks less; CI (``SURGEGATE_REQUIRE_BENCH_TOOLS=1``) makes that a failure."""
    if os.environ.get("SURGEGATE_REQUIRE_BENCH_TOOLS", "") not in ("", "0"):
        pytest.fail("SURGEGATE_REQUIRE_BENCH_TOOLS is set but nginx or wrk is missing (apt-get install -y nginx wrk)")

def test_recorder_memory_smoke_prints_figures_that_match_its_results_folder(tmp_path):
    """recorder_memory.py --smoke exits 0 and prints memory figures and a request count equal to the folder's."""
    done, figures = run_benchmark("recorder_memory.py", "--smoke", "--results-dir", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    for key in ("rss_early_mib", "rss_late_mib", "rss_peak_mib", "requests_per_s", "elapsed_s"):
        assert float(figures[key]) > 0, (key, figures)
    float(figures["rss_growth_percent"])  # a number, of either sign; no target in a smoke run
    assert float(figures["rss_early_at_s"]) < float(figures["rss_late_at_s"])

    folder = tmp_path / "recorder-memory"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    in_totals = sum(row["count"] for row in json.loads((folder / "totals.json").read_text())["totals"])
    in_windows = sum(json.loads(line)["count"] for line in (folder / "windows.jsonl").read_text().splitlines())
    printed = int(figures["requests_recorded"])
    assert printed > 0
    assert printed == manifest["totals"]["requests"] == in_totals == in_windows
    assert float(figures["requests_per_s"]) == round(printed / manifest["elapsed_s"], 1)


def test_recorder_memory_rejects_an_early_sample_after_the_late_one():
    """recorder_memory.py exits 2 with one error line, before starting anything, when --early-s >= --late-s."""
    done, _ = run_benchmark("recorder_memory.py", "--smoke", "--early-s", "5", "--late-s", "2", timeout_s=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "recorder_memory.py: error: --early-s, --late-s, --duration-s: must be 0 < early < late < duration, "
        "got 5, 2, 6")


def test_open_model_smoke_prints_ratios_that_match_its_results_folder(tmp_path):
    """open_model.py --smoke exits 0, prints a ratio per rate, and its totals equal the folder's arrivals."""
    done, figures = run_benchmark("open_model.py", "--smoke", "--results-dir", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    for rate in ("5", "10"):
        stage = figures[f"stage_rate_{rate}"].split()
        assert stage[:2] == ["scheduled", f"{rate}/s"] and stage[4] == "ratio" and float(stage[5]) > 0, stage
    manifest = json.loads((tmp_path / "open-model" / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert {key: int(figures[key]) for key in ("planned", "started", "dropped")} == manifest["totals"]["arrivals"]
    assert int(figures["planned"]) == 2 * 5 + 2 * 10  # uniform arrivals: the schedule's integral
    float(figures["min_ratio"])
    assert figures["saturated_at"] == "none" or float(figures["saturated_at"]) > 0


def test_generator_efficiency_rejects_negative_paired_rounds():
    """generator_efficiency.py exits 2 with one error line, before starting anything, for --paired-rounds < 0."""
    done, _ = run_benchmark("generator_efficiency.py", "--smoke", "--paired-rounds", "-1", timeout_s=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "generator_efficiency.py: error: --paired-rounds: must be >= 0, got -1")


def test_open_model_rejects_bad_rates():
    """open_model.py exits 2 with one error line, before starting anything, for a rate that is not > 0."""
    done, _ = run_benchmark("open_model.py", "--smoke", "--rates", "5,0", timeout_s=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == "open_model.py: error: --rates: every rate must be > 0, got '5,0'"


def test_generator_efficiency_smoke_measures_every_side_and_records_every_journey_step_ok(tmp_path):
    """generator_efficiency.py --smoke serves the captured shop, loads it from all four sides and from surgegate
    and bare Locust at once, and surgegate's run against nginx records every journey step as ok (the static answers
    pass the adapter's checks)."""
    done, figures = run_benchmark("generator_efficiency.py", "--smoke", "--results-dir", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert int(figures["captured_pages"]) == 20
    assert int(figures["captured_products"]) > 100
    if figures.get("measured") == "no (nginx or wrk missing)":
        _tools_may_be_missing()
        return  # the capture from the real stub is what a machine without nginx can check
    for side in ("surgegate", "bare_fast", "bare_http", "wrk"):
        assert float(figures[f"{side}_rps"]) > 0, (side, figures)
    assert float(figures["ratio_surgegate_to_bare_fast"]) == pytest.approx(
        float(figures["surgegate_rps"]) / float(figures["bare_fast_rps"]), rel=2e-3, abs=2e-3)
    # one paired round (both sides at once on the generator's core, each its own nginx); smoke leaves out the control
    assert 0.2 < float(figures["paired_surgegate_to_bare_fast_per_cpu"]) < 5, figures
    assert "paired_control_per_cpu" not in figures
    totals = json.loads((tmp_path / "efficiency-0" / "totals.json").read_text())["totals"]
    steps = {(row["method"], row["name"]) for row in totals}
    assert steps == {("GET", "/products"), ("GET", "/search"), ("GET", "/products/[id]"), ("POST", "/carts"),
                     ("POST", "/carts/[id]/items"), ("GET", "/carts/[id]"), ("POST", "/checkout")}
    # every answer passed the adapter's checks; a request in flight when the run was stopped is "cancelled"
    assert {row["kind"] for row in totals} <= {"ok", "cancelled"}, totals


def test_percentile_accuracy_smoke_compares_the_histograms_with_the_raw_samples(tmp_path):
    """percentile_accuracy.py --smoke compares every percentile with the exact one of the same run's raw samples,
    over as many samples as the folder timed, and its surgegate figures are those of analysis.json."""
    done, figures = run_benchmark("percentile_accuracy.py", "--smoke", "--results-dir", str(tmp_path))
    assert done.returncode in (0, 1), done.stdout + done.stderr  # 1: the target missed, which is a finding
    folder = tmp_path / "percentile-accuracy-0"
    analysis = json.loads((folder / "analysis.json").read_text())
    run = analysis["overall"]["run"]  # its requests leave out cancelled ones; refused ones were never timed
    assert int(figures["requests_compared"]) == run["requests"] - run["failures_by_kind"].get("refused_target", 0) > 0
    for name in ("p50", "p95", "p99", "p99_9"):
        assert float(figures[f"overall_{name}_surgegate_ms"]) == analysis["overall"]["run"]["latency_ms"][
            name.replace("_", ".")]
        exact = float(figures[f"overall_{name}_exact_ms"])
        assert exact > 0
        assert float(figures[f"overall_{name}_surgegate_error_percent"]) == pytest.approx(
            abs(float(figures[f"overall_{name}_surgegate_ms"]) - exact) / exact * 100, abs=1e-3)
    assert (done.returncode == 0) == (figures["target_met"] == "yes")


def test_scale_out_smoke_measures_one_and_two_processes_and_explains(tmp_path):
    """scale_out.py --smoke loads the captured shop with one process and with --processes 2, prints the ratio,
    the CPU split and why, and the two-process run's folder records its workers."""
    done, figures = run_benchmark("scale_out.py", "--smoke", "--results-dir", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    if figures.get("measured") == "no (nginx missing)":
        _tools_may_be_missing()
        return
    assert float(figures["one_rps"]) > 0 and float(figures["two_rps"]) > 0
    assert float(figures["ratio_two_to_one"]) == pytest.approx(
        float(figures["two_rps"]) / float(figures["one_rps"]), rel=2e-3, abs=2e-3)
    assert "why" in figures and "--processes 2" in done.stdout
    manifest = json.loads((tmp_path / "scale-out-two-0" / "manifest.json").read_text())
    assert manifest["recording"].get("distributed") is True
    assert len(manifest["workers"]) == 2


def test_analysis_cost_smoke_rebuilds_folders_of_1_4_and_16_times_the_requests(tmp_path):
    """analysis_cost.py --smoke makes folders of 1x, 4x and 16x a real run's requests, each of which analysis reads
    as k times the run, and times `surgegate report` on each; the hour is extrapolated, and says so."""
    from reports.analysis import analyse_folder

    done, figures = run_benchmark("analysis_cost.py", "--smoke", "--keep-dir", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    one = int(figures["requests_1x"])
    assert one == json.loads((tmp_path / "base" / "x1" / "manifest.json").read_text())["totals"]["requests"] > 0
    base = analyse_folder(tmp_path / "base" / "x1").to_json()["overall"]["run"]
    for size, k in (("1x", 1), ("4x", 4), ("16x", 16)):
        assert int(figures[f"requests_{size}"]) == k * one
        folder = tmp_path / "sizes" / size
        rebuilt = json.loads((folder / "analysis.json").read_text())["overall"]["run"]
        assert rebuilt["requests"] == k * base["requests"]
        assert rebuilt["ok"] == k * base["ok"]
        assert (folder / "report.html").exists()
        assert float(figures[f"report_s_{size}"]) > 0
    assert figures["hour_folder"].startswith("extrapolated")
    assert float(figures["hour_report_percent_of_run"]) > 0


def test_stub_ratio_smoke_finds_the_pool_full_under_incident():
    """stub_ratio.py --smoke browses the incident stub, checks out against it, and finds its pool of 5 all in
    use with requests waiting: the pool, not the CPU, is what limits checkout."""
    done, figures = run_benchmark("stub_ratio.py", "--smoke")
    assert done.returncode in (0, 1), done.stdout + done.stderr
    assert float(figures["browse_rps"]) > 0
    assert float(figures["checkout_capacity_per_s"]) > 0
    assert figures["pool_size"] == "5"
    assert float(figures["pool_in_use_max"]) == 5
    assert float(figures["pool_waiting_max"]) > 0
    assert figures["pool_breaks_first"] == "yes"
