"""The recorder and the results folder: every request accounted for (local runs, for now)."""

from __future__ import annotations

import json
from array import array
from collections import Counter

import pytest
from hdrh.histogram import HdrHistogram

from reports.records import RequestRecord, classify, record_from_event
from reports.results_folder import ResultsFolder, sanitise_run_id
from reports.windows import HIGHEST_US, WindowedRecorder, _file, new_histogram
from surgegate.errors import BadInput
from tests._locust import SHORT_PROFILE, request_event, run_locust


class RateLimited(Exception):
    """Named like the adapter's exception, which the recorder matches by name."""


class Timeout(Exception):
    """Named like gevent's Timeout."""


@pytest.mark.parametrize(("exception", "status", "kind"), [
    (None, 200, "ok"), (RateLimited("429"), 429, "rate_limited"), (ConnectionError("504"), 504, "status"),
    (ConnectionRefusedError(), 0, "connection_error"), (Timeout(), 0, "timeout"), (TimeoutError(), 0, "timeout"),
])
def test_failures_are_classified_by_kind(exception, status, kind):
    """Each way a request can end has one kind; an error status keeps its code."""
    assert classify(exception, status) == kind


def test_record_keeps_microseconds_and_status():
    """Locust's float milliseconds become whole microseconds; the status comes from the response."""
    response = type("R", (), {"status_code": 504})()
    rec = record_from_event(request_type="POST", name="/checkout", response_time=2001.2345, response_length=61,
                            exception=ConnectionError("504"), response=response, context={"journey": "sniper"},
                            start_time=1000.0, url="http://x", some_future_argument=1)
    assert rec == RequestRecord(1000.0, "/checkout", "POST", 504, "status", 2001234, 61, "sniper")


def test_windows_close_by_completion_and_merge_exactly():
    """Requests land in the window they completed in; closed windows leave memory; histograms merge exactly."""
    recorder = WindowedRecorder(started_at_s=100.0)
    times_us = [1_000, 1_500, 250_000, 999_999, 2_000_000]
    for i, t in enumerate(times_us):
        recorder.on_request(**request_event(100.0 + i * 0.1, "/p", "GET", 200, "ok", t, 10))
    assert recorder.flush(100.9) == []  # window 0 still open
    rows = recorder.flush(102.0)
    assert [(r.window_start_s, r.count) for r in rows] == [(0.0, 3), (1.0, 1)]
    assert recorder.open_windows == 1  # the 2 s request completed in window 2
    rows += recorder.flush(None)
    assert recorder.open_windows == 0 and sum(r.count for r in rows) == 5
    merged = HdrHistogram.decode(rows[0].histogram)
    for row in rows[1:]:
        merged.add(HdrHistogram.decode(row.histogram))
    assert merged.get_total_count() == 5
    assert merged.get_value_at_percentile(100) == pytest.approx(2_000_000, rel=1e-3)
    assert merged.get_value_at_percentile(50) == pytest.approx(250_000, rel=1e-3)


def test_the_per_request_path_files_what_hdrh_would():
    """The listener (``on_request``: latencies kept in arrays, filed in numpy when the window closes) gives byte
    for byte the histograms of ``record_value`` itself, with its minimum and maximum: every magnitude from 0 us to
    past the range (dropped, as hdrh drops it) and past 64 bits, and the open model's latency from due."""
    values_us = [0, 1, 2, 1023, 1024, 2047, 2048, 2049, 65_535, 999_999, 1_000_001, 123_456_789, HIGHEST_US,
                 HIGHEST_US + 1, 2 ** 40, 2 ** 70] + [int(1.37 ** k) for k in range(80)]  # 1.37 ** 79 is past it
    fast = WindowedRecorder(started_at_s=0.0)
    expected, expected_due = new_histogram(), new_histogram()
    response = type("R", (), {"status_code": 200})()
    for i, us in enumerate(values_us):
        due_s = 0.25 - i * 1e-3  # due before it was sent: the wait counts too
        fast.on_request(request_type="GET", name="/p", response_time=us / 1000, response_length=10, response=response,
                        context={"journey": "b", "due_s": due_s}, start_time=0.25, url="http://x/p")
        if us < 2 ** 63:  # hdrh's C index overflows past 64 bits; it is past the range anyway
            expected.record_value(max(1, us))
        from_due_us = max(us, round((0.25 + us / 1e6 - due_s) * 1e6))
        expected_due.record_value(min(HIGHEST_US, max(1, from_due_us)))
    assert fast.recorded == len(values_us)
    direct = new_histogram()  # what the closing window does with a cell's latencies, min and max included
    _file(direct, array("q", [us if us < 2 ** 63 else 2 ** 62 for us in values_us]))  # as on_request keeps it
    assert (direct.encode(), direct.total_count, direct.min_value, direct.max_value) == (
        expected.encode(), expected.total_count, expected.min_value, expected.max_value)
    many, expected_many = new_histogram(), new_histogram()  # thousands at once: counted another way (bincount)
    _file(many, array("q", [us if us < 2 ** 63 else 2 ** 62 for us in values_us] * 40))
    for _ in range(40):
        expected_many.add(expected)
    assert (many.encode(), many.total_count) == (expected_many.encode(), 40 * expected.total_count)
    rows = fast.flush(None)
    merged, merged_due = new_histogram(), new_histogram()
    for row in rows:
        merged.add(HdrHistogram.decode(row.histogram))
        merged_due.add(HdrHistogram.decode(row.histogram_due))
    assert sum(row.count for row in rows) == len(values_us)
    assert 0 < merged.get_total_count() < len(values_us)  # those far past the range are dropped, as hdrh drops them
    assert (merged.encode(), merged_due.encode()) == (expected.encode(), expected_due.encode())
    assert merged_due.get_total_count() == len(values_us)


def test_the_recorder_and_the_raw_samples_agree():
    """What the listener files and what a raw sample (``record_from_event``) says of the same request agree for every
    kind of request, open model or closed: the window, the key, the latency and the time from due."""
    events = []
    for status, exception in ((504, ConnectionError("504")), (200, None), (201, RateLimited("x")), (0, Timeout()),
                              (None, None)):
        response = None if status is None else type("R", (), {"status_code": status})()
        for context in ({"journey": "buyer"}, {"journey": "buyer", "due_s": 1000.25}, None):
            events.append(dict(request_type="POST", name="/checkout", response_time=2001.2345, response_length=61,
                               exception=exception, response=response, context=context, start_time=1000.5,
                               url="http://x/checkout"))
    for event in events:
        recorder, record = WindowedRecorder(started_at_s=1000.0), record_from_event(**event)
        recorder.on_request(**event)
        (row,) = recorder.flush(None)
        completed_s = record.start_time_s + record.response_time_us / 1e6
        assert (row.window_start_s, row.name, row.method, row.status, row.kind, row.count, row.response_bytes) == (
            float(int(completed_s - 1000.0)), record.name, record.method, record.status, record.kind, 1,
            record.response_bytes)
        latency = HdrHistogram.decode(row.histogram)
        assert latency.get_max_value() == latency.get_highest_equivalent_value(record.response_time_us)
        if record.from_due_us is None:
            assert row.histogram_due is None
        else:
            due = HdrHistogram.decode(row.histogram_due)
            assert due.get_max_value() == due.get_highest_equivalent_value(record.from_due_us)
    assert any(record_from_event(**event).from_due_us for event in events)


@pytest.mark.parametrize(("raw", "clean"), [("run 1", "run-1"), ("../../etc", "etc"), ("a/b", "a-b"), ("x..y", "x-y")])
def test_run_id_cannot_leave_the_results_folder(raw, clean):
    """A run id is made of safe characters only, so the folder stays inside --results-dir."""
    assert sanitise_run_id(raw) == clean


def test_unwritable_results_dir_is_bad_input(tmp_path):
    """A results dir that cannot be made is one BadInput line naming --results-dir."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(BadInput, match=r"^--results-dir: cannot write to '.*/file/sub': "):
        ResultsFolder.create(blocker / "sub", "run")


def test_torn_last_line_is_dropped(tmp_path):
    """A crash mid-append leaves every complete line readable."""
    folder = ResultsFolder.create(tmp_path, "r")
    folder.append_lines("windows.jsonl", [{"a": 1}, {"a": 2}])
    with open(folder.path / "windows.jsonl", "a") as f:
        f.write('{"a": 3')
    assert folder.read_lines("windows.jsonl") == [{"a": 1}, {"a": 2}]


def test_recorded_totals_equal_the_stubs_counts(start_stub, tmp_path):
    """A real headless run: the results folder's totals by endpoint and status equal the stub's own counters."""
    stub = start_stub("incident")
    run = run_locust("--headless", "--profile", str(SHORT_PROFILE), "--host", stub.url, "--stop-timeout", "30",
                     "--results-dir", str(tmp_path), "--run-id", "reconcile", "--only-summary")
    assert run.code in (0, 1), run.stderr[-3000:]
    folder = ResultsFolder(tmp_path / "reconcile")
    manifest = folder.read_json("manifest.json")
    assert manifest["status"] == "complete" and manifest["schema_version"] == 1
    assert [(s["name"], s["start_s"], s["end_s"], s["peak"]) for s in manifest["profile"]["stages"]] == [
        ("warm", 0.0, 4.0, False), ("peak", 4.0, 10.0, True), ("cool", 10.0, 14.0, False)]
    rows = folder.read_json("totals.json")["totals"]
    answered, cancelled = Counter(), Counter()
    for row in rows:
        key = (row["method"], row["name"].replace("[id]", "{id}"), str(row["status"]))
        (cancelled if row["kind"] == "cancelled" else answered)[key[:2]] += row["count"]
        if row["kind"] != "cancelled":
            answered[key] += row["count"]
    seen = Counter()
    for labels, value in stub.scrape_gateway()["shop_gateway_responses_total"].items():
        d = dict(labels)
        if d["endpoint"] != "/metrics":
            seen[(d["method"], d["endpoint"], d["status"])] += int(value)
            seen[(d["method"], d["endpoint"])] += int(value)
    # By endpoint and status, every answer recorded is one the stub sent; by endpoint, the stub sent no more
    # than were recorded, counting those whose shopper was stopped before the answer (cancelled).
    for key in set(seen) | set(answered):
        assert answered[key] <= seen[key], key
        if len(key) == 2:
            assert seen[key] <= answered[key] + cancelled[key], key
    windows = folder.read_lines("windows.jsonl")
    assert sum(w["count"] for w in windows) == sum(r["count"] for r in rows) == manifest["totals"]["requests"]
    load = folder.read_lines("load.jsonl")
    assert [s["stage"] for s in load][:1] == ["warm"] and "peak" in {s["stage"] for s in load}
    assert max(s["users"] for s in load) == 24 and all(0 <= s["cpu_percent"] <= 100 * 64 for s in load)
    events = folder.read_lines("events.jsonl")
    assert [e["event"] for e in events][0] == "start" and events[-1]["event"] == "stop"
    assert [e["stage"] for e in events if e["event"] == "stage"] == ["warm", "peak", "cool"]
    assert json.dumps(manifest).count("reconcile") >= 1


def test_results_dir_that_cannot_be_written_stops_the_run_before_any_load(start_stub, tmp_path):
    """--results-dir under a file: one Error line, exit 2, and the stub saw nothing."""
    stub = start_stub("fixed")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    run = run_locust("--headless", "--profile", str(SHORT_PROFILE), "--host", stub.url,
                     "--results-dir", str(blocker / "results"), timeout_s=60)
    assert run.code == 2
    assert [l for l in run.stderr.splitlines() if l.startswith("Error:")] == [
        f"Error: --results-dir: cannot write to '{blocker}/results': Not a directory"]
    assert stub.scrape_gateway().get("shop_gateway_responses_total", {}) == {}


def _by_endpoint(rows, kinds):
    out = Counter()
    for row in rows:
        if row["kind"] in kinds:
            out[(row["method"], row["name"].replace("[id]", "{id}"))] += row["count"]
    return out


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_interrupted_run_is_written_marked_and_accounted_for(start_stub, tmp_path, sig):
    """Ctrl-C or SIGTERM mid-run: exit 4, manifest 'interrupted', every request the stub saw is recorded or cancelled."""
    import signal
    import subprocess
    import time

    from tests._locust import REPO, locust_command, locust_env

    stub = start_stub("incident")
    proc = subprocess.Popen(locust_command("--headless", "--profile", "spike", "--host", stub.url, "--results-dir",
                                           str(tmp_path), "--run-id", "cut", "--only-summary"),
                            cwd=REPO, env=locust_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while stub.scrape_gateway().total("shop_gateway_responses_total") < 50 and time.monotonic() < deadline:
        time.sleep(0.5)
    proc.send_signal(getattr(signal, sig))
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode == 4, output[-3000:]
    folder = ResultsFolder(tmp_path / "cut")
    manifest = folder.read_json("manifest.json")
    assert manifest["status"] == "interrupted"
    verdict = folder.read_json("verdict.json")  # judged all the same, and said so
    assert verdict["verdict"] == "INTERRUPTED" and verdict["exit_code"] == 4
    assert "surgegate: INTERRUPTED (exit 4)" in output and "Traceback" not in output
    assert all((folder.path / name).exists() for name in ("junit.xml", "summary.md", "analysis.json"))
    rows = folder.read_json("totals.json")["totals"]
    answered = _by_endpoint(rows, {"ok", "status", "rate_limited", "check_failed"})
    cancelled = _by_endpoint(rows, {"cancelled"})
    seen = Counter()
    for labels, value in stub.scrape_gateway()["shop_gateway_responses_total"].items():
        d = dict(labels)
        if d["endpoint"] != "/metrics":
            seen[(d["method"], d["endpoint"])] += int(value)
    for key in set(seen) | set(answered):
        assert answered[key] <= seen[key] <= answered[key] + cancelled[key], (key, answered, cancelled, seen)


def test_totals_are_the_sum_of_the_closed_windows():
    """After the last flush the run's totals hold every request, with the same percentiles as all windows merged."""
    recorder = WindowedRecorder(started_at_s=0.0)
    for i in range(1000):
        recorder.on_request(**request_event(i * 0.01, "/p", "GET", 200, "ok", 1000 + i * 37, 5))
    rows = recorder.flush(None)
    (total,) = recorder.totals.values()
    assert (total.count, total.response_bytes, recorder.recorded) == (1000, 5000, 1000)
    # completion = start + response time: the last requests (sent at 9.9x s, ~37 ms) complete in window 10
    assert sum(r.count for r in rows) == 1000 and [r.window_start_s for r in rows] == [float(w) for w in range(11)]
    assert total.histogram.get_value_at_percentile(99) == pytest.approx(1000 + 990 * 37, rel=1e-3)


def test_results_folder_lost_mid_run_stops_the_run_inconclusive(start_stub, tmp_path):
    """The run folder vanishes mid-run: one Error line, the run stops, exit 3 (inconclusive), no traceback."""
    import shutil
    import subprocess
    import time

    from tests._locust import REPO, locust_command, locust_env

    stub = start_stub("fixed")
    proc = subprocess.Popen(locust_command("--headless", "--profile", "spike", "--host", stub.url, "--results-dir",
                                           str(tmp_path), "--run-id", "doomed", "--only-summary"),
                            cwd=REPO, env=locust_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "doomed" / "windows.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    shutil.rmtree(tmp_path / "doomed")
    output = proc.communicate(timeout=90)[0]
    assert proc.returncode == 3, output[-3000:]
    errors = [line for line in output.splitlines() if line.startswith("Error:")]
    assert errors == [f"Error: cannot write results to {tmp_path}/doomed: No such file or directory; "
                      "the run is stopped and inconclusive"]
    assert "Traceback" not in output


def test_histogram_percentiles_match_the_raw_samples(start_stub, tmp_path):
    """--raw-samples: one row per request, and every endpoint's percentiles within HdrHistogram's 0.1% of exact."""
    import math

    from reports.raw_samples import read_samples

    stub = start_stub("fixed")
    run = run_locust("--headless", "--profile", str(SHORT_PROFILE), "--host", stub.url, "--results-dir",
                     str(tmp_path), "--run-id", "raw", "--raw-samples", "--only-summary")
    assert run.code in (0, 1), run.stderr[-3000:]
    folder = ResultsFolder(tmp_path / "raw")
    samples = list(read_samples(folder.path / "samples.csv.gz"))
    manifest = folder.read_json("manifest.json")
    assert len(samples) == manifest["totals"]["requests"] == manifest["totals"]["raw_samples"] > 100
    by_name: dict = {}
    for s in samples:
        by_name.setdefault(s["name"], []).append(s["response_time_us"])
    merged: dict = {}
    for row in folder.read_json("totals.json")["totals"]:
        hist = HdrHistogram.decode(row["hist"])
        if row["name"] in merged:
            merged[row["name"]].add(hist)
        else:
            merged[row["name"]] = hist
    assert set(merged) == set(by_name)
    for name, values in by_name.items():
        values.sort()
        assert merged[name].get_total_count() == len(values)
        for p in (50, 90, 95, 99, 99.9, 100):
            # HdrHistogram's rank: the (p/100 * N, rounded half up)-th value
            exact = values[max(1, math.floor(p / 100 * len(values) + 0.5)) - 1]
            got = merged[name].get_value_at_percentile(p)
            assert exact <= got <= exact * 1.001 + 1, (name, p, exact, got)


def test_torn_sample_chunk_keeps_the_complete_ones(tmp_path):
    """A crash mid-chunk leaves every complete chunk of samples.csv.gz readable."""
    from reports.raw_samples import RawSampleLog, read_samples, sample_row

    log = RawSampleLog(tmp_path)
    log.add(sample_row(RequestRecord(1.5, "/p", "GET", 200, "ok", 1234, 10, "browser")))
    log.write_chunk()
    log.add(sample_row(RequestRecord(2.5, "/c", "POST", 504, "status", 2_000_001, 0, "buyer"), "w1"))
    log.write_chunk()
    data = (tmp_path / "samples.csv.gz").read_bytes()
    (tmp_path / "samples.csv.gz").write_bytes(data[:-5])
    rows = list(read_samples(tmp_path / "samples.csv.gz"))
    assert rows == [{"start_time_s": 1.5, "name": "/p", "method": "GET", "status": 200, "kind": "ok",
                     "response_time_us": 1234, "response_bytes": 10, "journey": "browser", "worker": "",
                     "from_due_us": None}]


def test_a_reused_histogram_starts_empty():
    """A window's histogram, cleared and reused for the next window, holds only the next window's requests."""
    recorder = WindowedRecorder(started_at_s=0.0)
    recorder.on_request(**request_event(0.0, "/p", "GET", 200, "ok", 300_000, 1))
    (first,) = recorder.flush(1.0)
    recorder.on_request(**request_event(1.0, "/p", "GET", 200, "ok", 1_000, 1))
    (second,) = recorder.flush(2.0)
    reused = HdrHistogram.decode(second.histogram)
    assert (reused.get_total_count(), reused.get_min_value(), reused.get_max_value()) == (1, 1_000, 1_000)
    assert HdrHistogram.decode(first.histogram).get_value_at_percentile(100) == pytest.approx(300_000, rel=1e-3)
    (total,) = recorder.totals.values()
    assert total.histogram.get_total_count() == 2


def test_recorder_memory_does_not_grow_with_requests():
    """80,000 more requests over 80 more windows leave the recorder's memory where it was: nothing kept per request."""
    import tracemalloc

    recorder = WindowedRecorder(started_at_s=0.0)
    keys = [("/products", "GET", 200, "ok"), ("/checkout", "POST", 201, "ok"), ("/checkout", "POST", 504, "status")]

    def play(first_s: int, last_s: int) -> None:
        for second in range(first_s, last_s):
            for i in range(1000):
                name, method, status, kind = keys[i % 3]
                latency_us = 500 + i * 997 % 400_000
                recorder.on_request(**request_event(second + i / 1000, name, method, status, kind, latency_us, 9))
            recorder.flush(second + 1.5)

    tracemalloc.start()
    try:
        play(0, 20)
        before = tracemalloc.get_traced_memory()[0]
        play(20, 100)
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert recorder.recorded == 100_000 and recorder.open_windows <= 1
    assert after - before < 64 * 1024, (before, after)  # a list of 80,000 records would take several MB
