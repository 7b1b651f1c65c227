"""The console summary at the end of a run, ``render_console(verdict, analysis) -> str``: plain text, short.

One headline, one line per objective (failures first, with where they first failed), the
validity checks that failed, warnings, then what the run says beyond the verdict (it informs,
it never changes it): capacity, the headroom against the expected peak, the knee, and the most
likely cause with when it showed (at most five lines); at most ~80 columns of fixed text plus the names.
Names and messages go through ``safe_text.visible``, so a hostile endpoint name cannot move
the cursor, clear the screen or recolour the terminal.

    surgegate: NOT READY (exit 1): run july15-incident, profile july15, 199 s, 18661 requests
      FAIL  checkout-504-peak-windows: status 504 rate 70.3% (bound <= 0.5%, every 30 s of stage peak)
            first at 6 s in stage peak, 300 users, 75.8 req/s
      pass  browse-p99: p99 70.3 ms (bound <= 1s, run)
      arrivals (open model): 4904 planned, 4611 started, 293 dropped (5.97%); p95 2 s from the send, 3.4 s from due
      capacity: held 8 users (stage step-1, 16 req/s); broke at 24 users (stage step-2, 42 req/s) (...)
      breaks at 0.386x of the July 15 peak (16.2 req/s of POST /checkout) (held up to 0.185x)
      no knee up to 60 users: p95 grew at most 2.9 times as fast as throughput
      why: most likely database connection pool exhaustion (high confidence); not indicated: ...
           504s on POST /checkout began at t=12 s (stage step-3, 60 users), 6 s after the database pool ...
"""

from __future__ import annotations

from reports.analysis import Analysis
from reports.capacity import Capacity
from reports.diagnosis import Diagnosis
from reports.objectives import ObjectiveResult, format_value
from reports.safe_text import visible
from reports.verdict import Verdict

__all__ = ["render_console"]

_LABEL = {"pass": "pass", "fail": "FAIL", "no_data": "NO DATA"}
_ORDER = {"fail": 0, "no_data": 1, "pass": 2}


def _line(result: ObjectiveResult) -> list[str]:
    head = (f"  {_LABEL[result.status]:<7} {visible(result.name)}: {visible(result.metric)} "
            f"{visible(result.observed_text)} (bound {result.comparison} {visible(result.bound_text)}, "
            f"{visible(result.scope)})")
    if result.status == "no_data":
        return [head, f"          {visible(result.detail)}"]
    point = result.first_failure
    if point is None:
        return [head]
    load = f", {point.users} users" if point.users is not None else ""
    rps = f", {point.rps:g} req/s" if point.rps is not None else ""
    return [head, f"          first at {point.t_s} s in stage {visible(point.stage or '-')}{load}{rps}"]


def _arrivals(analysis: Analysis) -> list[str]:
    """Open model: the arrivals and the two p95s of every request; nothing for a closed-model run."""
    arrivals = analysis.arrival_stats(0, analysis.window_count)
    if arrivals is None:
        return []
    run = analysis.summary["overall"]["run"]
    latency = ""
    if run["latency_ms"] is not None and run.get("latency_from_due_ms") is not None:
        latency = (f"; p95 {format_value(run['latency_ms']['p95'], 'ms')} from the send, "
                   f"{format_value(run['latency_from_due_ms']['p95'], 'ms')} from due")
    dropped = f" ({format_value(arrivals['dropped_pct'], '%')})" if arrivals["dropped"] else ""
    return [f"  arrivals (open model): {arrivals['planned']} planned, {arrivals['started']} started, "
            f"{arrivals['dropped']} dropped{dropped}{latency}"]


def render_console(verdict: Verdict, analysis: Analysis, *, capacity: Capacity | None = None,
                   diagnosis: Diagnosis | None = None) -> str:
    """The summary's text, ending in a newline."""
    info = analysis.info
    requests = analysis.summary["overall"]["run"]["requests"]
    lines = [f"surgegate: {verdict.verdict.replace('_', ' ')} (exit {verdict.exit_code}): run {visible(info.run_id)}, "
             f"profile {visible(info.profile_name or '-')}, {analysis.window_count} s, {requests} requests"]
    if verdict.verdict != "NOT_READY":
        lines += [f"  {visible(reason)}" for reason in verdict.reasons]
    for result in sorted(verdict.objectives, key=lambda r: _ORDER[r.status]):
        lines += _line(result)
    lines += [f"  run check failed: {visible(c.name)}: {visible(c.detail)}" for c in verdict.checks if not c.ok]
    lines += [f"  warning: {visible(w)}" for w in verdict.warnings]
    lines += _arrivals(analysis)
    if capacity is not None:
        lines += [f"  {visible(line, 400)}" for line in capacity.summary[:1] + capacity.summary[2:3] +
                  capacity.summary[1:2]]
    if diagnosis is not None:
        lines += [f"  {visible(line, 400)}" for line in diagnosis.headline]
    return "\n".join(lines) + "\n"
