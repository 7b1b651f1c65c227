"""How much load the shop took: ``assess_capacity(analysis, slos, verdict, expected) -> Capacity``.

Load levels. A level is a stretch of at least ``MIN_LEVEL_S`` seconds within one stage during
which the running users equalled the stage's target at both ends of every second (``load.jsonl``,
sampled at the end of each second): ramps are left out, so a level is load held constant. A run
without load samples falls back to whole stages. Each level is measured (users, requests and ok
requests per second, overall and per endpoint, error rate, p95) and judged: every objective of the
SLO file except recoveries (about after a stage) and throughput floors (they measure the load
offered, not what the shop sustained) is judged over the level alone, its stage scope replaced by
the level and its window kept (``reports.objectives``, the verdict's own rules). A level *held*
when at least one objective was judged and none failed; *failed* when one did. Levels after the
first failed one are marked ``after_failure`` and left out below: they carry the backlog of the
failure (the cool-down after a collapse), not the load alone.

    sustainable capacity   the held level with the most users (open model: the highest arrival rate; a
                           lower bound: the truth lies between it and the first failed level)
    breaking point         the earliest second at which an objective failed, judged over a level or as
                           the verdict judged it (recoveries aside), with the stage and load then
    knee                   levels by users: the first step up where latency grew much faster than
                           throughput (see ``find_knee``)
    headroom               the held, reached and breaking loads over the expected peak (``reports.headroom``)

Open-model runs: the pool of in-flight shoppers is the same in every stage, so levels are the stages'
stretches as above, and a level's load is its arrival rate (planned by the stage, and started per
second as ``arrivals.jsonl`` counts them), not its users; the knee orders levels by arrival rate.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from reports.analysis import Analysis
from reports.expected_peak import JULY15_PEAK, ExpectedPeak, Measure
from reports.headroom import Headroom, assess_headroom
from reports.objectives import format_value, judge_objective
from reports.run_data import StageSpan
from reports.slo import Scope, SloSet
from reports.verdict import Verdict

__all__ = ["Capacity", "Level", "Knee", "assess_capacity", "find_knee", "find_levels", "MIN_LEVEL_S",
           "KNEE_ELASTICITY"]

MIN_LEVEL_S = 3
"""Seconds of constant load a level needs: fewer are too few one-second samples to judge."""
KNEE_ELASTICITY = 3.0
"""Latency's growth over throughput's (``d ln p95 / d ln ok/s``) that makes a knee: 3 is where an M/M/1
queue is 75% busy (elasticity = utilisation / (1 - utilisation))."""
KNEE_MIN_GROWTH, KNEE_FLOOR_MS = 1.5, 10.0
"""A knee needs p95 up by half and by 10 ms at least: jitter of a few ms at low latency is not one."""
_NOT_A_BREAK = ("s", "req/s", "arrivals")
"""Units of objectives whose failure says nothing about the load held: recoveries (after a stage), throughput
floors and dropped arrivals (the load offered)."""
KNEE_MIN_REQUESTS = 20
"""An endpoint's p95 at a level needs 20 requests (its 19th slowest), else that level is not on its curve."""


@dataclass(frozen=True)
class Level:
    """A stretch of constant load ``[first_s, stop_s)``, what it carried and whether the objectives held."""

    name: str
    stage: str
    first_s: int
    stop_s: int
    users: int
    requests_per_s: float
    ok_per_s: float
    error_rate_pct: float | None
    p95_ms: float | None
    endpoints: dict[str, dict]
    """``METHOD name`` -> requests, requests_per_s, ok_per_s, p95_ms."""
    status: str = "not_judged"
    judged: int = 0
    failed: tuple[str, ...] = ()
    after_failure: bool = False
    arrival_rate: float | None = None
    """Open model: journeys planned per second in the level's stage; None when closed."""
    arrivals_per_s: float | None = None
    """Open model: journeys started per second in the level (dropped ones not offered); None when closed."""

    @property
    def load(self) -> float:
        """What orders levels: the arrival rate (open model) or the users."""
        return self.arrival_rate if self.arrival_rate is not None else float(self.users)

    @property
    def load_text(self) -> str:
        """``60 users`` or ``24 arrivals/s``."""
        return f"{self.users} users" if self.arrival_rate is None else f"{self.arrival_rate:g} arrivals/s"

    @property
    def text(self) -> str:
        """``60 users (stage peak, 31.2 req/s)`` or ``24 arrivals/s (stage peak, 87 req/s)``."""
        return f"{self.load_text} (stage {self.stage}, {self.requests_per_s:.3g} req/s)"

    def value(self, measure: Measure) -> float | None:
        """This level's load in the measure's unit (None: the endpoint never appeared, or no arrivals)."""
        if measure.unit == "arrivals":
            return self.arrivals_per_s
        if measure.unit == "users":
            return float(self.users)
        if measure.endpoint is None:
            return self.requests_per_s
        matching = [own["requests_per_s"] for name, own in self.endpoints.items()
                    if name == measure.endpoint or name.split(" ", 1)[1] == measure.endpoint]
        return sum(matching) if matching else None


@dataclass(frozen=True)
class Knee:
    """Where latency began to grow much faster than throughput: between ``below`` and ``above``."""

    below: Level | None
    above: Level | None
    endpoint: str | None
    """The endpoint whose p95 bent first (None: every request together)."""
    elasticity: float | None
    """None when throughput did not grow at all (infinite)."""
    text: str


@dataclass(frozen=True)
class Capacity:
    """The levels, the sustainable capacity, the breaking point, the knee and the headroom."""

    levels: tuple[Level, ...]
    sustainable: Level | None
    broke_at: Level | None
    breaking_point: dict | None
    knee: Knee
    expected: ExpectedPeak
    headroom: tuple[Headroom, ...]
    summary: tuple[str, ...]
    """The capacity line, the knee, and a line per comparable headroom measure (the headline first)."""

    def to_json(self) -> dict:
        """Capacity for ``verdict.json``."""
        def level(lv: Level | None) -> str | None:
            return None if lv is None else lv.name
        return {"levels": [{**dataclasses.asdict(lv), "failed": list(lv.failed)} for lv in self.levels],
                "sustainable": level(self.sustainable), "broke_at": level(self.broke_at),
                "breaking_point": self.breaking_point,
                "knee": {"below": level(self.knee.below), "above": level(self.knee.above),
                         "endpoint": self.knee.endpoint, "elasticity": self.knee.elasticity, "text": self.knee.text},
                "expected_peak": self.expected.to_json(),
                "headroom": [h.to_json() for h in self.headroom],
                "summary": list(self.summary)}


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


def find_levels(analysis: Analysis) -> list[tuple[str, int, int, int]]:
    """(stage, first, stop, users) of every stretch of constant load (see the module docstring)."""
    load = analysis.data.load
    count = analysis.window_count
    if not len(load):
        return [(s.name, s.first_window, s.stop_window, s.users) for s in analysis.stages
                if s.window_count >= MIN_LEVEL_S]
    t = load["t"].to_numpy()
    users, target = load["users"].to_numpy(), load["target_users"].to_numpy()

    def sample(at: float) -> int | None:
        position = int(np.abs(t - at).argmin())
        return position if abs(t[position] - at) <= 0.6 else None

    steady = []
    for second in range(count):
        start, end = sample(second), sample(second + 1.0)
        stage = analysis.stage_at(second)
        held = start is not None and end is not None and stage is not None and target[end] > 0 and \
            users[start] == target[start] == users[end] == target[end]
        steady.append((stage, int(target[end])) if held else None)
    levels, start = [], 0
    for second in range(1, count + 1):
        if second < count and steady[second] is not None and steady[second] == steady[start]:
            continue
        if steady[start] is not None and second - start >= MIN_LEVEL_S:
            levels.append((steady[start][0], start, second, steady[start][1]))
        start = second
    return levels


def assess_capacity(analysis: Analysis, slos: SloSet, verdict: Verdict,
                    expected: ExpectedPeak = JULY15_PEAK) -> Capacity:
    """The run's capacity against its SLOs and the expected peak; pure: reads nothing but its arguments."""
    found = find_levels(analysis)
    stages = [stage for stage, *_ in found]
    names = [stage if stages.count(stage) == 1 else f"{stage} #{stages[:i + 1].count(stage)}"
             for i, stage in enumerate(stages)]
    # The levels as the stages of a second analysis of the same rows, so objectives judge them by their own rules.
    spans = tuple(StageSpan(f"level {i}", float(first), float(stop), users, False, first, stop)
                  for i, (_, first, stop, users) in enumerate(found))
    judging = Analysis(dataclasses.replace(analysis.data, stages=spans)) if spans else None
    objectives = [o for o in slos.objectives if o.recovery is None and o.kind not in ("throughput", "dropped")]
    levels, failures = [], []
    for i, ((stage, first, stop, users), name) in enumerate(zip(found, names)):
        results = [r for o in objectives for r in judge_objective(
            judging, dataclasses.replace(o, scope=Scope(stage=f"level {i}", window_s=o.scope.window_s)))]
        failed = [r for r in results if r.status == "fail"]
        failures += [(r.first_failure, r.name, r.metric) for r in failed if r.first_failure is not None]
        levels.append(_measured(analysis, name, stage, first, stop, users, results,
                                after_failure=any(lv.status == "failed" for lv in levels)))
    failures += [(r.first_failure, r.name, r.metric) for r in verdict.objectives
                 if r.status == "fail" and r.first_failure is not None and r.unit not in _NOT_A_BREAK]
    usable = [lv for lv in levels if not lv.after_failure]
    held = [lv for lv in usable if lv.status == "held"]
    sustainable = max(held, key=lambda lv: (lv.load, lv.requests_per_s), default=None)
    broke_at = next((lv for lv in usable if lv.status == "failed"), None)
    point = _breaking_point(analysis, failures)
    knee = find_knee(levels)
    headroom = assess_headroom(expected, usable, sustainable, broke_at, analysis.info.profile_name)
    summary = _summary(levels, sustainable, broke_at, point, knee, headroom)
    return Capacity(tuple(levels), sustainable, broke_at, point, knee, expected, headroom, summary)


def _measured(analysis: Analysis, name: str, stage: str, first: int, stop: int, users: int, results: list, *,
              after_failure: bool) -> Level:
    """A level's load, overall and per endpoint, and its objectives' outcome."""
    stats = analysis.stats(analysis.select(None), first, stop)
    endpoints = {}
    for position, endpoint in enumerate(analysis.endpoints):
        own = analysis.stats(np.array([position]), first, stop)
        endpoints[endpoint] = {"requests": own["requests"], "requests_per_s": own["requests_per_s"] or 0.0,
                               "ok_per_s": own["throughput_rps"] or 0.0,
                               "p95_ms": None if own["latency_ms"] is None else own["latency_ms"]["p95"]}
    failed = tuple(dict.fromkeys(r.name for r in results if r.status == "fail"))
    judged = sum(r.status != "no_data" for r in results)
    arrivals = analysis.arrival_stats(first, stop)
    own_stage = analysis.stage(stage)
    return Level(name, stage, first, stop, users, stats["requests_per_s"] or 0.0, stats["throughput_rps"] or 0.0,
                 stats["error_rate_pct"], None if stats["latency_ms"] is None else stats["latency_ms"]["p95"],
                 endpoints, "failed" if failed else "held" if judged else "not_judged", judged, failed, after_failure,
                 arrival_rate=None if arrivals is None or own_stage is None else own_stage.arrival_rate,
                 arrivals_per_s=None if arrivals is None else arrivals["started_per_s"])


def _breaking_point(analysis: Analysis, failures: list) -> dict | None:
    if not failures:
        return None
    point, name, metric = min(failures, key=lambda f: (f[0].t_s, f[1]))
    return {"t_s": point.t_s, "stage": analysis.stage_at(point.t_s), "users": point.users,
            "target_users": point.target_users, "rps": point.rps, "objective": name, "metric": metric,
            "observed_text": point.observed_text}


def find_knee(levels: list[Level]) -> Knee:
    """The first knee, by load (users, or arrival rate), of every request's p95 or of one endpoint's, against the shop's ok throughput.

    Levels are taken in time order while the load rises (each above every one before: a ramp-down after
    a collapse is not a point of the curve). Between two consecutive levels, the elasticity of latency
    to throughput is ``ln(p95 ratio) / ln(ok/s ratio)``: 0 while latency stays flat as throughput grows,
    1 when both grow alike, infinite when throughput stops growing. A knee is the first step where p95
    grew by at least half and by ``KNEE_FLOOR_MS``, and either throughput did not grow or the elasticity
    reached ``KNEE_ELASTICITY``. An endpoint's p95 counts at levels where it had ``KNEE_MIN_REQUESTS``.
    """
    rising: list[Level] = []
    for level in levels:
        if level.ok_per_s > 0 and (not rising or level.load > rising[-1].load):
            rising.append(level)
    if len(rising) < 2:
        levels = f"{len(rising)} level" + ("" if len(rising) == 1 else "s")
        return Knee(None, None, None, None, f"no knee found: {levels} of rising load, and a knee needs two or more "
                                            f"(the step and capacity profiles step the load up)")
    curves = {None: [(lv, lv.p95_ms) for lv in rising if lv.p95_ms is not None]}
    for endpoint in sorted({e for lv in rising for e in lv.endpoints}):
        curves[endpoint] = [(lv, lv.endpoints[endpoint]["p95_ms"]) for lv in rising if endpoint in lv.endpoints
                            and lv.endpoints[endpoint]["requests"] >= KNEE_MIN_REQUESTS]
    knees, steepest = [], 0.0
    for endpoint, points in curves.items():
        for (below, low), (above, high) in zip(points, points[1:]):
            gained = above.ok_per_s / below.ok_per_s
            elasticity = math.inf if gained <= 1 else math.log(high / low) / math.log(gained)
            if high >= KNEE_MIN_GROWTH * low and high - low >= KNEE_FLOOR_MS and elasticity >= KNEE_ELASTICITY:
                knees.append((above.load, -elasticity, endpoint or "", below, above, low, high, elasticity))
                break
            steepest = max(steepest, elasticity if math.isfinite(elasticity) else 0.0)
    if not knees:
        return Knee(None, None, None, None, f"no knee up to {rising[-1].load_text}: p95 grew at most "
                                            f"{steepest:.2g} times as fast as throughput")
    _, _, endpoint, below, above, low, high, elasticity = min(knees)
    how = "while ok throughput did not grow" if not math.isfinite(elasticity) else \
        f"{elasticity:.2g} times as fast as throughput"
    return Knee(below, above, endpoint or None, _r(elasticity, 2) if math.isfinite(elasticity) else None,
                f"knee between {_between(below, above)}: p95 of {endpoint or 'all requests'} "
                f"{format_value(low, 'ms')} -> {format_value(high, 'ms')} as ok throughput went "
                f"{below.ok_per_s:.3g} -> {above.ok_per_s:.3g} req/s (latency grew {how})")


def _between(below: Level, above: Level) -> str:
    """``20 and 40 users``, or ``6 and 24 arrivals/s``."""
    if below.arrival_rate is None:
        return f"{below.users} and {above.users} users"
    return f"{below.arrival_rate:g} and {above.arrival_rate:g} arrivals/s"


def _summary(levels, sustainable, broke_at, point, knee, headroom) -> tuple[str, ...]:
    if not levels:
        return (f"capacity: cannot tell: no stretch of {MIN_LEVEL_S} s or more at constant load "
                f"(use the step profile)",)
    held = f"held {sustainable.text}" if sustainable else "no level held"
    broke = f"; broke at {broke_at.text}" if broke_at else "; never broke"
    first = f" (first breach at t={point['t_s']} s: {point['objective']})" if point else ""
    lines = [f"capacity: {held}{broke}{first}", knee.text]
    lines += [h.text for h in headroom if h.outcome != "not_comparable" or h.measure.unit == "rps"]
    return tuple(lines)
