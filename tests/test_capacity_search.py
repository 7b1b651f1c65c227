"""The capacity search (``stop_on_breach`` profiles): real Locust against the real stub.

``tests/data/search.yaml`` steps 8, 24, 60 and 80 sale-heavy shoppers, 5 s each. Against ``incident``
(a pool serving ~8 checkouts/s) step-1 holds, step-2 (~10 checkouts/s offered) breaks on an unloaded
machine and may just hold on a busy one, and step-3 (~26/s) always breaks: the run must stop by itself
at the first level that broke, a second or two into the next step at most, never reach step-4, be
complete rather than interrupted, and report the capacity. Against ``fixed`` nothing breaks: the
search runs to its bound, the profile's end.
"""

from __future__ import annotations

import json
from pathlib import Path

from profiles import load_profile
from target_stub.process import StubProcess
from tests._locust import REPO, run_locust

SEARCH = REPO / "tests" / "data" / "search.yaml"
SEARCH_OPEN = REPO / "tests" / "data" / "search-open.yaml"


def _search(tmp_path: Path, preset: str, profile: Path = SEARCH):
    stub = StubProcess(preset).start()
    try:
        run = run_locust("--headless", "--profile", str(profile), "--host", stub.url, "--stop-timeout", "20",
                         "--results-dir", str(tmp_path), "--run-id", preset, "--only-summary",
                         "--metrics-url", "none")
    finally:
        assert stub.stop() == 0
    folder = tmp_path / preset
    assert (folder / "verdict.json").is_file(), run.stdout[-3000:] + run.stderr[-3000:]
    read = lambda name: json.loads((folder / name).read_text())  # noqa: E731
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    load = [json.loads(line) for line in (folder / "load.jsonl").read_text().splitlines()]
    return run, read("manifest.json"), read("verdict.json"), events, load


def _lines(folder: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in (folder / name).read_text().splitlines()]


def test_search_stops_at_the_first_level_that_breaks(tmp_path):
    profile = load_profile(SEARCH)
    run, manifest, verdict, events, load = _search(tmp_path, "incident")
    stop = manifest["search_stop"]
    assert run.code == 1, run.stderr[-3000:]
    assert manifest["status"] == "complete" and manifest["interrupted"] is False
    stages = {stage.name: stage for stage in profile.stages}
    assert stop["level"] in ("step-2", "step-3") and stop["users"] == stages[stop["level"]].users, stop
    broke, following = stages[stop["level"]], profile.stages[stages[stop["level"]].index + 1]
    # Stopped by itself inside its bounds: just after the level's stage ended (a few seconds into the next step at
    # most), before the profile's end; nothing planned after the stop, the step after the next never reached.
    assert broke.end_s <= stop["at_s"] <= broke.end_s + 4 and manifest["elapsed_s"] < profile.total_s - 1, stop
    assert max(row["target_users"] for row in load) <= following.users
    assert max(row["users"] for row in load) <= following.users
    assert all(row["target_users"] == 0 for row in load if row["t"] > stop["at_s"])
    assert [e for e in events if e["event"] == "search_stop"][0]["level"] == stop["level"]
    # The verdict and the capacity say the same: NOT READY, held the step before, broke at this one.
    assert verdict["verdict"] == "NOT_READY" and verdict["exit_code"] == 1
    assert any(r.startswith("capacity search stopped at") and stop["level"] in r for r in verdict["reasons"])
    played = next(c for c in verdict["checks"] if c["name"] == "played to the end")
    assert played["ok"] and "stopped by its capacity search" in played["detail"], played
    capacity = verdict["capacity"]
    held = profile.stages[broke.index - 1].name
    assert (capacity["sustainable"], capacity["broke_at"]) == (held, stop["level"]), capacity["summary"]
    assert verdict["run"]["search_stop"]["level"] == stop["level"]


def test_search_that_never_breaks_plays_to_its_bound(tmp_path):
    total_s = load_profile(SEARCH).total_s
    run, manifest, verdict, events, load = _search(tmp_path, "fixed")
    assert "search_stop" not in manifest and not [e for e in events if e["event"] == "search_stop"]
    assert manifest["status"] == "complete" and manifest["elapsed_s"] >= total_s - 1
    assert max(row["target_users"] for row in load) == 80
    assert verdict["capacity"]["broke_at"] is None and verdict["capacity"]["sustainable"] == "step-4", verdict
    assert run.code == verdict["exit_code"] and verdict["verdict"] != "NOT_READY", verdict["reasons"]


def test_open_search_stops_at_the_first_level_that_breaks_and_plans_no_arrival_after(tmp_path):
    """An open profile searches too: its levels are arrival rates, and after the stop no arrival is planned."""
    profile = load_profile(SEARCH_OPEN)
    run, manifest, verdict, events, load = _search(tmp_path, "incident", SEARCH_OPEN)
    stop = manifest["search_stop"]
    assert run.code == 1, run.stderr[-3000:]
    assert manifest["status"] == "complete" and manifest["interrupted"] is False
    assert stop["level"] == "step-2", stop  # 30 arrivals/s offer three times the pool's checkouts
    step_2 = profile.stages[1]
    assert step_2.end_s <= stop["at_s"] <= step_2.end_s + 4 and manifest["elapsed_s"] < profile.total_s - 1, stop
    arrivals = _lines(tmp_path / "incident", "arrivals.jsonl")
    # Nothing planned after the stop: the last second with planned arrivals is the one the search stopped in.
    assert max(row["t"] for row in arrivals if row["planned"]) <= stop["at_s"], arrivals[-5:]
    assert sum(row["planned"] for row in arrivals if row["stage"] == "step-1") > 0
    totals = manifest["totals"]["arrivals"]
    assert totals["planned"] == totals["started"] + totals["dropped"] > 0, totals
    assert verdict["verdict"] == "NOT_READY" and any(r.startswith("capacity search stopped at") and "step-2" in r
                                                     for r in verdict["reasons"]), verdict["reasons"]
    capacity = verdict["capacity"]
    assert (capacity["sustainable"], capacity["broke_at"]) == ("step-1", "step-2"), capacity["summary"]
