"""The benchmarks' smoke modes: each script runs for a few seconds, so that it cannot rot.

The benchmarks themselves never run in the test suite (issue 10); their
``--smoke`` mode does, as a subprocess (it starts the stub and Locust
itself), and the test checks what it printed against what the run wrote.
No timing is asserted: a smoke run says nothing about speed or growth.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIGURE = re.compile(r"^(\w+): (.*)$")


def run_benchmark(script: str, *args: str, timeout_s: float = 240) -> tuple[subprocess.CompletedProcess, dict]:
    """Run ``benchmarks/<script>`` and return the process and its ``key: value`` lines."""
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), *args], capture_output=True, text=True,
                          timeout=timeout_s, cwd=REPO)
    figures = {m.group(1): m.group(2) for line in done.stdout.splitlines() if (m := FIGURE.match(line))}
    return done, figures


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


def test_open_model_rejects_bad_rates():
    """open_model.py exits 2 with one error line, before starting anything, for a rate that is not > 0."""
    done, _ = run_benchmark("open_model.py", "--smoke", "--rates", "5,0", timeout_s=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == "open_model.py: error: --rates: every rate must be > 0, got '5,0'"
