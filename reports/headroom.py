"""How far the run's capacity is from the expected peak: ``assess_headroom(...) -> tuple[Headroom, ...]``.

For each measure of the expected peak (``reports.expected_peak``: users, or requests per second of
an endpoint or of every request), three ratios of the run's load to the peak's:

    held     the sustainable level's load (the held level with the most users)
    broke    the first failed level's load
    reached  the most any level before the first failure carried

and one outcome, in words (ratios to 3 significant digits, compared unrounded):

    survives        held >= 1                       "survives 1.4x the July 15 peak (...); breaks at 2.1x"
    breaks          broke <= 1                      "breaks at 0.6x of the July 15 peak (...) (held up to 0.3x)"
    between         held < 1 < broke                "held up to 0.8x and broke at 1.3x of ...: the peak itself was
                                                     not tested"
    untested        never broke, reached < 1        "not tested up to the July 15 peak (...): reached 0.7x without
                                                     breaking"
    not_comparable  users of another profile than the peak's, an endpoint the run never called, or
                    arrivals per second of a closed-model run (it has no arrival schedule)

A level's load in requests per second is what it was offered and answered (``requests_per_s``, all
statuses): in a closed model a slow shop is offered less, so a failed level's rate is what broke it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from reports.expected_peak import ExpectedPeak, Measure

if TYPE_CHECKING:  # capacity imports this module
    from reports.capacity import Level

__all__ = ["Headroom", "assess_headroom"]


@dataclass(frozen=True)
class Headroom:
    """One measure of the expected peak against the run: ratios of held, reached and breaking load."""

    measure: Measure
    held: float | None
    reached: float | None
    broke: float | None
    outcome: str
    text: str

    def to_json(self) -> dict:
        """The headroom for ``verdict.json`` (ratios to 4 decimals)."""
        def rounded(value: float | None) -> float | None:
            return None if value is None else round(value, 4)
        return {"unit": self.measure.unit, "endpoint": self.measure.endpoint, "expected": self.measure.value,
                "held_ratio": rounded(self.held), "reached_ratio": rounded(self.reached),
                "broke_ratio": rounded(self.broke), "outcome": self.outcome, "text": self.text}


def assess_headroom(expected: ExpectedPeak, levels: list[Level], sustainable: Level | None,
                    broke_at: Level | None, profile_name: str) -> tuple[Headroom, ...]:
    """Every measure of ``expected`` against ``levels`` (those before the first failure, and that one).

    Users of the very profile the peak was counted in say it most directly: they come first then.
    """
    found = [_one(measure, expected, levels, sustainable, broke_at, profile_name) for measure in expected.measures]
    return tuple(sorted(found, key=lambda h: not (h.measure.unit == "users" and h.outcome != "not_comparable"
                                                  and expected.profile is not None)))


def _x(ratio: float) -> str:
    return f"{ratio:.3g}x"


def _one(measure: Measure, expected: ExpectedPeak, levels: list[Level], sustainable: Level | None,
         broke_at: Level | None, profile_name: str) -> Headroom:
    peak = f"{expected.name} ({measure.text})"
    if measure.unit == "users" and expected.profile and profile_name != expected.profile:
        return Headroom(measure, None, None, None, "not_comparable",
                        f"in users: not comparable ({expected.name} counts shoppers of profile {expected.profile}, "
                        f"this run played {profile_name or 'another'})")
    values = [v for v in (level.value(measure) for level in levels) if v is not None]
    if not values:
        why = f"the run has no {measure.endpoint} request" if measure.endpoint else "no load level"
        if measure.unit == "arrivals" and levels:
            why = "the run is closed-model (users, not arrivals)"
        return Headroom(measure, None, None, None, "not_comparable", f"cannot compare with {peak}: {why}")

    def ratio(level: Level | None) -> float | None:
        value = None if level is None else level.value(measure)
        return None if value is None else value / measure.value

    held, broke, reached = ratio(sustainable), ratio(broke_at), max(values) / measure.value
    held_text = f"held up to {_x(held)}" if held is not None else "no level held"
    if held is not None and held >= 1:
        outcome, text = "survives", f"survives {_x(held)} {peak}" + (f"; breaks at {_x(broke)}" if broke else "")
    elif broke is not None and broke <= 1:
        outcome, text = "breaks", f"breaks at {_x(broke)} of {peak} ({held_text})"
    elif broke is not None:
        outcome, text = "between", f"{held_text} and broke at {_x(broke)} of {peak}: the peak itself was not tested"
    else:
        outcome, text = "untested", f"not tested up to {peak}: reached {_x(reached)} without breaking"
    return Headroom(measure, held, reached, broke, outcome, text)
