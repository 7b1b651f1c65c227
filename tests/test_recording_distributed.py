"""Distributed mode: workers ship their windows, the master alone writes the folder, nothing is lost or invented.

Real Locust processes (``--processes 2``, and ``--master`` with two ``--worker`` processes) against the real stub;
the results folder's totals are compared with the stub's own counters.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from reports.results_folder import ResultsFolder
from tests._locust import (REPO, SHORT_PROFILE, assert_folder_reconciled, locust_command, locust_env, run_locust,
                           stub_answers)
from tests._net import free_port


def _processes(count: int = 2) -> tuple[str, ...]:
    """``--processes`` on a port of its own: on the default 5557, workers of another run on this machine (a
    concurrent test, a benchmark) join this master, and its own workers may join the other one."""
    port = str(free_port())
    return ("--processes", str(count), "--master-bind-port", port, "--master-port", port)


def _wait_for(predicate, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _master_and_workers(stub_url: str, results: Path, run_id: str, workers: int = 2, profile: str = "spike"):
    port = free_port()
    master = subprocess.Popen(
        locust_command("--master", "--headless", "--expect-workers", str(workers), "--master-bind-host", "127.0.0.1",
                       "--master-bind-port", str(port), "--profile", profile, "--host", stub_url,
                       "--results-dir", str(results), "--run-id", run_id, "--only-summary"),
        cwd=REPO, env=locust_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    procs = [subprocess.Popen(locust_command("--worker", "--master-host", "127.0.0.1", "--master-port", str(port)),
                              cwd=REPO, env=locust_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(workers)]
    return master, procs


def _stop_all(procs) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def test_processes_run_totals_equal_the_stubs_counts(start_stub, tmp_path):
    """--processes 2: two workers' windows merged by the master equal the stub's counters, with no loss."""
    stub = start_stub("fixed")
    run = run_locust("--headless", *_processes(), "--profile", str(SHORT_PROFILE), "--host", stub.url,
                     "--results-dir", str(tmp_path), "--run-id", "two", "--only-summary")
    assert run.code in (0, 1), run.stderr[-3000:]
    folder = ResultsFolder(tmp_path / "two")
    manifest = folder.read_json("manifest.json")
    assert manifest["status"] == "complete", manifest.get("incomplete_reason")
    workers = manifest["workers"]
    assert len(workers) == 2 and all(w["final_report"] and w["lost_t"] is None for w in workers)
    assert all(w["requests_received"] == w["requests_recorded"] > 0 for w in workers)
    assert sum(w["requests_received"] for w in workers) == manifest["totals"]["requests"]
    assert_folder_reconciled(folder.path, stub_answers(stub))
    windows = folder.read_lines("windows.jsonl")
    assert sum(w["count"] for w in windows) == manifest["totals"]["requests"]
    load = folder.read_lines("load.jsonl")
    assert max(s["users"] for s in load) == 24
    assert all(len(s["worker_cpu_percent"]) <= 2 for s in load) and any(s["worker_cpu_percent"] for s in load)
    events = [e["event"] for e in folder.read_lines("events.jsonl")]
    assert events.count("worker_final") == 2 and events[-1] == "stop"


def test_master_interrupted_by_sigterm_collects_every_worker(start_stub, tmp_path):
    """SIGTERM to a master with two workers: exit 4, 'interrupted', and each worker's last requests still counted."""
    stub = start_stub("incident")
    master, workers = _master_and_workers(stub.url, tmp_path, "cut")
    try:
        _wait_for(lambda: stub.scrape_gateway().total("shop_gateway_responses_total") >= 80)
        master.send_signal(signal.SIGTERM)
        output = master.communicate(timeout=120)[0]
        for worker in workers:
            worker.wait(timeout=60)  # the master tells its workers to quit
    finally:
        _stop_all([master, *workers])
    assert master.returncode == 4, output[-3000:]
    folder = ResultsFolder(tmp_path / "cut")
    manifest = folder.read_json("manifest.json")
    assert manifest["status"] == "interrupted" and manifest["interrupted"] is True
    assert len(manifest["workers"]) == 2 and all(w["final_report"] for w in manifest["workers"])
    assert_folder_reconciled(folder.path, stub_answers(stub))


def test_worker_lost_mid_run_marks_the_run_incomplete(start_stub, tmp_path):
    """A worker killed mid-run is written as lost, with its last report; the run is incomplete, exit 3."""
    stub = start_stub("fixed")
    master, workers = _master_and_workers(stub.url, tmp_path, "lost", profile=str(SHORT_PROFILE))
    try:
        _wait_for(lambda: (tmp_path / "lost" / "windows.jsonl").exists()
                  and stub.scrape_gateway().total("shop_gateway_responses_total") >= 60)
        time.sleep(3.5)  # at least one report (every 3 s) from each worker
        workers[0].kill()
        output = master.communicate(timeout=120)[0]
    finally:
        _stop_all([master, *workers])
    assert master.returncode == 3, output[-3000:]
    folder = ResultsFolder(tmp_path / "lost")
    manifest = folder.read_json("manifest.json")
    assert manifest["status"] == "incomplete"
    lost = [w for w in manifest["workers"] if not w["final_report"]]
    assert len(lost) == 1 and lost[0]["lost_t"] is not None and lost[0]["last_report_t"] is not None
    assert f"worker {lost[0]['worker']} lost (last report at t=" in manifest["incomplete_reason"]
    events = folder.read_lines("events.jsonl")
    assert [e["worker"] for e in events if e["event"] == "worker_lost"] == [lost[0]["worker"]]
    # What was recorded is still true: never more than the stub answered.
    answered = json.loads((folder.path / "totals.json").read_text())["totals"]
    assert sum(r["count"] for r in answered if r["status"]) <= sum(stub_answers(stub).values())


def test_ctrl_c_to_the_process_group_of_a_processes_run_loses_nothing(start_stub, tmp_path):
    """Ctrl-C in a terminal reaches the master and every --processes worker: exit 4, each worker's final
    report still arrives, and the counts reconcile with the stub's."""
    import os

    stub = start_stub("incident")
    proc = subprocess.Popen(locust_command("--headless", *_processes(), "--profile", "spike", "--host", stub.url,
                                           "--results-dir", str(tmp_path), "--run-id", "ctrlc", "--only-summary"),
                            cwd=REPO, env=locust_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        _wait_for(lambda: stub.scrape_gateway().total("shop_gateway_responses_total") >= 80)
        os.killpg(proc.pid, signal.SIGINT)
        output = proc.communicate(timeout=120)[0]
    finally:
        _stop_all([proc])
    assert proc.returncode == 4, output[-3000:]
    folder = ResultsFolder(tmp_path / "ctrlc")
    manifest = folder.read_json("manifest.json")
    assert manifest["status"] == "interrupted" and "incomplete_reason" not in manifest, (
        manifest.get("incomplete_reason"), manifest.get("workers"), output[-3000:])
    assert len(manifest["workers"]) == 2 and all(w["final_report"] for w in manifest["workers"])
    assert all(w["requests_received"] == w["requests_recorded"] for w in manifest["workers"])
    assert_folder_reconciled(folder.path, stub_answers(stub))


def test_a_second_signal_exits_at_once_and_writes_what_was_recorded(start_stub, tmp_path):
    """A worker frozen, the master asked to stop waits for it; a second SIGTERM writes everything now and exits 4."""
    stub = start_stub("fixed")
    master, workers = _master_and_workers(stub.url, tmp_path, "twice")
    try:
        _wait_for(lambda: stub.scrape_gateway().total("shop_gateway_responses_total") >= 60)
        time.sleep(3.5)  # a report from each worker
        workers[0].send_signal(signal.SIGSTOP)
        master.send_signal(signal.SIGTERM)
        time.sleep(3)
        assert master.poll() is None  # still waiting for the frozen worker
        master.send_signal(signal.SIGTERM)
        output = master.communicate(timeout=20)[0]
    finally:
        workers[0].send_signal(signal.SIGCONT)
        _stop_all([master, *workers])
    assert master.returncode == 4, output[-3000:]
    assert "Traceback" not in output
    folder = ResultsFolder(tmp_path / "twice")
    manifest = folder.read_json("manifest.json")  # whole: written atomically
    assert manifest["status"] == "interrupted" and manifest["in_flight_not_awaited"] is True
    assert "lost" in manifest["incomplete_reason"]
    assert folder.read_json("verdict.json")["verdict"] == "INTERRUPTED"
    windows = folder.read_lines("windows.jsonl")
    assert sum(w["count"] for w in windows) == manifest["totals"]["requests"] > 0
