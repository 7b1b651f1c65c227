"""The checked form of an SLO file: frozen objects that the verdict trusts (see ``reports.slo`` for the grammar)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

from surgegate.errors import BadInput

__all__ = ["SloSet", "Objective", "EndpointPattern", "StatusMatch", "Bound", "Scope", "Recovery", "Generator",
           "StageLike", "LATENCY_METRICS", "METRICS", "HTTP_METHODS"]

LATENCY_METRICS = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p99.9": 99.9, "max": 100.0}
METRICS = (*LATENCY_METRICS, "error_rate", "status_rate", "throughput", "dropped_arrivals")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")

class StageLike(Protocol):
    """What ``load_slo`` needs of a profile's stage (``profiles.Stage`` is one)."""

    name: str
    peak: bool


@dataclass(frozen=True)
class EndpointPattern:
    """One endpoint pattern: an optional method and a name glob."""

    text: str
    method: str | None
    name_glob: str

    @property
    def matches_everything(self) -> bool:
        """``*``: every request."""
        return self.method is None and self.name_glob == "*"

    def matches(self, method: str | None, name: str) -> bool:
        """Whether ``method name`` is one of this pattern's (a None method matches any)."""
        if self.method is not None and method is not None and method != self.method:
            return False
        return _glob_regex(self.name_glob).fullmatch(name) is not None


def _glob_regex(glob: str) -> re.Pattern:
    """``*`` and ``?`` as wildcards, everything else literal (``fnmatch`` would read ``[id]`` as a character class)."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob), re.DOTALL)


@dataclass(frozen=True)
class StatusMatch:
    """A status code (``504``) or class (``5xx``)."""

    text: str

    def matches(self, status: int) -> bool:
        """Whether ``status`` is this code or in this class."""
        if self.text.endswith("xx"):
            return status // 100 == int(self.text[0])
        return status == int(self.text)


@dataclass(frozen=True)
class Bound:
    """A bound as written (``0.5%``) and as an exact number in the metric's base unit.

    Latency: microseconds. Rates: a fraction (``0.5%`` is 1/200). Throughput: requests per second.
    Dropped arrivals: a count, or a fraction when written with ``%`` (``is_fraction``).
    """

    text: str
    value: Fraction
    is_fraction: bool = False


@dataclass(frozen=True)
class Scope:
    """Where an objective is judged: a stage or the run (``stage`` None), as a whole or in sliding windows."""

    stage: str | None = None
    window_s: int | None = None

    @property
    def label(self) -> str:
        """``run``, ``stage peak``, ``every 30 s of stage peak``."""
        where = f"stage {self.stage}" if self.stage else "run"
        return f"every {self.window_s} s of {where}" if self.window_s else where


@dataclass(frozen=True)
class Recovery:
    """After stage ``after`` ends, the rate is back under its bound within ``within_s`` (windows of ``window_s``)."""

    after: str
    within_s: float
    window_s: int

    @property
    def label(self) -> str:
        """``after stage peak, 10 s windows``."""
        return f"after stage {self.after}, {self.window_s} s windows"


@dataclass(frozen=True)
class Generator:
    """When the load generator counts as saturated: CPU at or above ``max_cpu_percent`` for ``sustained_s``."""

    max_cpu_percent: float = 90.0
    sustained_s: float = 5.0


@dataclass(frozen=True)
class Objective:
    """One objective, checked; ``field`` is its place in the file (``objectives[2]``) for errors at judge time."""

    name: str
    field: str
    endpoints: tuple[EndpointPattern, ...]
    metric: str
    bound: Bound
    statuses: tuple[StatusMatch, ...] = ()
    scope: Scope = Scope()
    recovery: Recovery | None = None
    per_endpoint: bool = False
    min_requests: int = 1

    @property
    def kind(self) -> str:
        """``latency``, ``rate``, ``throughput`` or ``dropped``."""
        if self.metric in LATENCY_METRICS:
            return "latency"
        return {"error_rate": "rate", "status_rate": "rate", "throughput": "throughput"}.get(self.metric, "dropped")

    @property
    def endpoint_label(self) -> str:
        """The patterns as written, or ``*`` for every request."""
        return ", ".join(p.text for p in self.endpoints) if self.endpoints else "*"

    @property
    def metric_label(self) -> str:
        """``p95``, ``error rate``, ``status 504 rate``, ``throughput``."""
        if self.metric == "status_rate":
            return f"status {'/'.join(s.text for s in self.statuses)} rate"
        return self.metric.replace("_", " ")

    @property
    def comparison(self) -> str:
        """``>=`` for throughput, ``<=`` for everything else."""
        return ">=" if self.metric == "throughput" else "<="

    @property
    def where_label(self) -> str:
        """The scope or recovery, in words."""
        return self.recovery.label if self.recovery else self.scope.label

    def accepts(self, method: str, name: str) -> bool:
        """Whether a request to ``method name`` is in this objective's group."""
        return not self.endpoints or any(p.matches(method, name) for p in self.endpoints)

    def stage_names(self) -> tuple[tuple[str, str], ...]:
        """(field, stage name) of every stage this objective refers to."""
        if self.recovery:
            return ((f"{self.field}.recovery.after", self.recovery.after),)
        return ((f"{self.field}.scope.stage", self.scope.stage),) if self.scope.stage else ()


@dataclass(frozen=True)
class SloSet:
    """A checked SLO file."""

    source: str
    objectives: tuple[Objective, ...]
    generator: Generator = Generator()

    def check_stages(self, stages: Sequence[StageLike], profile_name: str = "the profile") -> None:
        """Every stage an objective names exists in ``stages`` (``peak``: by name, else the one marked peak).

        Raises:
            BadInput: ``slo.yaml: objectives[0].scope.stage: no stage 'peek' in july15 (stages: ...)``.
        """
        names = [stage.name for stage in stages]
        for objective in self.objectives:
            for field, name in objective.stage_names():
                if name in names or (name == "peak" and any(stage.peak for stage in stages)):
                    continue
                close = difflib.get_close_matches(name, names, n=1)
                hint = f", did you mean {close[0]!r}?" if close else ""
                raise BadInput(f"{self.source}: {field}: no stage {name!r} in {profile_name} "
                               f"(stages: {', '.join(names) or 'none'}){hint}")
