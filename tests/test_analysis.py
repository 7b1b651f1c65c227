"""Analysis of a results folder: counts, rates and merged-histogram percentiles, checked by hand.

``RunFolder`` (also used by the verdict, gate and CLI tests) writes a results folder the way the
recorder does: one windows.jsonl row per (second, endpoint, status, kind) with a real encoded
HdrHistogram, totals.json, load.jsonl and a manifest with the profile's stages.
"""

from __future__ import annotations

import json
import random
from fractions import Fraction
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram

from reports.analysis import analyse_folder
from reports._hdr_codec import decode_rows, decode_sparse
from reports.histograms import (BUCKET_COUNT, HIGHEST_EQUIVALENT_US, MIDDLE_EQUIVALENT_US, grouped_percentiles_us,
                                meets_bound, percentiles_us, sliding_percentile_us)
from reports.windows import new_histogram
from surgegate.errors import BadInput

DEFAULT_STAGES = (("warm", 0.0, 10.0, 10, False), ("peak", 10.0, 40.0, 100, True), ("cool", 40.0, 60.0, 10, False))


class RunFolder:
    """A results folder built request by request, written as the recorder writes one."""

    def __init__(self, path: Path, *, stages=DEFAULT_STAGES, status: str = "complete",
                 elapsed_s: float | None = None, run_id: str = "test-run", profile: str = "test") -> None:
        self.path = Path(path)
        self.stages = stages
        self.status = status
        self.elapsed_s = elapsed_s if elapsed_s is not None else max(end for _, _, end, _, _ in stages)
        self.run_id = run_id
        self.profile = profile
        self.cells: dict[tuple, list[int]] = defaultdict(list)
        self.load: list[dict] = []

    def add(self, t: int, name: str, *, method: str = "GET", status: int = 200, kind: str = "ok",
            times_ms: list[float] | tuple[float, ...] = (10.0,)) -> RunFolder:
        """Requests that completed in second ``t``, one per time given."""
        self.cells[(t, name, method, status, kind)].extend(round(ms * 1000) for ms in times_ms)
        return self

    def steady(self, first: int, stop: int, name: str, per_second: int, **kwargs) -> RunFolder:
        """``per_second`` requests in each second of ``[first, stop)``."""
        for t in range(first, stop):
            self.add(t, name, times_ms=kwargs.pop("times_ms", None) or [10.0] * per_second, **kwargs)
        return self

    def sample_load(self, first: int, stop: int, *, users: int = 100, rps: float = 50.0,
                    cpu_percent: float = 20.0) -> RunFolder:
        """load.jsonl samples at the end of each second of ``[first, stop)``."""
        for t in range(first, stop):
            self.load.append({"t": t + 1.0, "stage": None, "target_users": users, "users": users, "rps": rps,
                              "cpu_percent": cpu_percent, "cpu_warning": cpu_percent >= 90})
        return self

    def write(self) -> Path:
        """Write the folder; returns its path."""
        self.path.mkdir(parents=True, exist_ok=True)
        rows, totals = [], defaultdict(lambda: [0, new_histogram()])
        for (t, name, method, status, kind), times_us in sorted(self.cells.items()):
            histogram = new_histogram()
            for value in times_us:
                histogram.record_value(max(1, value))
            total = totals[(name, method, status, kind)]
            total[0] += len(times_us)
            total[1].add(histogram)
            rows.append({"t": float(t), "name": name, "method": method, "status": status, "kind": kind,
                         "count": len(times_us), "bytes": 10 * len(times_us),
                         "hist": histogram.encode().decode("ascii")})
        (self.path / "windows.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
        if self.status != "running":
            (self.path / "totals.json").write_text(json.dumps({"schema_version": 1, "totals": [
                {"name": k[0], "method": k[1], "status": k[2], "kind": k[3], "count": c, "bytes": 10 * c,
                 "hist": h.encode().decode("ascii")} for k, (c, h) in sorted(totals.items())]}))
        if self.load:
            (self.path / "load.jsonl").write_text("".join(json.dumps(line) + "\n" for line in self.load))
        requests = sum(len(v) for v in self.cells.values())
        manifest = {
            "schema_version": 1, "run_id": self.run_id, "status": self.status,
            "started_at": "2026-11-25T06:15:00.000+00:00", "ended_at": "2026-11-25T06:16:00.000+00:00",
            "elapsed_s": self.elapsed_s, "target": "http://127.0.0.1:8000", "adapter": "stub",
            "profile": {"name": self.profile, "source": "test.yaml", "time_scale": 1.0, "peak_multiplier": 1.0,
                        "total_s": max(end for _, _, end, _, _ in self.stages),
                        "stages": [{"name": n, "start_s": s, "end_s": e, "users": u, "spawn_rate": 10.0,
                                    "peak": p, "mix": {"buyer": 1}} for n, s, e, u, p in self.stages]},
            "versions": {"surgegate": "0.1.0", "locust": "2.47.0"}, "command_line": ["locust"],
            "totals": {"requests": requests, "failures": 0, "cancelled": 0, "window_rows": len(rows)},
            "a_field_from_the_future": {"ignored": True},
            **getattr(self, "manifest_extra", {}),
        }
        (self.path / "manifest.json").write_text(json.dumps(manifest, indent=2))
        return self.path


def _histogram(values_us) -> HdrHistogram:
    histogram = new_histogram()
    for value in values_us:
        histogram.record_value(value)
    return histogram


def test_counter_values_are_hdrhistograms_own():
    """Each counter's top and middle values are HdrHistogram's highest and median equivalent values."""
    reference = new_histogram()
    for index in range(0, BUCKET_COUNT, 7):
        value = reference.get_value_from_index(index)
        assert HIGHEST_EQUIVALENT_US[index] == reference.get_highest_equivalent_value(value), index
        assert MIDDLE_EQUIVALENT_US[index] == reference._hdr_median_equiv_value(value), index


def test_many_rows_decode_to_hdrhistograms_own_counters():
    """Decoding rows together gives, row by row, exactly the counters HdrHistogram decodes, other ranges too."""
    rng = random.Random(11)
    encoded = []
    for _ in range(60):
        histogram = new_histogram()
        for _ in range(rng.randint(0, 120)):
            value = rng.randint(1, 3_600_000_000) if rng.random() < 0.1 else rng.randint(300, 2_500_000)
            histogram.record_value(value, rng.choice([1, 1, 3, 70_000, 10**12]))
        encoded.append(histogram.encode().decode("ascii"))
    other = HdrHistogram(1, 60_000_000, 2)  # another range and precision: re-indexed by value
    other.record_value(1_234_567, 5)
    encoded.append(other.encode().decode("ascii"))
    rows, indices, counts = decode_rows(encoded)
    for position, text in enumerate(encoded):
        expected_indices, expected_counts = decode_sparse(text)
        mine = rows == position
        assert indices[mine].tolist() == expected_indices.tolist(), position
        assert counts[mine].tolist() == expected_counts.tolist(), position
    assert HIGHEST_EQUIVALENT_US[indices[rows == 60][0]] >= 1_234_567 * 0.99


def test_merged_percentiles_equal_hdrhistogram_on_the_merged_histogram():
    """Percentiles of decoded, merged windows are exactly HdrHistogram's on the same merge (unrounded)."""
    rng = random.Random(7)
    windows = [[rng.randint(200, 3_000_000) for _ in range(rng.randint(1, 80))] for _ in range(40)]
    merged = new_histogram()
    buckets, counts = [], []
    for values in windows:
        encoded = _histogram(values).encode().decode("ascii")
        merged.decode_and_add(encoded)
        b, c = decode_sparse(encoded)
        buckets.append(b)
        counts.append(c)
    b, c = np.concatenate(buckets), np.concatenate(counts)
    for percentile in (0.1, 50, 90, 95, 99, 99.9, 100):
        ours = grouped_percentiles_us(np.zeros(len(b), dtype=np.int64), b, c, 1, [percentile], middle=False)[0][0]
        assert ours == merged.get_value_at_percentile(percentile), percentile


def test_grouped_percentiles_keep_groups_apart():
    """Each group's percentile comes from its own entries only; an empty group has none (-1)."""
    first = decode_sparse(_histogram([1_000] * 9 + [50_000]).encode().decode())
    second = decode_sparse(_histogram([7_000]).encode().decode())
    groups = np.concatenate([np.zeros(len(first[0]), np.int64), np.full(len(second[0]), 2, np.int64)])
    p50, top = grouped_percentiles_us(groups, np.concatenate([first[0], second[0]]),
                                      np.concatenate([first[1], second[1]]), 3, [50, 100])
    # 1 ms: a bucket of 1 us; 50 ms: 49,984 .. 50,015 us (middle 50,000); 7 ms: 7,000 .. 7,003 us (middle 7,002)
    assert p50.tolist() == [1_000, -1, 7_002]
    assert top.tolist() == [50_000, -1, 7_002]


def test_a_value_is_reported_as_its_buckets_middle():
    """2 s lands in the bucket 1,999,872 .. 2,000,895 us: 2,000,384 is reported (HdrHistogram's top: 2,000,895)."""
    assert percentiles_us(*decode_sparse(_histogram([2_000_000]).encode().decode()), [50, 95, 100]) == [2_000_384] * 3


@pytest.mark.parametrize("value_us", [9_000, 800_000, 2_000_000, 1_500_000, 250_000, 33_600, 1_005])
def test_a_recorded_value_reads_within_half_a_bucket_and_meets_a_bound_equal_to_it(value_us):
    """The figure is within 1/2048 of the value; a bound equal to the value is met, the next bucket up breaks it."""
    reported = percentiles_us(*decode_sparse(_histogram([value_us]).encode().decode()), [50, 95, 100])
    assert all(abs(v - value_us) <= value_us / 2048 for v in reported)
    assert meets_bound(np.array(reported), value_us).tolist() == [True] * 3
    assert meets_bound(np.array(reported), Fraction(value_us)).tolist() == [True] * 3
    above = int(HIGHEST_EQUIVALENT_US[int(np.flatnonzero(MIDDLE_EQUIVALENT_US == reported[0])[0])]) + 1
    assert above <= value_us * 1.001  # the next bucket starts at most 0.1% above the value
    over = percentiles_us(*decode_sparse(_histogram([above]).encode().decode()), [50])
    assert meets_bound(np.array(over), value_us).tolist() == [False]


def test_meets_bound_judges_each_percentile_by_its_buckets_lowest_value():
    """Hand-computed: 2,000,384 (bucket from 1,999,872) meets 1,999,872 and 2 s but not 1,999,871; -1 is harmless."""
    values = np.array([2_000_384, 2_000_384, 2_000_384, 1_000, -1])
    assert meets_bound(values[:3], 1_999_872).tolist() == [True] * 3
    assert meets_bound(values[:1], 1_999_871).tolist() == [False]
    assert meets_bound(values[3:], 1_000).tolist() == [True, True]


def test_sliding_percentile_equals_merging_each_window_afresh():
    """Sliding windows (add the second that enters, subtract the one that leaves) match a fresh merge per window."""
    rng = random.Random(3)
    seconds, buckets, counts, per_second = [], [], [], {}
    for second in range(60):
        if rng.random() < 0.2:
            continue  # seconds with no requests
        values = [rng.randint(500, 900_000) for _ in range(rng.randint(1, 30))]
        per_second[second] = values
        b, c = decode_sparse(_histogram(values).encode().decode())
        seconds.append(np.full(len(b), second, np.int64))
        buckets.append(b)
        counts.append(c)
    starts = np.arange(0, 60 - 10 + 1)
    got = sliding_percentile_us(np.concatenate(seconds), np.concatenate(buckets), np.concatenate(counts), starts,
                                10, 95.0)
    for start, value in zip(starts, got):
        values = [v for s in range(start, start + 10) for v in per_second.get(s, [])]
        if values:
            histogram = _histogram(values)
            expected = histogram._hdr_median_equiv_value(histogram.get_value_at_percentile(95))
        else:
            expected = -1
        assert value == expected, start


def test_counts_rates_and_percentiles_of_an_endpoint(tmp_path):
    """Requests exclude cancelled ones; failures exclude 429s; percentiles are read from the merged seconds."""
    folder = RunFolder(tmp_path / "run", stages=(("only", 0.0, 10.0, 10, True),))
    for t in range(10):  # 100 checkouts answered in 1 .. 100 ms, 10 a second
        folder.add(t, "/checkout", method="POST", status=201, times_ms=[t * 10 + i for i in range(1, 11)])
    folder.add(3, "/checkout", method="POST", status=504, kind="status", times_ms=[2000.0] * 4)
    folder.add(4, "/checkout", method="POST", status=429, kind="rate_limited", times_ms=[1.0] * 6)
    folder.add(5, "/checkout", method="POST", status=0, kind="cancelled", times_ms=[5000.0] * 3)
    folder.add(5, "/checkout", method="POST", status=0, kind="timeout", times_ms=[3000.0])
    stats = analyse_folder(folder.write()).summary["endpoints"][0]["run"]
    assert stats["requests"] == 111 and stats["ok"] == 100 and stats["cancelled"] == 3
    assert stats["failures"] == 5 and stats["rate_limited"] == 6
    assert stats["failures_by_kind"] == {"status": 4, "timeout": 1}
    assert stats["statuses"] == {"0": 1, "201": 100, "429": 6, "504": 4}
    assert stats["error_rate_pct"] == pytest.approx(100 * 5 / 111, abs=1e-4)
    assert stats["throughput_rps"] == pytest.approx(10.0)
    assert stats["duration_s"] == 10
    # 111 timed requests (not the cancelled ones): six at 1 ms, 1..100 ms, four at 2 s, one at 3 s.
    latency = stats["latency_ms"]
    # HdrHistogram's target count is int(p * 111 / 100 + 0.5); the value is the target-th smallest.
    assert latency["p50"] == pytest.approx(50.0, rel=1e-3)  # 56th: six 1 ms, then 1 .. 50 ms
    assert latency["p95"] == pytest.approx(99.0, rel=1e-3)  # 105th (105.45 + 0.5 -> 105): 6 + 99
    assert latency["p99"] == pytest.approx(2000.0, rel=1e-3)  # 110th (109.89 + 0.5 -> 110): one of the 504s
    assert latency["max"] == pytest.approx(3000.0, rel=1e-3)


def test_stages_own_the_windows_their_middle_falls_in(tmp_path):
    """Stages starting at fractions of a second (july15 at time_scale 0.02) share no window."""
    stages = (("baseline", 0.0, 1.2, 20, False), ("sale-opens", 1.2, 3.0, 100, False), ("surge", 3.0, 6.0, 300, True))
    folder = RunFolder(tmp_path / "run", stages=stages, elapsed_s=6.4)
    for t in range(7):
        folder.add(t, "/products", times_ms=[1.0] * (t + 1))
    analysis = analyse_folder(folder.write())
    assert [(s.name, s.first_window, s.stop_window) for s in analysis.stages] == \
        [("baseline", 0, 1), ("sale-opens", 1, 3), ("surge", 3, 6)]
    assert analysis.window_count == 7  # the run's last 0.4 s is window 6, after the profile
    scopes = analysis.summary["overall"]["stages"]
    assert [scopes[n]["requests"] for n in ("baseline", "sale-opens", "surge")] == [1, 2 + 3, 4 + 5 + 6]
    assert analysis.summary["overall"]["run"]["requests"] == 28


def test_rows_repeated_for_a_window_add_up(tmp_path):
    """A late worker's row for a window already written is added, not dropped or doubled."""
    path = RunFolder(tmp_path / "run").add(2, "/sale", times_ms=[5.0, 6.0]).write()
    with open(path / "windows.jsonl", "a") as f:
        row = {"t": 2.0, "name": "/sale", "method": "GET", "status": 200, "kind": "ok", "count": 1, "bytes": 1,
               "hist": _histogram([9_000]).encode().decode()}
        f.write(json.dumps(row) + "\n")
    stats = analyse_folder(path).summary["endpoints"][0]["run"]
    assert stats["requests"] == 3 and stats["latency_ms"]["max"] == 9.004  # 9 ms: bucket 9,000 .. 9,007 us


def test_torn_last_line_is_dropped(tmp_path):
    """A crash mid-append leaves a last line without newline: it is not read, everything before it is."""
    path = RunFolder(tmp_path / "run", status="running").add(0, "/sale", times_ms=[1.0] * 3).write()
    with open(path / "windows.jsonl", "a") as f:
        f.write('{"t": 1.0, "name": "/sale", "meth')
    analysis = analyse_folder(path)
    assert analysis.summary["overall"]["run"]["requests"] == 3
    assert analysis.info.elapsed_s is None  # still "running": the recorder died


def test_analysis_json_has_series_for_every_window(tmp_path):
    """analysis.json carries the run, stages, per-scope stats and per-second series of equal length."""
    folder = RunFolder(tmp_path / "run").steady(0, 60, "/products", 3)
    folder.add(20, "/checkout", method="POST", status=504, kind="status", times_ms=[2000.0])
    analysis = analyse_folder(folder.write())
    document = json.loads(json.dumps(analysis.to_json()))
    assert document["schema_version"] == 1 and document["window_count"] == 60
    assert {s["name"] for s in document["stages"]} == {"warm", "peak", "cool"}
    checkout = document["series"]["endpoints"]["POST /checkout"]
    assert len(checkout["requests"]) == 60 and checkout["requests"][20] == 1
    assert checkout["error_statuses"] == {"504": [0] * 20 + [1] + [0] * 39}
    assert checkout["p95_ms"][20] == 2000.384 and checkout["p95_ms"][19] is None
    assert document["overall"]["stages"]["peak"]["requests"] == 91
    assert document["endpoints"][0]["endpoint"] == "GET /products"


@pytest.mark.parametrize(("breakage", "message"), [
    (lambda p: (p / "manifest.json").unlink(), "{p}: not a results folder (no manifest.json)"),
    (lambda p: (p / "manifest.json").write_text("{"),
     "{p}/manifest.json: not valid JSON: Expecting property name enclosed in double quotes at line 1"),
    (lambda p: (p / "manifest.json").write_text('{"schema_version": 2}'),
     "{p}/manifest.json: schema_version: this surgegate reads version 1, got 2"),
    (lambda p: (p / "windows.jsonl").write_text('{"t": 0}\nnot json\n'),
     "{p}/windows.jsonl: line 2: not valid JSON: Expecting value"),
    (lambda p: (p / "windows.jsonl").write_text('{"t": 0, "name": "/x", "method": "GET", "status": 200}\n'),
     "{p}/windows.jsonl: line 1: kind: required field is missing"),
    (lambda p: (p / "windows.jsonl").write_text(json.dumps(
        {"t": 0, "name": "/x", "method": "GET", "status": 200, "kind": "ok", "count": 1, "hist": "bm90IGhkcg=="})
        + "\n"), "{p}/windows.jsonl: line 1: hist: not an encoded HdrHistogram (too short)"),
    (lambda p: (p / "windows.jsonl").write_text(json.dumps(
        {"t": 0, "name": "/x", "method": "GET", "status": "200", "kind": "ok", "count": 1, "hist": ""}) + "\n"),
     '{p}/windows.jsonl: line 1: status: must be a whole number, got "200"'),
])
def test_malformed_folder_is_one_bad_input_line(tmp_path, breakage, message):
    """Each malformed member is one BadInput line naming the file, the line or field, and what was wrong."""
    path = RunFolder(tmp_path / "run").add(0, "/x").write()
    breakage(path)
    with pytest.raises(BadInput) as caught:
        analyse_folder(path)
    assert str(caught.value) == message.format(p=path)


def test_missing_folder_is_bad_input(tmp_path):
    """A folder that does not exist is named in one line."""
    with pytest.raises(BadInput, match=r"^.*/nowhere: no such results folder$"):
        analyse_folder(tmp_path / "nowhere")
