"""Turn checked fields into the effective ``Profile`` and enforce the plan-wide rules.

The effective plan is what Locust will be asked to play: durations after
``time_scale``, users and spawn rates after ``peak_multiplier``. The rules
that depend on it are checked here, on that plan, in stage order:

1. stage names are unique (SLOs and reports refer to stages by name);
2. at most one stage is ``peak: true``; when none is, the first stage with the most users is the peak;
3. every stage lasts >= 1 replay second, since Locust polls ``tick()`` once a second;
4. the ramp rule: a stage must last at least as long as its own ramp,
   ``|users - previous users| / spawn_rate`` (0 users before the first stage).
   Closed profiles only: an open profile's pool of ``max_in_flight`` shoppers is
   started at once, and its rates change at the stage boundaries exactly;
5. some stage has load: a user (closed) or an arrival rate > 0 (open).

Why rule 4: Locust's ``Runner.shape_worker`` calls ``start()``, which blocks
until the ramp is done, and only then polls ``tick()`` again. A stage shorter
than its ramp is therefore never seen as itself: the next poll already lands
in a later stage. Example, at ``time_scale: 0.02``::

    users
     300 |            ______________  <- wanted: reach 300 in stage 1 (12 s)
         |          /
         |        /    <- 290 users at 5/s = 58 s: stage 1 is over after 12 s,
      10 |______/         Locust is still ramping, stage 2 is started late
         +------+------------+-------> replay seconds
         0      6            18
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from profiles._model import DEFAULT_MAX_IN_FLIGHT, DEFAULT_SEED, Profile, Stage
from profiles._schema import Fields, RawStage

__all__ = ["build_profile"]

MIN_STAGE_S = 1.0
"""Shortest replay stage: Locust's shape worker ticks once a second."""

_EPSILON_S = 1e-9
"""Slack for float products: 100 s * 0.07 is 7.000000000000001, and must count as 7 s."""


@dataclass(frozen=True)
class _Scale:
    """The two knobs applied to the file, with the wording errors use for them."""

    time_scale: float
    multiplier: float

    def after(self) -> str:
        """``after time_scale 0.02`` (``and peak_multiplier 3`` when one was applied)."""
        text = f"after time_scale {self.time_scale:g}"
        return text if self.multiplier == 1 else f"{text} and peak_multiplier {self.multiplier:g}"


MAX_PEAK_MULTIPLIER = 100.0
"""Far beyond what one load generator drives; a typo like 1e3 must not spawn a million users."""


def build_profile(
    checked: dict[str, Any], fields: Fields, *, time_scale: float | None, peak_multiplier: float,
    max_in_flight: int | None = None,
) -> Profile:
    """Apply the overrides to *checked* (from ``Fields.top``) and validate the plan.

    Args:
        checked: the document with every field already checked.
        fields: the error factory bound to the source file.
        time_scale: replaces the file's ``time_scale`` when not None.
        peak_multiplier: factor for every stage's users (rounded half up) and spawn rate,
            or arrival rate (open model).
        max_in_flight: replaces the file's ``max_in_flight`` when not None (open profiles only).

    Returns:
        The effective profile.

    Raises:
        BadInput: an override is out of range, or a plan-wide rule is broken.
    """
    if time_scale is not None:
        time_scale = fields.positive("time_scale override", time_scale, maximum=1.0)
    scale = _Scale(
        time_scale=checked["time_scale"] if time_scale is None else time_scale,
        multiplier=fields.positive("peak_multiplier", peak_multiplier, maximum=MAX_PEAK_MULTIPLIER),
    )
    stages: list[Stage] = []
    real_start_s = 0.0
    for index, raw in enumerate(checked["stages"]):
        stage = _effective(index, raw, real_start_s, scale, checked)
        _check(stage, raw, stages, scale, fields)
        stages.append(stage)
        real_start_s += raw.real_duration_s
    is_open = stages[0].arrival_rate is not None
    if is_open and not any(stage.arrival_rate for stage in stages):
        fields.fail("stages", "every stage has arrival_rate 0: nothing would arrive")
    if not is_open and not any(stage.users for stage in stages):
        fields.fail("peak_multiplier", "leaves no user in any stage", scale.multiplier)
    if max_in_flight is not None:
        if not is_open:
            fields.fail("max_in_flight override", "only for open profiles (stages with arrival_rate);"
                        " this one's stages give users", max_in_flight)
        max_in_flight = fields.integer("max_in_flight override", max_in_flight, minimum=1)
    return Profile(
        name=checked["name"],
        description=checked["description"],
        source=fields.source,
        time_scale=scale.time_scale,
        peak_multiplier=scale.multiplier,
        mix=checked["mix"],
        think_time_s=checked["think_time_s"],
        stages=_with_a_peak(stages),
        arrivals=checked["arrivals"],
        seed=(DEFAULT_SEED if checked["seed"] is None else checked["seed"]) if is_open else None,
        max_in_flight=(max_in_flight or checked["max_in_flight"] or DEFAULT_MAX_IN_FLIGHT) if is_open else None,
    )


def _with_a_peak(stages: list[Stage]) -> tuple[Stage, ...]:
    """The stages, one of them the peak: the one marked ``peak: true``, else the first with the most users
    (open model: the highest arrival rate).

    SLOs are written against "the peak"; a profile that marks none still has one.
    """
    if any(stage.peak for stage in stages):
        return tuple(stages)
    top = max(stages, key=lambda stage: (stage.arrival_rate or 0.0, stage.users, -stage.index))
    return tuple(dataclasses.replace(stage, peak=True) if stage is top else stage for stage in stages)


def _effective(index: int, raw: RawStage, real_start_s: float, scale: _Scale, checked: dict[str, Any]) -> Stage:
    """Scale one stage; both ends come from real offsets so neighbours share a boundary exactly.

    An open stage keeps its arrival rate per replay second (``time_scale`` shortens the
    stage, not the rate: a 15 s surge of 30 journeys/s is still 30/s when replayed in 3 s).
    """
    return Stage(
        index=index,
        name=raw.name,
        start_s=real_start_s * scale.time_scale,
        end_s=(real_start_s + raw.real_duration_s) * scale.time_scale,
        real_duration_s=raw.real_duration_s,
        users=0 if raw.users is None else math.floor(raw.users * scale.multiplier + 0.5),
        spawn_rate=0.0 if raw.spawn_rate is None else raw.spawn_rate * scale.multiplier,
        mix=checked["mix"] if raw.mix is None else raw.mix,
        peak=raw.peak,
        arrival_rate=None if raw.arrival_rate is None else raw.arrival_rate * scale.multiplier,
    )


def _check(stage: Stage, raw: RawStage, before: list[Stage], scale: _Scale, fields: Fields) -> None:
    """Apply rules 1-4 of the module docstring to *stage*, given the stages *before* it."""
    field = f"stages[{stage.index}]"
    for other in before:
        if other.name == stage.name:
            fields.fail(f"{field}.name", f"must be unique, stages[{other.index}] has it too", stage.name)
        if other.peak and stage.peak:
            fields.fail(f"{field}.peak", f"at most one stage may be the peak, stages[{other.index}] already is", True)
    if stage.duration_s < MIN_STAGE_S - _EPSILON_S:
        needed_time_scale = MIN_STAGE_S / raw.real_duration_s
        fix = "lengthen it"
        if needed_time_scale <= 1:
            fix += f" or raise time_scale to >= {_ceil(needed_time_scale)}"
        fields.fail(
            f"{field}.duration",
            f"must last >= {MIN_STAGE_S:g} s {scale.after()} (Locust ticks once a second)"
            f", got {stage.duration_s:.2f} s ({raw.real_duration_s:g} s real)"
            f"; {fix}",
        )
    if stage.arrival_rate is not None:
        return  # rule 4 is the closed model's: an open pool is started at once
    previous_users = before[-1].users if before else 0
    ramp_s = abs(stage.users - previous_users) / stage.spawn_rate
    if ramp_s > stage.duration_s + _EPSILON_S:
        fixes = [f"spawn_rate to >= {_ceil(abs(stage.users - previous_users) / stage.duration_s / scale.multiplier)}"]
        needed_time_scale = scale.time_scale * ramp_s / stage.duration_s
        if needed_time_scale <= 1:
            fixes.append(f"time_scale to >= {_ceil(needed_time_scale)}")
        fields.fail(
            f"{field} ({stage.name!r})",
            f"ramp from {previous_users} to {stage.users} users at {stage.spawn_rate:g}/s takes {ramp_s:.1f} s"
            f" but the stage lasts {stage.duration_s:.1f} s {scale.after()}; raise {' or '.join(fixes)}",
        )


def _ceil(value: float) -> str:
    """Round *value* up to 3 significant digits, so a suggested fix is always enough."""
    digits = 3 - math.floor(math.log10(value)) - 1
    return f"{math.ceil(value * 10**digits - 1e-9) / 10**digits:g}"
