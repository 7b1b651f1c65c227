r"""The open model's arrival schedule: when each journey is due, as pure data from (profile, seed).

``arrivals(profile)`` yields every planned ``Arrival`` in time order: its
global number, the replay second it is due at, its stage and its journey.
No clock and no Locust: ``locustfiles.open_model`` sleeps until each one is
due; tests read the schedule as data and never sleep.

How many: stage ``i`` gets ``round(C_i) - round(C_{i-1})`` arrivals, where
``C_i`` is the integral of the rate up to the end of stage ``i``, so the
planned total is the schedule's integral rounded (rounding is carried from
stage to stage, never lost), whatever the seed::

    rate (journeys/s)
     5.5 |        +-----------------+
         |        |   20 s x 5.5    |
       2 +--------+     = 110       |
         | 10 x 2 |                 |
       0 +--------+-----------------+-----+--> replay seconds
         0        10                30    35     planned: 20, 110, 0 = 130

Where, inside a stage of ``n`` arrivals over ``[start_s, end_s)``:

* ``poisson`` (default): a Poisson process given its count, which is ``n``
  independent uniform points, sorted; gaps are then exponential (bursty, as
  independent shoppers are). The points are drawn already sorted, one at a
  time (the next of ``m`` remaining after ``x`` is ``x + (1 - x)(1 - U^(1/m))``),
  so memory stays flat however long the stage.
* ``uniform``: evenly spaced, the ``k``-th at ``start_s + (k + 0.5) x duration / n``.

Which journey: drawn from the stage's mix, per arrival, from the same seed.
Each stage has its own generator (seeded from the seed and the stage's
index), so a stage's arrivals do not depend on the stages before it.

Shared among processes (distributed mode): process ``w`` of ``n`` takes the
arrivals whose number ``k`` has ``k % n == w``; together they start exactly
the schedule, each about ``1/n`` of it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from profiles._model import Profile

__all__ = ["Arrival", "arrivals", "planned_per_second", "stage_counts"]


@dataclass(frozen=True, slots=True)
class Arrival:
    """One planned journey start."""

    number: int
    """0-based position in the whole schedule (all processes), in time order."""
    due_s: float
    """Replay seconds after the run's start at which the journey is due to begin."""
    stage_index: int
    journey: str


def stage_counts(profile: Profile) -> list[int]:
    """Arrivals planned in each stage: the rate's integral, rounded half up cumulatively."""
    counts, integral, before = [], 0.0, 0
    for stage in profile.stages:
        integral += (stage.arrival_rate or 0.0) * stage.duration_s
        total = math.floor(integral + 0.5 + 1e-9)  # 1e-9: 0.1 x 35 is 3.5000000000000004, and 7 x 0.5 must be 4
        counts.append(total - before)
        before = total
    return counts


def arrivals(profile: Profile, *, share: tuple[int, int] = (0, 1)) -> Iterator[Arrival]:
    """Every planned arrival of an open *profile*, in time order; *share* = (process, processes).

    Raises:
        ValueError: the profile is closed, or *share* is not ``0 <= process < processes``.
    """
    if not profile.is_open:
        raise ValueError(f"profile {profile.name!r} is closed: it has users, not an arrival schedule")
    process, processes = share
    if not 0 <= process < processes:
        raise ValueError(f"share must be (process, processes) with 0 <= process < processes, got {share!r}")
    number = 0
    for stage, count in zip(profile.stages, stage_counts(profile), strict=True):
        rng = random.Random(f"{profile.seed}:{stage.index}")
        names = [name for name in stage.mix if stage.mix[name] > 0]
        weights = [stage.mix[name] for name in names]
        for offset in _offsets(profile.arrivals or "poisson", count, rng):
            journey = rng.choices(names, weights)[0]
            if number % processes == process:
                yield Arrival(number, stage.start_s + offset * stage.duration_s, stage.index, journey)
            number += 1


def _offsets(kind: str, count: int, rng: random.Random) -> Iterator[float]:
    """``count`` sorted points in [0, 1): uniform order statistics (poisson) or evenly spaced."""
    if kind == "uniform":
        for k in range(count):
            yield (k + 0.5) / count
        return
    x = 0.0
    for remaining in range(count, 0, -1):
        x += (1.0 - x) * (1.0 - rng.random() ** (1.0 / remaining))
        yield min(x, math.nextafter(1.0, 0.0))


def planned_per_second(profile: Profile) -> dict[tuple[int, int], int]:
    """Planned arrivals by (replay second, stage index): what ``arrivals.jsonl`` must add up to."""
    out: dict[tuple[int, int], int] = {}
    for arrival in arrivals(profile):
        key = (math.floor(arrival.due_s), arrival.stage_index)
        out[key] = out.get(key, 0) + 1
    return out
