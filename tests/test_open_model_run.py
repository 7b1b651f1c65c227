"""The open model end to end: real Locust, real stub, ``tests/data/open.yaml`` (8 s, 116 arrivals).

Each run is made once per module, on demand, and read by several tests (five runs, ~1.5 min in all):

    open-incident    a slow checkout (the July 15 pool of 5, 630 ms a checkout), a pool of 300: the
                     arrival rate is kept while shoppers pile up in flight; counts match the stub's
    open-small-pool  the same slow shop with --max-in-flight 4: arrivals are dropped, and counted
    closed-fixed, closed-incident   tests/data/closed-twin.yaml: the same stages as users
    open-2-workers   --processes 2 against the fast shop (the profile's pool of 60): the workers
                     share the schedule, every arrival starts, counts match the stub's

Nothing asserts a time: only counts, the schedule (deterministic with the seed) and orderings of
latencies that a stall makes large (seconds against milliseconds).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from profiles import load_profile
from profiles.schedule import planned_per_second
from target_stub.process import StubProcess
from tests._locust import REPO, assert_folder_reconciled, run_locust, stub_answers

OPEN = REPO / "tests" / "data" / "open.yaml"
CLOSED_TWIN = REPO / "tests" / "data" / "closed-twin.yaml"
_RUNS: dict[str, dict] = {}

RUNS = {
    "open-incident": ("incident", OPEN, ("--max-in-flight", "300")),
    "open-small-pool": ("incident", OPEN, ("--max-in-flight", "4")),
    "closed-fixed": ("fixed", CLOSED_TWIN, ()),
    "closed-incident": ("incident", CLOSED_TWIN, ()),
    "open-2-workers": ("fixed", OPEN, ("--processes", "2")),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """``runs(name)``: the folder, stub counts and output of one of ``RUNS``, run once."""
    root = tmp_path_factory.mktemp("open-runs")

    def get(name: str) -> dict:
        if name not in _RUNS:
            preset, profile, extra = RUNS[name]
            stub = StubProcess(preset).start()
            try:
                run = run_locust("--headless", "--profile", str(profile), "--host", stub.url, "--stop-timeout", "10",
                                 "--results-dir", str(root), "--run-id", name, "--only-summary", *extra,
                                 timeout_s=120)
                seen = stub_answers(stub)
            finally:
                assert stub.stop() == 0
            folder = root / name
            assert (folder / "verdict.json").is_file(), run.stdout[-3000:] + run.stderr[-3000:]
            _RUNS[name] = {"folder": folder, "seen": seen, "run": run}
        return _RUNS[name]

    return get


def _lines(folder: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in (folder / name).read_text().splitlines() if line]


def _arrivals(folder: Path) -> dict[tuple[int, str], Counter]:
    """arrivals.jsonl added up by (second, stage)."""
    out: dict[tuple[int, str], Counter] = {}
    for row in _lines(folder, "arrivals.jsonl"):
        out.setdefault((row["t"], row["stage"]), Counter()).update(
            {k: row[k] for k in ("planned", "started", "dropped")})
    return out


def _schedule() -> dict[tuple[int, str], int]:
    profile = load_profile(OPEN)
    names = [stage.name for stage in profile.stages]
    return {(second, names[stage]): count for (second, stage), count in planned_per_second(profile).items()}


def _analysis(folder: Path) -> dict:
    return json.loads((folder / "analysis.json").read_text())


def _stage_stats(folder: Path, endpoint: str, stage: str) -> dict:
    entry = next(e for e in _analysis(folder)["endpoints"] if e["endpoint"] == endpoint)
    return entry["stages"][stage]


def _journeys_started(folder: Path, stage: str) -> int:
    """Journeys begun in a stage: each starts with a browse (GET /products) or, a sniper's, GET /sale."""
    return sum(_stage_stats(folder, e, stage)["requests"] for e in ("GET /products", "GET /sale"))


def test_open_run_starts_exactly_the_schedule_and_the_stub_saw_every_request(runs):
    """Planned per second and stage equals the seeded schedule, all started, and the stub saw every request."""
    got = runs("open-incident")
    folder = got["folder"]
    arrivals = _arrivals(folder)
    assert {key: c["planned"] for key, c in arrivals.items()} == _schedule()
    assert all(c["started"] == c["planned"] and c["dropped"] == 0 for c in arrivals.values()), arrivals
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["totals"]["arrivals"] == {"planned": 116, "started": 116, "dropped": 0}
    assert manifest["profile"]["model"] == "open" and manifest["recording"]["latency_corrected"] is True
    assert_folder_reconciled(folder, got["seen"])
    timed = [row for row in _lines(folder, "windows.jsonl") if row["kind"] not in ("cancelled", "refused_target")]
    assert timed and all("hist_due" in row for row in timed), "every timed request has its latency from due"
    verdict = json.loads((folder / "verdict.json").read_text())
    assert verdict["generator"]["dropped_arrivals"] == 0 and not verdict["generator"]["under_driven"]
    assert verdict["summary"]["overall"]["latency_corrected"] is True


def test_slow_checkout_open_model_keeps_the_rate_while_shoppers_pile_up(runs):
    """Against a slow checkout the open model starts every planned arrival on schedule; in-flight grows."""
    folder = runs("open-incident")["folder"]
    arrivals = _arrivals(folder)
    assert {key: c["planned"] for key, c in arrivals.items()} == _schedule()
    assert all(c["started"] == c["planned"] for c in arrivals.values()), "no arrival dropped or late-skipped"
    in_flight = {}
    for sample in _lines(folder, "load.jsonl"):
        if sample["stage"]:
            in_flight[sample["stage"]] = max(in_flight.get(sample["stage"], 0), sample["in_flight_max"])
    # 24 journeys/s of which 80% check out into a pool serving ~8 checkouts/s: shoppers wait seconds each.
    assert in_flight["peak"] > 3 * in_flight["warm"], in_flight


def test_slow_checkout_closed_model_starts_fewer_journeys(runs):
    """The closed twin starts far fewer journeys against the slow checkout than against the fast one."""
    fast, slow = _journeys_started(runs("closed-fixed")["folder"], "peak"), _journeys_started(
        runs("closed-incident")["folder"], "peak")
    assert slow < 0.7 * fast, (slow, fast)
    open_fast, open_slow = (_analysis(runs(name)["folder"])["arrivals"]["stages"]["peak"]["started"]
                            for name in ("open-2-workers", "open-incident"))
    assert open_fast == open_slow == 96, "the open model starts the same 96 journeys either way"


def test_corrected_latency_exceeds_the_send_latency_during_the_stall(runs):
    """During the stall a checkout's time from when it was due is well above its time from the send."""
    folder = runs("open-incident")["folder"]
    for stage in ("peak", "cool"):
        stats = _stage_stats(folder, "POST /checkout", stage)
        assert stats["latency_from_due_ms"]["p95"] > stats["latency_ms"]["p95"] + 500, (stage, stats)
    closed = _analysis(runs("closed-incident")["folder"])
    assert closed["latency_corrected"] is False
    assert closed["overall"]["run"]["latency_from_due_ms"] is None
    assert "not corrected" in (runs("closed-incident")["folder"] / "summary.md").read_text()


def test_a_pool_too_small_drops_arrivals_and_counts_them(runs):
    """--max-in-flight 4 against the slow shop: dropped arrivals per second and stage, planned = started + dropped."""
    folder = runs("open-small-pool")["folder"]
    arrivals = _arrivals(folder)
    assert {key: c["planned"] for key, c in arrivals.items()} == _schedule()
    assert all(c["planned"] == c["started"] + c["dropped"] for c in arrivals.values())
    dropped_in_peak = sum(c["dropped"] for (_, stage), c in arrivals.items() if stage == "peak")
    assert dropped_in_peak > 48, arrivals  # 96 due, 4 shoppers each held ~1 s or more
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["totals"]["arrivals"]["dropped"] == sum(c["dropped"] for c in arrivals.values())
    verdict = json.loads((folder / "verdict.json").read_text())
    assert verdict["generator"]["under_driven"] is True
    assert verdict["generator"]["dropped_arrivals"] == manifest["totals"]["arrivals"]["dropped"]
    check = next(c for c in verdict["checks"] if c["name"] == "arrivals started as planned")
    assert not check["ok"] and "raise --max-in-flight" in check["detail"]
    assert max(sample["in_flight_max"] for sample in _lines(folder, "load.jsonl")) <= 4


def test_two_workers_share_the_schedule_and_its_totals_are_the_schedules(runs):
    """--processes 2: master and two workers start the schedule between them; totals and stub counts match."""
    got = runs("open-2-workers")
    folder = got["folder"]
    arrivals = _arrivals(folder)
    assert {key: c["planned"] for key, c in arrivals.items()} == _schedule()
    assert sum(c["started"] for c in arrivals.values()) == 116
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["status"] == "complete", manifest.get("incomplete_reason")
    assert sorted(w["share"] if "share" in w else None for w in manifest["workers"]) == [[0, 2], [1, 2]]
    assert manifest["totals"]["arrivals"] == {"planned": 116, "started": 116, "dropped": 0}
    assert_folder_reconciled(folder, got["seen"])
    timed = [row for row in _lines(folder, "windows.jsonl") if row["kind"] not in ("cancelled", "refused_target")]
    assert timed and all("hist_due" in row for row in timed), "the workers' latencies from due reach the master"
