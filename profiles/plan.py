"""The pure plan: what a profile asks for at a given replay second.

``plan_at`` is a function of (profile, elapsed_s) only: no clock, no runner,
no Locust. ``ProfileShape.tick`` calls it once a second with Locust's run
time; tests call it with hand-picked seconds and never sleep, as k6 tests
``RampingVUs`` execution steps as data.

Within a stage the tick's ``users`` is the stage's target, not an
interpolated value: Locust ramps toward it at ``spawn_rate`` itself, and the
ramp rule (``profiles._build``) guarantees it gets there before the stage ends.

In an open profile the users are the pool of ``max_in_flight`` shoppers that
take the arrivals (``locustfiles.open_model``), the same in every stage and
started within a second (``spawn_rate`` = the pool); what changes from stage
to stage is ``arrival_rate``, which the scheduler follows, not Locust.
"""

from __future__ import annotations

from dataclasses import dataclass

from profiles._model import Mix, Profile

__all__ = ["Tick", "plan_at"]


@dataclass(frozen=True)
class Tick:
    """What to run at one instant of the replay, and where in the profile it is.

    Attributes:
        users: target concurrent users (the stage's, after ``peak_multiplier``); open model: the pool.
        spawn_rate: users per second Locust starts or stops on the way there.
        arrival_rate: journeys started per second (open model, after ``peak_multiplier``); None when closed.
        stage_index: 0-based, as ``stages[i]`` in the file.
        stage_name: the stage's unique name.
        elapsed_s: replay seconds since the start.
        stage_elapsed_s: replay seconds since the stage began.
        stage_remaining_s: replay seconds until the next stage (or the end).
        total_s: replay seconds the whole profile lasts.
        remaining_s: replay seconds until the end.
        mix: the stage's journey weights.
        is_peak: whether the stage is the one marked ``peak: true``.
    """

    users: int
    spawn_rate: float
    stage_index: int
    stage_name: str
    elapsed_s: float
    stage_elapsed_s: float
    stage_remaining_s: float
    total_s: float
    remaining_s: float
    mix: Mix
    is_peak: bool
    arrival_rate: float | None = None


def plan_at(profile: Profile, elapsed_s: float) -> Tick | None:
    """Return the tick *elapsed_s* replay seconds into *profile*.

    Args:
        profile: an effective profile from ``load_profile``.
        elapsed_s: replay seconds since the run started, >= 0.

    Returns:
        The tick of the stage holding *elapsed_s* (an instant on a boundary
        belongs to the later stage), or None from ``profile.total_s`` on,
        which makes Locust stop the run by itself.

    Raises:
        ValueError: *elapsed_s* is negative.
    """
    stage = profile.stage_at(elapsed_s)
    if stage is None:
        return None
    pool = profile.max_in_flight if profile.is_open else None
    return Tick(
        users=stage.users if pool is None else pool,
        spawn_rate=stage.spawn_rate if pool is None else float(pool),
        stage_index=stage.index,
        stage_name=stage.name,
        elapsed_s=elapsed_s,
        stage_elapsed_s=elapsed_s - stage.start_s,
        stage_remaining_s=stage.end_s - elapsed_s,
        total_s=profile.total_s,
        remaining_s=profile.total_s - elapsed_s,
        mix=stage.mix,
        is_peak=stage.peak,
        arrival_rate=stage.arrival_rate,
    )
