"""Open-model results through analysis, the verdict and the reports, on folders made by hand.

The folders are written as the recorder writes an open run: ``hist_due`` next to ``hist`` in
``windows.jsonl``, ``arrivals.jsonl``, and ``profile.model: open`` in the manifest; answers are
worked by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from reports.analysis import analyse_folder
from reports.render_markdown import render_markdown
from reports.slo import parse_slo
from reports.verdict import UNDER_DRIVEN, judge
from reports.windows import new_histogram
from surgegate.errors import BadInput
from tests.test_analysis import RunFolder

STAGES = (("warm", 0.0, 10.0, 0, False), ("peak", 10.0, 30.0, 0, True), ("cool", 30.0, 40.0, 0, False))


class OpenRunFolder(RunFolder):
    """A RunFolder of an open-model run: latencies from due and arrivals as well."""

    def __init__(self, path: Path, **kwargs) -> None:
        super().__init__(path, stages=STAGES, **kwargs)
        self.due: dict[tuple, list[int]] = {}
        self.arrival_rows: list[dict] = []

    def add_open(self, t: int, name: str, *, send_ms: float, due_ms: float, count: int, method: str = "POST",
                 status: int = 200, kind: str = "ok") -> OpenRunFolder:
        """``count`` requests completing in second ``t``: ``send_ms`` from the send, ``due_ms`` from due."""
        self.add(t, name, method=method, status=status, kind=kind, times_ms=[send_ms] * count)
        self.due.setdefault((float(t), name, method, status, kind), []).extend([round(due_ms * 1000)] * count)
        return self

    def arrivals(self, t: int, stage: str, planned: int, dropped: int = 0) -> OpenRunFolder:
        """One arrivals.jsonl line (several for one key add up, as from several workers)."""
        self.arrival_rows.append({"t": t, "stage": stage, "planned": planned, "started": planned - dropped,
                                  "dropped": dropped})
        return self

    def write(self) -> Path:
        path = super().write()
        rows = [json.loads(line) for line in (path / "windows.jsonl").read_text().splitlines()]
        for row in rows:
            values = self.due.get((row["t"], row["name"], row["method"], row["status"], row["kind"]))
            if values:
                histogram = new_histogram()
                for value in values:
                    histogram.record_value(value)
                row["hist_due"] = histogram.encode().decode("ascii")
        (path / "windows.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
        (path / "arrivals.jsonl").write_text("".join(json.dumps(row) + "\n" for row in self.arrival_rows))
        manifest = json.loads((path / "manifest.json").read_text())
        manifest["profile"]["model"] = "open"
        for stage, rate in zip(manifest["profile"]["stages"], (5.0, 20.0, 5.0)):
            stage["arrival_rate"] = rate
        manifest["recording"] = {"window_s": 1.0, "latency_corrected": True}
        (path / "manifest.json").write_text(json.dumps(manifest))
        return path


def _stall(tmp_path: Path, *, dropped_at: dict[int, int] | None = None) -> OpenRunFolder:
    """Checkouts of 40 ms each, due 40 ms before they were answered until 20 s, then 2 s after their due time
    (sent 1.96 s late by a shopper held up earlier); 5 arrivals a second, 20 in the peak, some dropped."""
    folder = OpenRunFolder(tmp_path / "run")
    for t in range(40):
        late = 20 <= t < 30
        folder.add_open(t, "/checkout", send_ms=40.0, due_ms=2000.0 if late else 40.0, count=10)
        planned = 20 if 10 <= t < 30 else 5
        stage = "warm" if t < 10 else "peak" if t < 30 else "cool"
        folder.arrivals(t, stage, planned, (dropped_at or {}).get(t, 0))
    folder.sample_load(0, 40)
    return folder


def _judge(folder: RunFolder, *objectives: dict):
    document = {"objectives": list(objectives)}
    return judge(analyse_folder(folder.write()), parse_slo(yaml.safe_dump(document), "slo.yaml"))


def test_both_latencies_are_read_and_the_corrected_one_shows_the_stall(tmp_path):
    """From the send: 40 ms throughout; from due: 40 ms, then 2 s in the stall (20-30 s)."""
    analysis = analyse_folder(_stall(tmp_path).write())
    assert analysis.latency_corrected
    # Read as their buckets' middles: 40 ms as 40.016 (40,000 .. 40,031 us), 2 s as 2000.384.
    peak = analysis.summary["overall"]["stages"]["peak"]
    assert peak["latency_ms"]["p95"] == 40.016
    assert peak["latency_from_due_ms"]["p50"] == 40.016  # 100 of 200 at 40 ms: the 100th
    assert peak["latency_from_due_ms"]["p95"] == 2000.384
    assert analysis.summary["overall"]["stages"]["warm"]["latency_from_due_ms"]["max"] == 40.016
    series = analysis.to_json()["series"]["overall"]
    assert series["p95_from_due_ms"][25] == 2000.384 and series["p95_ms"][25] == 40.016


def test_a_closed_run_is_not_corrected(tmp_path):
    """A folder without hist_due: latency_corrected false, no latency from due, and summary.md says so."""
    folder = RunFolder(tmp_path / "run").steady(0, 60, "/products", 5)
    analysis = analyse_folder(folder.write())
    assert not analysis.latency_corrected and not analysis.has_arrivals
    assert analysis.summary["overall"]["run"]["latency_from_due_ms"] is None
    assert analysis.to_json()["arrivals"] is None
    verdict = judge(analysis, parse_slo(yaml.safe_dump({"objectives": [
        {"name": "p95", "metric": "p95", "bound": "1s"}]}), "slo.yaml"))
    summary = render_markdown(verdict, analysis)
    assert "not corrected for coordinated omission" in summary and "from due" not in summary


def test_arrivals_add_up_by_second_and_stage(tmp_path):
    """Two lines of one second (two workers) add up; per stage and over the run: planned, started, dropped."""
    folder = _stall(tmp_path, dropped_at={12: 3, 13: 4})
    folder.arrivals(12, "peak", 2, 1)
    analysis = analyse_folder(folder.write())
    assert analysis.arrival_counts["planned"][12] == 22 and analysis.arrival_counts["dropped"][12] == 4
    peak = analysis.to_json()["arrivals"]["stages"]["peak"]
    assert peak == {"planned": 402, "started": 394, "dropped": 8, "dropped_pct": round(100 * 8 / 402, 4), "late_ms_max": 0,
                    "started_per_s": 19.7, "planned_per_s": 20.1}
    assert analysis.to_json()["arrivals"]["run"]["planned"] == 502


def test_dropped_arrivals_objective_counts_and_fractions(tmp_path):
    """bound 0 fails at the first second with drops; 5% of the peak passes (7 of 400 is 1.75%), 1% fails."""
    folder = _stall(tmp_path, dropped_at={12: 3, 13: 4})
    verdict = _judge(folder, {"name": "none", "metric": "dropped_arrivals", "bound": 0},
                     {"name": "few", "metric": "dropped_arrivals", "bound": "5%", "scope": {"stage": "peak"}},
                     {"name": "fewer", "metric": "dropped_arrivals", "bound": "1%", "scope": {"stage": "peak"}})
    none, few, fewer = verdict.objectives
    assert (none.status, none.observed_text, none.unit) == ("fail", "7 arrivals", "arrivals")
    assert (none.first_failure.t_s, none.first_failure.stage, none.first_failure.observed_text) == (
        12, "peak", "3 of 20 dropped")
    assert none.detail == "7 of 500 planned arrivals dropped; over 40 s"
    assert (few.status, few.observed_text, few.unit) == ("pass", "1.75%", "%")
    assert fewer.status == "fail"


def test_drops_without_a_breach_make_the_run_under_driven_and_inconclusive(tmp_path):
    """Every objective met but 7 arrivals dropped: the shop was not offered the planned load, so INCONCLUSIVE."""
    verdict = _judge(_stall(tmp_path, dropped_at={12: 3, 13: 4}),
                     {"name": "p95", "metric": "p95", "bound": "1s"})
    assert verdict.verdict == "INCONCLUSIVE"
    assert verdict.reasons[0].startswith(f"{UNDER_DRIVEN}: no (7 of 500 planned arrivals dropped (1.4%), "
                                         "the first at 12 s (stage peak): the pool of in-flight shoppers was full")
    assert verdict.generator == {"saturated": False, "under_driven": True, "max_cpu_percent": 20.0,
                                 "planned_arrivals": 500, "dropped_arrivals": 7,
                                 # 4-13 s: 6 s x 5 + 4 s x 20 = 110 due, 7 dropped
                                 "worst_10s_started_ratio": round(103 / 110, 4),
                                 "late_ms_max": 0, "detail": verdict.checks[-1].detail}


def test_drops_with_a_breach_stay_not_ready_and_say_so(tmp_path):
    """A breach measured at less than the planned load is NOT READY all the more; the reasons say under-driven."""
    verdict = _judge(_stall(tmp_path, dropped_at={12: 3}), {"name": "p95", "metric": "p95", "bound": "10ms"})
    assert verdict.verdict == "NOT_READY"
    assert verdict.reasons[-1].startswith("and that with less than the planned load: 3 of 500 planned arrivals")


def test_no_drops_is_ready_and_driven_as_planned(tmp_path):
    """Every arrival started: the check passes and the generator says driven as planned."""
    verdict = _judge(_stall(tmp_path), {"name": "p95", "metric": "p95", "bound": "1s"})
    assert verdict.verdict == "READY"
    assert verdict.generator["detail"] == "driven as planned" and verdict.generator["dropped_arrivals"] == 0


def test_summary_shows_arrivals_and_both_latencies(tmp_path):
    """summary.md of an open run: the arrivals table and the from-due columns."""
    folder = _stall(tmp_path, dropped_at={12: 3})
    analysis = analyse_folder(folder.write())
    verdict = judge(analysis, parse_slo(yaml.safe_dump({"objectives": [
        {"name": "p95", "metric": "p95", "bound": "1s"}]}), "slo.yaml"))
    summary = render_markdown(verdict, analysis)
    assert "| peak | 400 | 397 | 3 | 0.75% |" in summary
    assert "| p95 from due | p99 from due |" in summary
    assert "| POST /checkout | 400 | 0 | 0% | 0 | 40 ms | 40 ms | 40 ms | 40 ms | 2 s | 2 s |" in summary


@pytest.mark.parametrize(("line", "message"), [
    ({"t": 1, "stage": "peak", "planned": -1, "started": 0, "dropped": 0},
     "line 1: planned: must be a whole number >= 0, got -1"),
    ({"t": "x", "stage": "peak", "planned": 1, "started": 1, "dropped": 0}, 'line 1: t: must be a number >= 0, got "x"'),
    ({"t": 1, "planned": 1, "started": 1, "dropped": 0}, "line 1: stage: must be text, got null"),
])
def test_a_malformed_arrivals_line_is_one_line_of_bad_input(tmp_path, line, message):
    """arrivals.jsonl is checked as windows.jsonl is: file, line, field, rule, value."""
    path = _stall(tmp_path).write()
    (path / "arrivals.jsonl").write_text(json.dumps(line) + "\n")
    with pytest.raises(BadInput) as caught:
        analyse_folder(path)
    assert str(caught.value) == f"{path / 'arrivals.jsonl'}: {message}"


def test_open_levels_are_arrival_rates_and_compare_with_an_arrivals_peak(tmp_path):
    """Capacity of an open run: levels by arrival rate (5, 20, 5/s); '16 arrivals/s' is held 1.23x
    (19.7 started a second in the peak, 8 of 400 dropped)."""
    from reports.capacity import assess_capacity
    from reports.expected_peak import parse_expected_peak

    analysis = analyse_folder(_stall(tmp_path, dropped_at={12: 3, 13: 5}).write())
    slos = parse_slo(yaml.safe_dump({"objectives": [{"name": "p95", "metric": "p95", "bound": "1s"}]}), "slo.yaml")
    capacity = assess_capacity(analysis, slos, judge(analysis, slos), parse_expected_peak("16 arrivals/s"))
    assert [(lv.stage, lv.arrival_rate, lv.arrivals_per_s) for lv in capacity.levels] == [
        ("warm", 5.0, 5.0), ("peak", 20.0, 19.6), ("cool", 5.0, 5.0)]
    assert capacity.sustainable.stage == "peak"
    assert capacity.summary[0].startswith("capacity: held 20 arrivals/s (stage peak, 10 req/s); never broke")
    (headroom,) = capacity.headroom
    assert headroom.text == "survives 1.23x the expected peak (16 arrivals/s)"


def test_a_request_due_earlier_records_its_time_from_due():
    """Sent at 10.5 s, answered 40 ms later, due at 9.0 s: 40 ms from the send, 1.54 s from due; closed: None."""
    from reports.records import record_from_event

    record = record_from_event(request_type="POST", name="/checkout", response_time=40.0, response_length=5,
                               start_time=10.5, context={"journey": "buyer", "due_s": 9.0})
    assert (record.response_time_us, record.from_due_us) == (40_000, 1_540_000)
    early = record_from_event(request_type="GET", name="/p", response_time=40.0, response_length=5,
                              start_time=10.5, context={"due_s": 10.6})  # clock jitter: never below the send time
    assert early.from_due_us == 40_000
    closed = record_from_event(request_type="GET", name="/p", response_time=40.0, response_length=5,
                               start_time=10.5, context={"journey": "browser"})
    assert closed.due_time_s is None and closed.from_due_us is None


def test_windows_keep_hist_due_and_merge_it_exactly():
    """A window's row carries hist_due only when its requests were due; merged rows and totals add it up."""
    from hdrh.histogram import HdrHistogram

    from reports.windows import WindowedRecorder
    from tests._locust import request_event

    worker, master = WindowedRecorder(started_at_s=100.0), WindowedRecorder(started_at_s=100.0)
    worker.on_request(**request_event(100.2, "/checkout", "POST", 201, "ok", 40_000, 5, "buyer", due_time_s=99.0))
    worker.on_request(**request_event(100.3, "/products", "GET", 200, "ok", 10_000, 5, "browser"))
    rows = {row.name: row.to_json() for row in worker.flush(None)}
    assert "hist_due" in rows["/checkout"] and "hist_due" not in rows["/products"]
    assert HdrHistogram.decode(rows["/checkout"]["hist_due"]).get_max_value() == pytest.approx(1_240_000, rel=1e-3)
    for row in rows.values():
        master.merge(row["t"], (row["name"], row["method"], row["status"], row["kind"]), row["count"], row["bytes"],
                     row["hist"], row.get("hist_due"))
    master.merge(0.0, ("/checkout", "POST", 201, "ok"), 1, 5, rows["/checkout"]["hist"], rows["/checkout"]["hist_due"])
    merged = {row.name: row for row in master.flush(None)}
    assert HdrHistogram.decode(merged["/checkout"].histogram_due).get_total_count() == 2
    assert master.totals[("/checkout", "POST", 201, "ok")].due_histogram.get_total_count() == 2
    assert master.totals[("/products", "GET", 200, "ok")].due_histogram is None
