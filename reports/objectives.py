"""One objective judged against an analysis: ``judge_objective(analysis, objective) -> [ObjectiveResult]``.

How each scope is judged (seconds are the run's 1-s windows; see ``reports.run_data``):

- ``run`` or ``{stage: S}``: the whole range as one sample (counts summed, histograms merged).
- ``{window: L}`` (within a stage or the run): every window of L consecutive seconds, sliding by
  1 s; the objective fails when any window breaches, and the worst window is the observed value.
  A stage shorter than L is judged as one window of its own length (stricter, never skipped).
  A short collapse fails here although the whole-run average hides it.
- A range or window with fewer than ``min_requests`` requests of the group is not judged (no
  evidence either way); throughput is judged in every window, since no requests is no throughput.
- Recovery ``{after: S, within: T, window: W}``: windows of W seconds start at each second from the
  end of S to T s after it (those that fit in the run). The rate has recovered at the start of the
  first judged window after which no judged window breaches; it passes when that is within T.
  Not recovered by the last window fails; no window after S is no data.
- No data (no request matched, the stage was never reached, nothing judged, or a metric not
  recorded yet) is a result of its own, ``no_data``: never a pass.

Where it first failed: the first breaching window, and in it the first second whose own value
breaches (else the window's start), with the stage and the load sampled at the end of that second.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from reports.analysis import Analysis
from reports.histograms import meets_bound
from reports.slo import LATENCY_METRICS, Objective

__all__ = ["ObjectiveResult", "FailurePoint", "judge_objective", "format_value"]


@dataclass(frozen=True)
class FailurePoint:
    """Where an objective first failed: the window, the second in it, the stage and the load then."""

    t_s: int
    window_start_s: int
    window_end_s: int
    stage: str | None
    users: int | None
    target_users: int | None
    rps: float | None
    observed: float | None
    observed_text: str


@dataclass(frozen=True)
class ObjectiveResult:
    """An objective's outcome: ``pass``, ``fail`` or ``no_data``, with what was observed against what bound.

    ``observed`` and ``bound`` are in ``unit``: ms (latency), % (rates), req/s (throughput),
    s (recovery time), arrivals (dropped arrivals; % when the bound is a share of the planned ones).
    """

    name: str
    field: str
    endpoint: str
    metric: str
    scope: str
    status: str
    observed: float | None
    observed_text: str
    bound: float
    bound_text: str
    comparison: str
    unit: str
    detail: str
    requests: int
    windows_judged: int | None = None
    windows_failed: int | None = None
    first_failure: FailurePoint | None = None


def _significant(value: float, digits: int) -> str:
    """``value`` to ``digits`` significant digits, never in exponent form: 1234 -> ``1230``, 0.5 -> ``0.5``."""
    return np.format_float_positional(value, precision=digits, unique=False, fractional=False, trim="-")


def format_value(value: float | None, unit: str, digits: int = 3) -> str:
    """``33.6 ms``, ``2 s``, ``59.1%``, ``0.5%``, ``12.3 req/s``, ``1230 req/s``, ``18 s``; ``-`` for None.

    To ``digits`` significant digits (3: what people read; a latency's figure is within 0.05% of the
    value, ``reports.histograms``), rounded before the unit is chosen: 999.68 ms reads ``1 s``.
    """
    if value is None:
        return "-"
    if unit == "ms":
        value = float(_significant(value, digits))
        return f"{_significant(value / 1000, digits)} s" if value >= 1000 else f"{_significant(value, digits)} ms"
    if unit == "%":
        return f"{_significant(value, digits)}%"
    if unit == "req/s":
        return f"{_significant(value, digits)} req/s"
    if unit == "s":
        return f"{value:g} s"
    return f"{value:g} {unit}"


def _unit(objective: Objective) -> str:
    if objective.recovery:
        return "s"
    if objective.metric == "dropped_arrivals" and objective.bound.is_fraction:
        return "%"
    return {"latency": "ms", "rate": "%", "throughput": "req/s"}.get(objective.kind, "arrivals")


def _bound_in_unit(objective: Objective) -> float:
    if objective.recovery:
        return objective.recovery.within_s
    value = objective.bound.value
    if objective.kind == "latency":
        return float(value / 1000)
    if objective.kind == "rate" or objective.bound.is_fraction:
        return float(value * 100)
    return float(value)


def judge_objective(analysis: Analysis, objective: Objective) -> list[ObjectiveResult]:
    """The objective's results: one, or one per matching endpoint with ``per_endpoint``."""
    group = analysis.select(objective.accepts)
    if not objective.per_endpoint or len(group) == 0:
        return [_Judgement(analysis, objective, group, objective.endpoint_label).result()]
    return [_Judgement(analysis, objective, np.array([i]), analysis.endpoints[i],
                       f"{objective.name} [{analysis.endpoints[i]}]").result() for i in group]


class _Judgement:
    def __init__(self, analysis: Analysis, objective: Objective, group: np.ndarray, endpoint: str,
                 name: str | None = None) -> None:
        self.analysis, self.objective, self.group = analysis, objective, group
        self.unit = _unit(objective)
        self.base = ObjectiveResult(
            name=name or objective.name, field=objective.field, endpoint=endpoint,
            metric=f"{objective.metric_label} recovery" if objective.recovery else objective.metric_label,
            scope=objective.where_label, status="no_data", observed=None, observed_text="-",
            bound=_bound_in_unit(objective),
            bound_text=f"{objective.recovery.within_s:g} s" if objective.recovery else objective.bound.text,
            comparison=objective.comparison, unit=self.unit, detail="", requests=0)

    def no_data(self, why: str, **changes) -> ObjectiveResult:
        return replace(self.base, status="no_data", detail=f"no data: {why}", **changes)

    def result(self) -> ObjectiveResult:
        objective, analysis = self.objective, self.analysis
        if objective.metric == "dropped_arrivals":
            return self.dropped_arrivals()
        if len(self.group) == 0:
            return self.no_data(f"no request matched {objective.endpoint_label}")
        self.counts = analysis.counts(self.group)
        if objective.recovery:
            return self.recovery()
        span = self._span()
        if isinstance(span, ObjectiveResult):
            return span
        first, stop = span
        requests = int(self.counts.requests[first:stop].sum())
        if requests == 0:
            return self.no_data(f"no request of {self.base.endpoint} in {objective.scope.label}")
        length = objective.scope.window_s or stop - first
        note = ""
        if length > stop - first:
            note = f"; the range is {stop - first} s, shorter than the {length} s window, so judged as one window"
            length = stop - first
        starts = np.arange(first, stop - length + 1)
        values, judged, passed = self.windows(starts, length)
        return self.outcome(starts, length, values, judged, passed, requests, note)

    def _span(self) -> tuple[int, int] | ObjectiveResult:
        """The windows ``[first, stop)`` the objective's scope covers, or no data when its stage was not reached."""
        analysis, stage_name = self.analysis, self.objective.scope.stage
        if not stage_name:
            return 0, analysis.window_count
        stage = analysis.stage(stage_name)
        if stage.stop_window <= stage.first_window:
            return self.no_data(f"stage {stage.name} was not reached (the run spans {analysis.window_count} s)")
        return stage.first_window, stage.stop_window

    def dropped_arrivals(self) -> ObjectiveResult:
        """Arrivals dropped because every in-flight shopper was busy (open model), by their due second.

        A count (``bound: 0``) or a share of the planned arrivals (``bound: 1%``); the endpoint
        does not matter (an arrival is a journey). Closed-model runs have no schedule: no data.
        """
        objective, analysis = self.objective, self.analysis
        if not analysis.has_arrivals:
            return self.no_data("a closed-model run has no arrival schedule (dropped arrivals are recorded by "
                                "profiles with arrival_rate)")
        span = self._span()
        if isinstance(span, ObjectiveResult):
            return span
        first, stop = span
        counts = analysis.arrival_counts
        planned, dropped = counts["planned"], counts["dropped"]
        total_planned = int(planned[first:stop].sum())
        if total_planned == 0:
            return self.no_data(f"no arrival was planned in {objective.scope.label}")
        length = min(objective.scope.window_s or stop - first, stop - first)
        starts = np.arange(first, stop - length + 1)
        planned_w, dropped_w = _window_sums(planned, starts, length), _window_sums(dropped, starts, length)
        bound = objective.bound.value
        if objective.bound.is_fraction:
            passed = dropped_w * bound.denominator <= bound.numerator * planned_w
            values = np.divide(100.0 * dropped_w, planned_w, out=np.zeros(len(starts)), where=planned_w > 0)
            judged = planned_w > 0
        else:
            passed = dropped_w <= bound
            values, judged = dropped_w.astype(float), np.ones(len(starts), dtype=bool)
        unit = "%" if objective.bound.is_fraction else "arrivals"
        failing = judged & ~passed
        worst = float(values[judged].max())
        windowed = objective.scope.window_s is not None
        what = f"worst of {int(judged.sum())} windows of {length} s" if windowed else f"over {length} s"
        result = replace(self.base, status="fail" if failing.any() else "pass", observed=round(worst, 6),
                         observed_text=format_value(worst, unit), unit=unit,
                         detail=f"{int(dropped[first:stop].sum())} of {total_planned} planned arrivals dropped; {what}",
                         requests=total_planned, windows_judged=int(judged.sum()) if windowed else None,
                         windows_failed=int(failing.sum()) if windowed else None)
        if failing.any():
            start = int(starts[int(np.flatnonzero(failing)[0])])
            moment = start + int(np.flatnonzero(dropped[start:start + length])[0]) if dropped[start:start + length].any() \
                else start
            load = analysis.load_at(moment) or {}
            result = replace(result, first_failure=FailurePoint(
                t_s=moment, window_start_s=start, window_end_s=start + length, stage=analysis.stage_at(moment),
                users=load.get("users"), target_users=load.get("target_users"), rps=load.get("rps"),
                observed=round(float(dropped[moment]), 6),
                observed_text=f"{int(dropped[moment])} of {int(planned[moment])} dropped"))
        return result

    def windows(self, starts: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per window: the value (in ``unit``), whether it was judged, whether it passed."""
        objective, counts = self.objective, self.counts
        requests = _window_sums(counts.requests, starts, length)
        enough = requests >= objective.min_requests
        bound = objective.bound.value
        if objective.kind == "latency":
            values_us = self.analysis.sliding_percentile_us(self.group, LATENCY_METRICS[objective.metric], starts,
                                                            length)
            judged = enough & (values_us >= 0)
            passed = meets_bound(values_us, bound)  # at the histogram's resolution (reports.histograms)
            return values_us / 1000, judged, passed
        if objective.kind == "throughput":
            ok = _window_sums(counts.ok, starts, length)
            passed = ok * bound.denominator >= bound.numerator * length
            return ok / length, np.ones(len(starts), dtype=bool), passed
        numerator = _window_sums(self.numerator(), starts, length)
        passed = numerator * bound.denominator <= bound.numerator * requests
        values = np.divide(100.0 * numerator, requests, out=np.zeros(len(starts)), where=requests > 0)
        return values, enough, passed

    def numerator(self) -> np.ndarray:
        if self.objective.metric == "error_rate":
            return self.counts.failures
        statuses = self.objective.statuses
        return self.analysis.status_counts(self.group, lambda status: any(s.matches(status) for s in statuses))

    def outcome(self, starts, length, values, judged, passed, requests, note) -> ObjectiveResult:
        objective = self.objective
        windowed = objective.scope.window_s is not None
        if not judged.any():
            return self.no_data(f"no {'window' if windowed else 'range'} had {objective.min_requests} or more "
                                f"requests of {self.base.endpoint}", requests=requests)
        failing = judged & ~passed
        values_judged = values[judged]
        worst = float(values_judged.min() if objective.kind == "throughput" else values_judged.max())
        what = f"worst of {int(judged.sum())} windows of {length} s" if windowed else f"over {length} s"
        detail = f"{requests} requests; {what}{note}"
        result = replace(self.base, status="fail" if failing.any() else "pass", observed=round(worst, 6),
                         observed_text=self.observed_text(worst, bool(failing.any())), detail=detail, requests=requests,
                         windows_judged=int(judged.sum()) if windowed else None,
                         windows_failed=int(failing.sum()) if windowed else None)
        if failing.any():
            index = int(np.flatnonzero(failing)[0])
            result = replace(result, first_failure=self.point(int(starts[index]), length, float(values[index])))
        return result

    def point(self, start: int, length: int, value: float) -> FailurePoint:
        """Where the window ``[start, start + length)`` breached: its first breaching second, stage and load."""
        moment = start
        if length > 1:
            per_second, _, passed = self.windows(np.arange(start, start + length), 1)
            requests = self.counts.requests[start:start + length]
            breaching = ~passed & ((requests >= 1) | (self.objective.kind == "throughput"))
            if self.objective.kind == "latency":
                breaching &= per_second >= 0
            if breaching.any():
                moment = start + int(np.flatnonzero(breaching)[0])
        load = self.analysis.load_at(moment) or {}
        return FailurePoint(t_s=moment, window_start_s=start, window_end_s=start + length,
                            stage=self.analysis.stage_at(moment), users=load.get("users"),
                            target_users=load.get("target_users"), rps=load.get("rps"), observed=round(value, 6),
                            observed_text=self.observed_text(value, True))

    def observed_text(self, value: float, failed: bool) -> str:
        """The value as people read it; a latency that breached its bound with the digits that show it above.

        A breaching percentile's bucket lies wholly above the bound, but its figure can round to the
        bound at 3 digits (2,001.408 ms reads ``2 s`` against ``2s``): then 4 (``2.001 s``), or more.
        """
        unit = "ms" if self.objective.kind == "latency" else "req/s" if self.objective.kind == "throughput" \
            else self.unit
        digits = 3
        if failed and self.objective.kind == "latency":
            bound_ms = _bound_in_unit(self.objective)
            while digits < 6 and float(_significant(value, digits)) <= bound_ms:
                digits += 1
        return format_value(value, unit, digits)

    def recovery(self) -> ObjectiveResult:
        objective, analysis = self.objective, self.analysis
        recovery = objective.recovery
        stage = analysis.stage(recovery.after)
        end, count = stage.stop_window, analysis.window_count
        if end <= stage.first_window or end >= count:
            return self.no_data(f"no second of the run after stage {stage.name} ended")
        length = min(recovery.window_s, count - end)
        last_start = min(end + int(recovery.within_s), count - length)
        starts = np.arange(end, last_start + 1)
        values, judged, passed = self.windows(starts, length)
        requests = int(self.counts.requests[end:last_start + length].sum())
        if not judged.any():
            return self.no_data(f"no window after stage {stage.name} had {objective.min_requests} or more requests",
                                requests=requests)
        failing = judged & ~passed
        bound = objective.bound.text
        detail = (f"{requests} requests in {int(judged.sum())} windows of {length} s starting 0 to "
                  f"{int(starts[-1]) - end} s after stage {stage.name} ended")
        if failing[np.flatnonzero(judged)[-1]]:
            index = int(np.flatnonzero(failing)[-1])
            window_from = int(starts[index]) - end
            observed_text = (f"not back under {bound}: still {format_value(float(values[index]), '%')} in the "
                             f"{length} s from {window_from} s after stage {stage.name} ended")
            first_bad = int(np.flatnonzero(failing)[0])
            point = self.point(int(starts[first_bad]), length, float(values[first_bad]))
            return replace(self.base, status="fail", observed=None, observed_text=observed_text, detail=detail,
                           requests=requests, windows_judged=int(judged.sum()), windows_failed=int(failing.sum()),
                           first_failure=point)
        last_bad = np.flatnonzero(failing)
        recovered = int(starts[np.flatnonzero(judged & (np.arange(len(starts)) > last_bad[-1]))[0]]) \
            if len(last_bad) else int(starts[np.flatnonzero(judged)[0]])
        seconds = recovered - end
        status = "pass" if seconds <= recovery.within_s else "fail"
        return replace(self.base, status=status, observed=float(seconds),
                       observed_text=f"back under {bound} {seconds} s after stage {stage.name} ended", detail=detail,
                       requests=requests, windows_judged=int(judged.sum()), windows_failed=int(failing.sum()))


def _window_sums(per_second: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    running = np.concatenate(([0], np.cumsum(per_second)))
    return running[starts + length] - running[starts]
