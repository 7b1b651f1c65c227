"""The open model's arrival schedule as data (``profiles.schedule``): counts, order, seed, sharing. No sleeping."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest
import yaml

import profiles.schedule
from profiles import load_profile
from profiles.schedule import arrivals, planned_per_second, stage_counts

OPEN = Path(__file__).resolve().parent / "data" / "open.yaml"


def _profile(tmp_path: Path, **changes):
    document = yaml.safe_load(OPEN.read_text())
    document.update(changes)
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return load_profile(path)


def test_planned_arrivals_equal_the_schedules_integral() -> None:
    """tests/data/open.yaml: 2 s x 6 + 4 s x 24 + 2 s x 4 = 116 arrivals, 12, 96 and 8 by stage."""
    profile = load_profile(OPEN)
    assert stage_counts(profile) == [12, 96, 8]
    planned = list(arrivals(profile))
    assert len(planned) == 116 == profile.planned_arrivals
    assert Counter(a.stage_index for a in planned) == {0: 12, 1: 96, 2: 8}


def test_rounding_is_carried_from_stage_to_stage(tmp_path) -> None:
    """Fractions are not lost per stage: 2.5 + 2.5 + 2.5 planned is 3, 2, 3 (cumulative 3, 5, 8 = round(7.5))."""
    stages = [{"name": n, "duration": 1, "arrival_rate": 2.5} for n in ("a", "b", "c")]
    profile = _profile(tmp_path, stages=stages)
    assert stage_counts(profile) == [3, 2, 3]
    assert sum(stage_counts(profile)) == math.floor(profile.planned_arrivals + 0.5)


@pytest.mark.parametrize("kind", ["poisson", "uniform"])
def test_arrivals_are_in_order_inside_their_stage(kind, tmp_path) -> None:
    """Every arrival is due inside its own stage, in time order, numbered 0, 1, 2, ..."""
    profile = _profile(tmp_path, arrivals=kind)
    planned = list(arrivals(profile))
    assert [a.number for a in planned] == list(range(len(planned)))
    assert all(x.due_s <= y.due_s for x, y in zip(planned, planned[1:]))
    for a in planned:
        stage = profile.stages[a.stage_index]
        assert stage.start_s <= a.due_s < stage.end_s


def test_uniform_arrivals_are_evenly_spaced(tmp_path) -> None:
    """uniform: the k-th of n in a stage is due at start + (k + 0.5) x duration / n."""
    profile = _profile(tmp_path, arrivals="uniform")
    warm = [a.due_s for a in arrivals(profile) if a.stage_index == 0]
    assert warm == pytest.approx([(k + 0.5) * 2 / 12 for k in range(12)])


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another(tmp_path) -> None:
    """Deterministic: seed 7 twice is the same arrivals and journeys; seed 8 moves them."""
    first, again = list(arrivals(load_profile(OPEN))), list(arrivals(load_profile(OPEN)))
    assert first == again
    other = list(arrivals(_profile(tmp_path, seed=8)))
    assert len(other) == len(first)
    assert [a.due_s for a in other] != [a.due_s for a in first]


def test_poisson_gaps_look_exponential(tmp_path) -> None:
    """A long 100/s stage: mean gap 10 ms, standard deviation about the mean (exponential), not ~0 (uniform)."""
    profile = _profile(tmp_path, stages=[{"name": "long", "duration": 200, "arrival_rate": 100}])
    due = [a.due_s for a in arrivals(profile)]
    gaps = [b - a for a, b in zip(due, due[1:])]
    mean = sum(gaps) / len(gaps)
    sd = math.sqrt(sum((g - mean) ** 2 for g in gaps) / len(gaps))
    assert len(due) == 20_000
    assert mean == pytest.approx(0.01, rel=0.01)
    assert sd == pytest.approx(mean, rel=0.05)


def test_journeys_follow_the_stage_mix() -> None:
    """The peak's mix is browser 20 / buyer 40 / sniper 40: no abandoner there, and the others in proportion."""
    peak = Counter(a.journey for a in arrivals(load_profile(OPEN)) if a.stage_index == 1)
    assert set(peak) == {"browser", "buyer", "sniper"}
    assert peak["browser"] < peak["buyer"] and peak["browser"] < peak["sniper"]


@pytest.mark.parametrize("processes", [2, 3])
def test_shares_add_up_to_the_schedule(processes) -> None:
    """Processes taking every n-th arrival start exactly the schedule between them, each about 1/n of it."""
    profile = load_profile(OPEN)
    whole = list(arrivals(profile))
    shares = [list(arrivals(profile, share=(i, processes))) for i in range(processes)]
    assert sorted((a for share in shares for a in share), key=lambda a: a.number) == whole
    assert all(abs(len(share) - len(whole) / processes) < 1 for share in shares)


def test_planned_per_second_adds_up_by_second_and_stage() -> None:
    """The per-second plan (what arrivals.jsonl must add up to) sums to the stage counts."""
    per_second = planned_per_second(load_profile(OPEN))
    by_stage = Counter()
    for (second, stage), count in per_second.items():
        by_stage[stage] += count
        assert 0 <= second < 8
    assert by_stage == {0: 12, 1: 96, 2: 8}


def test_a_closed_profile_has_no_schedule() -> None:
    """Asking a closed profile for arrivals is a programming error, said plainly."""
    with pytest.raises(ValueError, match="profile 'july15' is closed"):
        next(arrivals(load_profile("july15")))


def test_module_surface() -> None:
    """__all__ lists the public names, each defined."""
    assert set(profiles.schedule.__all__) == {"Arrival", "arrivals", "planned_per_second", "stage_counts"}
    assert all(hasattr(profiles.schedule, name) for name in profiles.schedule.__all__)
