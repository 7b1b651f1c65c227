"""The typed, already-validated form of a profile: ``Profile``, ``Stage``, ``Mix``, ``ThinkTime``.

Objects here are built only by the parser (``profiles._schema``) and are
frozen, so code past the parser trusts them without re-checking. Times are
*replay* seconds (after ``time_scale``) unless the name says ``real``; user
counts and spawn rates are *effective* (after ``peak_multiplier``).

A profile is a list of back-to-back stages on one replay clock::

    elapsed_s: 0        start_s[1]      start_s[2]         total_s
               |-- stage 0 --|-- stage 1 ----|-- stage 2 ------|
               [start_s, end_s): a boundary instant belongs to the next stage.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

__all__ = ["JOURNEYS", "Mix", "ThinkTime", "Stage", "Profile", "DEFAULT_SEED", "DEFAULT_MAX_IN_FLIGHT"]

JOURNEYS: tuple[str, ...] = ("browser", "abandoner", "buyer", "sniper")
"""The shopper journeys a mix may weigh; the locustfile defines one user class each."""

DEFAULT_SEED = 20240715
"""The arrival schedule's seed when an open profile sets none: the same file gives the same arrivals every run."""

DEFAULT_MAX_IN_FLIGHT = 500
"""In-flight shoppers of an open profile that sets no ``max_in_flight`` (and no ``--max-in-flight``).

By Little's law in-flight = arrival rate x journey time: 500 holds 50 journeys/s
of 10 s each (july15's journeys take about that with 1-5 s pauses), or 25/s
when the shop doubles their time. More arrivals than that are dropped, and
counted as dropped.
"""


@dataclass(frozen=True)
class Mix(Mapping[str, int]):
    """Relative weights of the journeys, read as a mapping ``journey -> weight``.

    Weights are integers because Locust's ``User.weight`` is one; a journey
    absent from the file weighs 0. At least one weight is > 0.
    """

    browser: int = 0
    abandoner: int = 0
    buyer: int = 0
    sniper: int = 0

    def __getitem__(self, journey: str) -> int:
        """Return the weight of *journey*; KeyError for a name not in ``JOURNEYS``."""
        if journey not in JOURNEYS:
            raise KeyError(journey)
        return int(getattr(self, journey))

    def __iter__(self) -> Iterator[str]:
        """Iterate over every journey, in ``JOURNEYS`` order, zero weights included."""
        return iter(JOURNEYS)

    def __len__(self) -> int:
        """Return the number of journeys (always 4)."""
        return len(JOURNEYS)


@dataclass(frozen=True)
class ThinkTime:
    """Pause between two steps of a journey, drawn uniformly in [min_s, max_s].

    Not compressed by ``time_scale``: shortening human pauses would raise the
    request rate of every user and change what the load means.
    """

    min_s: float
    max_s: float


@dataclass(frozen=True)
class Stage:
    """One stage of a profile: ramp toward ``users`` at ``spawn_rate``, then hold (closed model),
    or start ``arrival_rate`` journeys a second whatever the shop does (open model).

    Attributes:
        index: position in the file's ``stages`` list, 0-based (as ``stages[i]`` in errors).
        name: unique within the profile; SLOs and reports refer to stages by it.
        start_s: replay seconds from the start of the run at which the stage begins.
        end_s: replay seconds at which the next stage (or the end) begins.
        real_duration_s: the duration as written in the file, before ``time_scale``.
        users: target concurrent users, after ``peak_multiplier``; 0 in an open stage.
        spawn_rate: users started or stopped per second on the way, after ``peak_multiplier``; 0 in an open stage.
        arrival_rate: journeys started per second, after ``peak_multiplier``; None in a closed stage.
        mix: the stage's own mix, or the profile's when the stage sets none.
        peak: whether this is the stage SLOs call "the peak": the one marked ``peak: true``,
            else the first with the most users (open: the highest arrival rate); exactly one is.
    """

    index: int
    name: str
    start_s: float
    end_s: float
    real_duration_s: float
    users: int
    spawn_rate: float
    mix: Mix
    peak: bool = False
    arrival_rate: float | None = None

    @property
    def duration_s(self) -> float:
        """Replay seconds the stage lasts."""
        return self.end_s - self.start_s


@dataclass(frozen=True)
class Profile:
    """A validated load profile, ready to play; see ``profiles`` for the file schema.

    Attributes:
        name: the ``name`` in the file.
        description: free text from the file ("" when absent).
        source: the file as given (``profiles/spike.yaml`` for a shipped one); errors start with it.
        time_scale: replay seconds per real second that was applied (the override, or the file's).
        peak_multiplier: factor that was applied to every stage's users and spawn rate.
        mix: the profile's default journey mix.
        think_time_s: default think time, or None to let the locustfile decide.
        stages: at least one, back to back from 0 s.
        arrivals: open model only: ``poisson`` or ``uniform`` (see ``profiles.schedule``); None when closed.
        seed: open model only: the arrival schedule's seed (the file's, else ``DEFAULT_SEED``); None when closed.
        max_in_flight: open model only: the pool of in-flight shoppers (``--max-in-flight``, else the file's,
            else ``DEFAULT_MAX_IN_FLIGHT``); None when closed.
    """

    name: str
    description: str
    source: str
    time_scale: float
    peak_multiplier: float
    mix: Mix
    think_time_s: ThinkTime | None
    stages: tuple[Stage, ...]
    arrivals: str | None = None
    seed: int | None = None
    max_in_flight: int | None = None

    @property
    def is_open(self) -> bool:
        """Whether the stages give arrival rates (open model) rather than users (closed model)."""
        return self.stages[0].arrival_rate is not None

    @property
    def model(self) -> str:
        """``open`` or ``closed``, as the manifest and reports write it."""
        return "open" if self.is_open else "closed"

    @property
    def total_s(self) -> float:
        """Replay seconds from start to end; ``plan_at`` returns None from here on."""
        return self.stages[-1].end_s

    @property
    def real_total_s(self) -> float:
        """The span the profile describes, in real (unscaled) seconds."""
        return sum(stage.real_duration_s for stage in self.stages)

    @property
    def peak_users(self) -> int:
        """Most users any stage asks for (open: the in-flight pool): what the load generator must be sized for."""
        if self.is_open:
            return int(self.max_in_flight or 0)
        return max(stage.users for stage in self.stages)

    @property
    def planned_arrivals(self) -> float:
        """Journeys the open schedule starts in all: the integral of the arrival rate (0 when closed)."""
        return sum((stage.arrival_rate or 0.0) * stage.duration_s for stage in self.stages)

    @property
    def peak_stage(self) -> Stage | None:
        """The stage marked ``peak: true``, or None when the file marks none."""
        return next((stage for stage in self.stages if stage.peak), None)

    def stage_at(self, elapsed_s: float) -> Stage | None:
        """Return the stage playing *elapsed_s* replay seconds after the start.

        Args:
            elapsed_s: seconds since the run started, >= 0.

        Returns:
            The stage whose ``[start_s, end_s)`` holds *elapsed_s*, or None at or
            after ``total_s``.

        Raises:
            ValueError: *elapsed_s* is negative (a clock bug in the caller).
        """
        if elapsed_s < 0:
            raise ValueError(f"elapsed_s must be >= 0, got {elapsed_s!r}")
        if elapsed_s >= self.total_s:
            return None
        starts = [stage.start_s for stage in self.stages]
        return self.stages[bisect.bisect_right(starts, elapsed_s) - 1]
