"""Two runs side by side: ``compare_runs(base, current, tolerance_pct) -> Comparison``, and its text.

Both runs are judged by the same SLO file (the yardstick must not move between them), then
compared metric by metric:

- per objective: the observed value (matched by objective name), and pass/fail/no data;
- per endpoint over the whole run: error rate, p50, p95, p99 (lower is better) and ok
  requests per second (higher is better).

A metric is *worse* when it moved the wrong way by more than ``tolerance_pct`` percent of the
base value and by more than the metric's noise floor (``FLOORS``: 10 ms, 0.1 percentage point,
0.1 req/s, 1 s), so that 0 errors -> 1 error in 20,000 is not a regression at any tolerance, nor
a p95 of 6 ms -> 12 ms (two runs of the same build on a shared machine differ that much), but
40 ms -> 250 ms is. An endpoint's percentile is compared only when both runs have enough of its
requests to estimate it (``MIN_REQUESTS``: 20 for p50, 200 for p95, 1,000 for p99); otherwise it
is listed with a note and not judged. An objective that passed in the base and does not now is worse whatever the
numbers; an objective or endpoint in only one run is listed, not judged. Throughput depends on
the load offered, so a comparison of runs of different profiles says so in its notes and does not
judge throughput.

Given each run's capacity (``reports.capacity``), the comparison also has the capacity's changes:
the users held (the sustainable level), and for each endpoint the expected peak is counted in, its
ok requests per second at that level (higher is better; a run that never broke held *at least*
that, and says so). Its ``headline`` is what the change comes to in a few lines, the way a team
would say it: "504s on POST /checkout: 68% -> 0%", "capacity: held 20 users -> at least 300 users",
"POST /checkout at capacity: 0.4 -> 45.2 ok/s (24 -> 2,712 a minute)", and the headroom before and after.
"""

from __future__ import annotations

from dataclasses import dataclass

from reports.analysis import Analysis
from reports.capacity import Capacity
from reports.objectives import format_value
from reports.safe_text import visible
from reports.verdict import Verdict

__all__ = ["Change", "Comparison", "compare_runs", "render_comparison", "FLOORS", "MIN_REQUESTS"]

FLOORS = {"ms": 10.0, "%": 0.1, "req/s": 0.1, "s": 1.0, "arrivals": 1.0, "users": 1.0}
MIN_REQUESTS = {"p50": 20, "p95": 200, "p99": 1000}
_ENDPOINT_METRICS = (("error rate", "%", "lower"), ("p50", "ms", "lower"), ("p95", "ms", "lower"),
                     ("p99", "ms", "lower"), ("ok/s", "req/s", "higher"))


@dataclass(frozen=True)
class Change:
    """One metric of one objective or endpoint, before and after."""

    subject: str
    metric: str
    unit: str
    before: float | None
    after: float | None
    better: str
    """``lower`` or ``higher``."""
    worse: bool
    note: str = ""

    @property
    def delta(self) -> float | None:
        """after - before, in ``unit``; None when either is missing."""
        return None if self.before is None or self.after is None else self.after - self.before


@dataclass(frozen=True)
class Comparison:
    """Every change, and the runs' verdicts."""

    base: tuple[str, str]
    current: tuple[str, str]
    tolerance_pct: float
    objectives: tuple[Change, ...]
    endpoints: tuple[Change, ...]
    notes: tuple[str, ...]
    capacity: tuple[Change, ...] = ()
    headline: tuple[str, ...] = ()

    @property
    def worse(self) -> tuple[Change, ...]:
        """The changes that count as regressions."""
        return tuple(change for change in (*self.objectives, *self.endpoints, *self.capacity) if change.worse)


def _is_worse(before: float | None, after: float | None, unit: str, better: str, tolerance_pct: float) -> bool:
    if before is None or after is None:
        return False
    moved = after - before if better == "lower" else before - after
    return moved > max(abs(before) * tolerance_pct / 100, FLOORS[unit])


def compare_runs(base: tuple[Analysis, Verdict], current: tuple[Analysis, Verdict],
                 tolerance_pct: float, capacities: tuple[Capacity | None, Capacity | None] = (None, None)) -> Comparison:
    """Compare ``current`` with ``base``, each an (analysis, verdict) judged by the same SLOs, and their capacities."""
    (base_analysis, base_verdict), (analysis, verdict) = base, current
    objectives = []
    before_by_name = {result.name: result for result in base_verdict.objectives}
    for result in verdict.objectives:
        old = before_by_name.pop(result.name, None)
        better = "higher" if result.comparison == ">=" else "lower"
        if old is None:
            objectives.append(Change(result.name, result.metric, result.unit, None, result.observed, better, False,
                                     "only in current"))
            continue
        regressed = old.status == "pass" and result.status != "pass"
        unrecovered = old.observed is not None and result.observed is None and result.status == "fail"
        worse = regressed or unrecovered or _is_worse(old.observed, result.observed, result.unit, better,
                                                      tolerance_pct)
        note = f"{old.status} -> {result.status}" if old.status != result.status else result.status
        objectives.append(Change(result.name, result.metric, result.unit, old.observed, result.observed, better,
                                 worse, note))
    objectives += [Change(old.name, old.metric, old.unit, old.observed, None, "lower", False, "only in base")
                   for old in before_by_name.values()]
    endpoints = []
    same_load = (base_analysis.info.profile_name, base_analysis.info.time_scale) == \
        (analysis.info.profile_name, analysis.info.time_scale)
    old_endpoints = {e["endpoint"]: e["run"] for e in base_analysis.summary["endpoints"]}
    for entry in analysis.summary["endpoints"]:
        old = old_endpoints.pop(entry["endpoint"], None)
        for metric, unit, better in _ENDPOINT_METRICS:
            after = _endpoint_value(entry["run"], metric)
            before = None if old is None else _endpoint_value(old, metric)
            note, judged = ("only in current", False) if old is None else ("", True)
            fewest = min(entry["run"]["requests"], old["requests"]) if old is not None else 0
            if judged and fewest < MIN_REQUESTS.get(metric, 0):
                note, judged = f"not judged: {fewest} requests, {MIN_REQUESTS[metric]} needed for {metric}", False
            elif judged and unit == "req/s" and not same_load:
                note, judged = "not judged: different profiles offer different load", False
            endpoints.append(Change(entry["endpoint"], metric, unit, before, after, better,
                                    judged and _is_worse(before, after, unit, better, tolerance_pct), note))
    endpoints += [Change(name, "requests", "requests", float(stats["requests"]), None, "higher", False,
                         "only in base") for name, stats in old_endpoints.items()]
    notes = []
    if not same_load:
        notes.append(f"different profiles ({base_analysis.info.profile_name} x{base_analysis.info.time_scale} vs "
                     f"{analysis.info.profile_name} x{analysis.info.time_scale}): throughput is not comparable")
    capacity = _capacity_changes(*capacities, tolerance_pct)
    headline = (*_504_headline(base_analysis, analysis), *_capacity_headline(*capacities))
    return Comparison((base_analysis.info.run_id, base_verdict.verdict), (analysis.info.run_id, verdict.verdict),
                      tolerance_pct, tuple(objectives), tuple(endpoints), tuple(notes), capacity, headline)


def _held(capacity: Capacity) -> tuple[int, str]:
    """Users held, and how to read the number: a run that never broke held at least that."""
    users = capacity.sustainable.users if capacity.sustainable is not None else 0
    return users, "at least" if capacity.broke_at is None and capacity.sustainable is not None else ""


def _peak_endpoints(capacity: Capacity) -> list[str]:
    return list(dict.fromkeys(m.endpoint for m in capacity.expected.measures if m.endpoint))


def _ok_per_s(capacity: Capacity, endpoint: str) -> float | None:
    """The endpoint's ok requests per second at the sustainable level (0 when no level held)."""
    if capacity.sustainable is None:
        return 0.0
    own = [stats["ok_per_s"] for name, stats in capacity.sustainable.endpoints.items()
           if name == endpoint or name.split(" ", 1)[1] == endpoint]
    return sum(own) if own else None


def _capacity_changes(before: Capacity | None, after: Capacity | None, tolerance_pct: float) -> tuple[Change, ...]:
    if before is None or after is None:
        return ()
    (users_before, bound_before), (users_after, bound_after) = _held(before), _held(after)
    # A lower bound that went down is not a regression: "at least 300" -> "at least 200" only played less load.
    judged = not bound_after
    note = " -> ".join("never broke (at least)" if text else "then broke" for text in (bound_before, bound_after)) \
        if bound_before or bound_after else ""
    changes = [Change("capacity", "users held", "users", float(users_before), float(users_after), "higher",
                      judged and _is_worse(users_before, users_after, "users", "higher", tolerance_pct), note)]
    for endpoint in _peak_endpoints(after):
        old, new = _ok_per_s(before, endpoint), _ok_per_s(after, endpoint)
        changes.append(Change(f"{endpoint} at capacity", "ok/s", "req/s", old, new, "higher",
                              judged and _is_worse(old, new, "req/s", "higher", tolerance_pct), note))
    return tuple(changes)


def _504_headline(base: Analysis, current: Analysis) -> list[str]:
    """The endpoint that had the most 504s (in either run), its share before and after."""
    def shares(analysis: Analysis) -> dict[str, float]:
        return {e["endpoint"]: 100 * e["run"]["statuses"].get("504", 0) / e["run"]["requests"]
                for e in analysis.summary["endpoints"] if e["run"]["requests"]}
    before, after = shares(base), shares(current)
    worst = max((*before.items(), *after.items()), key=lambda item: item[1], default=None)
    if worst is None or worst[1] == 0:
        return []
    name = worst[0]
    return [f"504s on {name}: {format_value(before.get(name), '%')} -> {format_value(after.get(name), '%')}"]


def _capacity_headline(before: Capacity | None, after: Capacity | None) -> list[str]:
    if before is None or after is None:
        return []

    def users(capacity: Capacity) -> str:
        held, bound = _held(capacity)
        return "no level held" if not held else f"{bound} {held} users".strip()
    lines = [f"capacity: held {users(before)} -> {users(after)}".replace("held no level held", "no level held")]
    for endpoint in _peak_endpoints(after):
        old, new = _ok_per_s(before, endpoint), _ok_per_s(after, endpoint)
        if old is not None and new is not None:
            lines.append(f"{endpoint} at capacity: {old:.3g} -> {new:.3g} ok/s "
                         f"({old * 60:,.0f} -> {new * 60:,.0f} a minute)")
    if before.headroom and after.headroom:
        lines.append(f"headroom: {before.headroom[0].text} -> {after.headroom[0].text}")
    return lines


def _endpoint_value(stats: dict, metric: str) -> float | None:
    if metric == "error rate":
        return stats["error_rate_pct"]
    if metric == "ok/s":
        return stats["throughput_rps"]
    return None if stats["latency_ms"] is None else stats["latency_ms"][metric]


def _delta_text(change: Change) -> str:
    if change.delta is None:
        return ""
    sign = "-" if change.delta < 0 else "+"
    size = format_value(abs(change.delta), change.unit)
    text = f"{sign}{size[:-1]}pp" if change.unit == "%" else f"{sign}{size}"
    if change.before:
        text += f" ({100 * change.delta / abs(change.before):+.0f}%)"
    return text


def render_comparison(comparison: Comparison) -> str:
    """Plain text: the runs, each objective's and endpoint's change, and the outcome; ends in a newline."""
    (base_id, base_verdict), (current_id, current_verdict) = comparison.base, comparison.current
    lines = [f"surgegate compare: base {visible(base_id)} ({base_verdict}) -> current {visible(current_id)} "
             f"({current_verdict}); tolerance {comparison.tolerance_pct:g}%"]
    lines += [f"  {visible(line)}" for line in comparison.headline]
    lines += [f"  note: {visible(note)}" for note in comparison.notes]
    for title, changes in (("objectives", comparison.objectives), ("endpoints (whole run)", comparison.endpoints),
                           ("capacity", comparison.capacity)):
        if not changes:
            continue
        lines.append(f"{title}:")
        for change in changes:
            parts = [f"  {visible(change.subject)}: {change.metric} {format_value(change.before, change.unit)} ->",
                     format_value(change.after, change.unit), _delta_text(change), visible(change.note),
                     "WORSE" if change.worse else ""]
            lines.append(" ".join(part for part in parts if part))
    worse = comparison.worse
    lines.append(f"result: worse than base on {len(worse)} metric(s)" if worse else
                 "result: not worse than base beyond the tolerance")
    return "\n".join(lines) + "\n"
