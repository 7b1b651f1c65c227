"""The stress gate end to end: real Locust against the real stub, judged by the shipped slo.yaml.

The `incident` preset (July 15: a pool of 5 connections, 24 queries per checkout) must come out NOT READY
with the checkout 504 objective failing at the peak; the `fixed` preset READY; both with the exit code of
their verdict, and the same verdict when rebuilt from a copy of the folder with `surgegate report`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from junitparser import Failure, JUnitXml

from reports.results_folder import ResultsFolder
from tests._locust import REPO, run_locust, stub_answers

SURGE = REPO / "tests" / "data" / "surge.yaml"


def _gate_run(stub, tmp_path: Path, run_id: str, *extra: str):
    run = run_locust("--headless", "--profile", str(SURGE), "--host", stub.url, "--stop-timeout", "20",
                     "--results-dir", str(tmp_path), "--run-id", run_id, "--only-summary", *extra)
    return run, ResultsFolder(tmp_path / run_id)


def _report(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "surgegate", "report", str(folder)], capture_output=True, text=True,
                          cwd=REPO, timeout=120)


def test_incident_is_not_ready_and_says_where_checkout_broke(surge_runs, tmp_path):
    """incident: exit 1, NOT READY; the checkout 504 objective fails at the peak; the reports agree; the
    pool's exhaustion is in the server metrics recorded alongside."""
    surge = surge_runs("incident")
    run, folder = surge.run, ResultsFolder(surge.folder)
    assert run.code == 1, run.stdout[-3000:] + run.stderr[-3000:]
    assert run.stdout.startswith("surgegate: NOT READY (exit 1)") or "surgegate: NOT READY (exit 1)" in run.stdout
    verdict = folder.read_json("verdict.json")
    assert verdict["verdict"] == "NOT_READY" and verdict["exit_code"] == 1
    by_name = {o["name"]: o for o in verdict["objectives"]}
    broke = by_name["checkout-504-peak-windows"]
    assert broke["status"] == "fail" and broke["observed"] > 0.5
    assert broke["first_failure"]["stage"] == "peak" and broke["first_failure"]["users"] > 10
    assert by_name["browse-p99"]["status"] == "pass"  # browsing stayed healthy, as on July 15
    # The 504s counted by the verdict are the ones the stub's gateway sent.
    checkout_504 = sum(r["count"] for r in folder.read_json("totals.json")["totals"]
                       if r["name"] == "/checkout" and r["status"] == 504)
    gateway = surge.gateway["shop_gateway_responses_total"]
    assert checkout_504 == sum(int(v) for k, v in gateway.items()
                               if dict(k)["endpoint"] == "/checkout" and dict(k)["status"] == "504") > 0
    suites = JUnitXml.fromfile(str(folder.path / "junit.xml"))
    failed = {case.name for suite in suites for case in suite if any(isinstance(r, Failure) for r in case.result)}
    assert "checkout-504-peak-windows" in failed and "browse-p99" not in failed
    assert "NOT READY" in (folder.path / "summary.md").read_text()
    # Server metrics, scraped alongside: the app's pool reached its size, with requests waiting.
    rows = folder.read_lines("server_metrics.jsonl")
    in_use = max(r["value"] for r in rows if r["metric"] == "shop_db_pool_checked_out_connections")
    waiting = max(r["value"] for r in rows if r["metric"] == "shop_db_pool_waiting_requests")
    assert in_use == 5 and waiting > 5
    # Rebuilt later, from a copy of the folder alone: the same verdict, byte for byte, and the same exit code.
    copy = tmp_path / "elsewhere" / "incident"
    shutil.copytree(folder.path, copy)
    for name in ("verdict.json", "junit.xml", "summary.md", "analysis.json"):
        (copy / name).unlink()
    rebuilt = _report(copy)
    assert rebuilt.returncode == 1, rebuilt.stderr
    assert (copy / "verdict.json").read_text() == (folder.path / "verdict.json").read_text()


def test_fixed_is_ready(surge_runs):
    """fixed: exit 0, READY, every objective met, no 504, and every answer the stub gave is counted."""
    surge = surge_runs("fixed")
    run, folder = surge.run, ResultsFolder(surge.folder)
    assert run.code == 0, run.stdout[-3000:] + run.stderr[-3000:]
    verdict = folder.read_json("verdict.json")
    assert verdict["verdict"] == "READY" and {o["status"] for o in verdict["objectives"]} == {"pass"}
    assert verdict["counts"]["passed"] == verdict["counts"]["objectives"] >= 5
    recorded = sum(r["count"] for r in folder.read_json("totals.json")["totals"] if r["status"])
    assert recorded == sum(surge.answers.values())
    assert _report(folder.path).returncode == 0


def test_bad_slo_file_is_one_line_exit_2_before_any_load(start_stub, tmp_path):
    """--slo with a misspelt endpoint: one Error line naming file and field, exit 2, the stub saw nothing."""
    stub = start_stub("fixed")
    slo = tmp_path / "slo.yaml"
    slo.write_text("objectives:\n  - endpoint: POST /chekout\n    metric: p95\n    bound: 1s\n")
    run, _ = _gate_run(stub, tmp_path, "bad", "--slo", str(slo))
    assert run.code == 2
    assert [line for line in run.stderr.splitlines() if line.startswith("Error:")] == [
        f"Error: {slo}: objectives[0].endpoint: 'POST /chekout' matches no endpoint of the adapter, "
        "did you mean '/checkout'?"]
    assert stub_answers(stub) == {}
    assert not (tmp_path / "bad").exists()


def test_slo_naming_a_stage_the_profile_lacks_is_bad_input(start_stub, tmp_path):
    """An objective scoped to a stage the profile does not have is refused before any load."""
    stub = start_stub("fixed")
    slo = tmp_path / "slo.yaml"
    slo.write_text("objectives:\n  - metric: error_rate\n    bound: 1%\n    scope: {stage: opening}\n")
    run, _ = _gate_run(stub, tmp_path, "bad", "--slo", str(slo))
    assert run.code == 2
    (line,) = [line for line in run.stderr.splitlines() if line.startswith("Error:")]
    assert line.startswith(f"Error: {slo}: objectives[0].scope.stage: ") and "'opening'" in line
    assert stub_answers(stub) == {}


def test_a_crashed_run_leaves_a_readable_folder_judged_inconclusive(start_stub, tmp_path):
    """Locust killed outright (SIGKILL) mid-run: every line written so far reads back, the manifest still says
    running, and `surgegate report` calls the run INCONCLUSIVE (exit 3) instead of judging half a run."""
    import signal
    import time

    from tests._locust import locust_command, locust_env

    stub = start_stub("fixed")
    proc = subprocess.Popen(locust_command("--headless", "--profile", str(SURGE), "--host", stub.url,
                                           "--results-dir", str(tmp_path), "--run-id", "crash", "--only-summary"),
                            cwd=REPO, env=locust_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "crash" / "windows.jsonl").exists() or \
                stub.scrape_gateway().total("shop_gateway_responses_total") < 100:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    folder = ResultsFolder(tmp_path / "crash")
    assert folder.read_json("manifest.json")["status"] == "running"
    windows = folder.read_lines("windows.jsonl")
    assert windows and sum(w["count"] for w in windows) <= sum(stub_answers(stub).values())
    report = _report(folder.path)
    assert report.returncode == 3, report.stdout + report.stderr
    verdict = folder.read_json("verdict.json")
    assert verdict["verdict"] == "INCONCLUSIVE"
    assert [c["ok"] for c in verdict["checks"] if c["name"] == "results complete"] == [False]
