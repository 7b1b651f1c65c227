"""Why it broke, from the server's own numbers: ``diagnose(analysis, verdict, series) -> Diagnosis``.

The client's symptoms (``reports.symptoms``: which endpoints failed, how, from when) are lined up
with the server's series recorded on the same clock (``reports.server_series``, names mapped by
``reports.metric_names``). Each suspect is weighed by a rule (``reports._suspects`` for the pool,
the worker threads, the payment provider and the database server; here for the gateway and its
rate limit, which depend on the others):

    gateway timeout   its upstream timeouts fired while no resource or dependency was at its limit
                      (else the 504s only relay that: not indicated); more likely when the app went on
                      to complete the requests the gateway gave up on, and when the app's own time on
                      those endpoints stayed steady (no second's mean above twice the window's): an app
                      answering as it always does, behind a timeout that leaves it no margin
    rate limit        429s; high only when an objective on 429s failed (429s are not errors)

Suspects are ranked by confidence (high, medium, low), ties by the order of ``_suspects.RULES``.
The most likely cause is the first one at medium or above. The summary says, in plain words with
times and numbers, what failed, what the server showed then, the most likely cause and how sure,
what is not indicated and why, and what was not measured. It never guesses: without server metrics
it says it cannot tell beyond the client's view. It informs; the verdict does not depend on it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from reports._suspects import LOOKBACK_S, RULES, Context, Suspect, seconds_text as _s
from reports.analysis import Analysis
from reports.metric_names import SIGNALS
from reports.server_series import ServerSeries, route_key
from reports.symptoms import Symptoms, find_symptoms
from reports.verdict import Verdict

__all__ = ["Diagnosis", "Suspect", "diagnose", "CONFIDENCES"]

CONFIDENCES = ("high", "medium", "low", "not_indicated", "no_data")
_RANK = {name: i for i, name in enumerate(CONFIDENCES)}
_TAIL_S = 2.0
"""Seconds after the last failure that still belong to the trouble (a scrape every second lags a little)."""


@dataclass(frozen=True)
class Diagnosis:
    """The symptoms, the suspects ranked, the most likely cause and the summary in words."""

    status: str
    """``explained`` (a cause at medium or above), ``possible`` (low only), ``unexplained``, ``healthy``
    (nothing failed), ``no_server_metrics`` or ``no_known_metrics``."""
    summary: str
    most_likely: str | None
    symptoms: Symptoms
    suspects: tuple[Suspect, ...]
    signals: dict[str, str]
    notes: tuple[str, ...]
    headline: tuple[str, ...] = ()
    """At most two short lines for the console: the cause and how sure, then when and what the server showed."""

    def to_json(self) -> dict:
        """The diagnosis for ``verdict.json``."""
        return {"status": self.status, "summary": self.summary, "most_likely": self.most_likely,
                "symptoms": self.symptoms.to_json(), "suspects": [s.to_json() for s in self.suspects],
                "signals": dict(self.signals), "notes": list(self.notes)}


def diagnose(analysis: Analysis, verdict: Verdict, series: ServerSeries | None,
             breaking_point: dict | None = None) -> Diagnosis:
    """The diagnosis of a judged run; ``series`` None means the folder had no server metrics.

    ``breaking_point`` is the capacity's (``Capacity.breaking_point``): when given, the trouble may begin there.
    """
    symptoms = find_symptoms(analysis, verdict, breaking_point)
    notes = [f"{c.name}: no ({c.detail})" for c in verdict.checks
             if not c.ok and c.name == "load generator not saturated"]
    client = _client_clause(symptoms)
    if series is None or series.missing or not series.scraped:
        why = (f"no server metrics were recorded ({series.missing if series else 'none given'})"
               if series is None or series.missing else
               "every scrape of the server's metrics failed (see scrape_gap events)")
        return Diagnosis("no_server_metrics", f"{client}. {why[0].upper()}{why[1:]}: no hint beyond the client's "
                         f"view; surgegate cannot tell why.", None, symptoms, (), {}, tuple(notes),
                         (f"why: cannot tell: {why}; no hint beyond the client's view",) if symptoms.any else ())
    signals = {signal: c.text for signal in SIGNALS if (c := series.candidate(signal)) is not None}
    if not signals:
        return Diagnosis("no_known_metrics", f"{client}. Server metrics were recorded, but none under a name "
                         f"surgegate knows ({series.names.source}); map yours with --metric-names FILE. "
                         f"No hint beyond the client's view.", None, symptoms, (), {}, tuple(notes),
                         ("why: cannot tell: no recorded server metric has a name surgegate knows "
                          "(map yours with --metric-names FILE)",) if symptoms.any else ())
    first, stop = (symptoms.onset_s - LOOKBACK_S, symptoms.last_s + 1 + _TAIL_S) if symptoms.any else \
        (0.0, float(analysis.window_count))
    headline = symptoms.failing[0].first_s if symptoms.failing else symptoms.onset_s
    context = Context(series, first, stop, symptoms.onset_s, headline)
    found = [rule(context) for rule in RULES]
    found = _demote_waiting_threads(found)
    found.append(_gateway(context, found, analysis))
    found.append(_rate_limit(context, verdict))
    ranked = tuple(sorted(found, key=lambda s: _RANK[s.confidence]))  # stable: RULES order breaks ties
    notes += _gap_notes(series, context)
    if series.unreadable:
        notes.append(f"{series.unreadable} lines of server_metrics.jsonl were not JSON and were skipped")
    return _conclude(symptoms, ranked, signals, tuple(notes), client)


def _client_clause(symptoms: Symptoms) -> str:
    if not symptoms.any:
        return "No request failed and no objective was breached"
    return symptoms.failing[0].text if symptoms.failing else symptoms.breach


def _demote_waiting_threads(found: list[Suspect]) -> list[Suspect]:
    """Threads all busy while the pool was exhausted are threads waiting for connections: one level down."""
    pool = next(s for s in found if s.key == "db_pool")
    if pool.confidence not in ("high", "medium"):
        return found
    out = []
    for suspect in found:
        if suspect.key == "app_workers" and suspect.confidence in ("high", "medium", "low"):
            lower = {"high": "medium", "medium": "low", "low": "low"}[suspect.confidence]
            suspect = replace(suspect, confidence=lower,
                              why=suspect.why + "; but its threads were waiting for database connections")
        out.append(suspect)
    return out


def _gateway(c: Context, found: list[Suspect], analysis: Analysis) -> Suspect:
    base = dict(key="gateway_timeout", name="the gateway's upstream timeout, too short for the app",
                short="the gateway itself")
    by_route = c.series.increase("gateway_timeouts", by_route=True)
    if by_route is None and c.series.candidate("gateway_timeout_s") is not None:
        by_route = {}  # a labelled counter without samples: none fired (see Context.counter)
    if by_route is None:
        return Suspect(**base, confidence="no_data", why="no gateway upstream-timeout counter")
    per_tick = sum(by_route.values()) if by_route else np.zeros(len(c.t_s))
    fired = float(per_tick[c.mask].sum())
    timeout = f"{_s(c.gateway_timeout_s)} " if c.gateway_timeout_s else ""
    if not fired:
        return Suspect(**base, confidence="not_indicated", why="no upstream timeout")
    cause = next((s for s in found if s.confidence in ("high", "medium")), None)
    if cause is not None:
        return Suspect(**base, confidence="not_indicated",
                       why=f"its {fired:g} upstream timeouts follow {cause.explains_504s}")
    start = c.onset_tick(per_tick > 0, first=True)
    routes = sorted((r for r, v in by_route.items() if v[c.mask].sum() > 0), key=lambda r: -by_route[r][c.mask].sum())
    late = c.counter("gateway_late_ok", sibling="gateway_timeout_s")
    completed = float(late[c.mask].sum()) if late is not None else None
    evidence = [f"the gateway gave up on the app {fired:g} times after its {timeout}upstream timeout, "
                f"from {c.at(start)}"]
    finished = completed is not None and completed * 2 >= fired
    if completed is not None:
        evidence.append(f"the app went on to complete {completed:g} of them successfully, after the gateway "
                        f"had answered 504")
    app = {route_key(r): h for r, h in (c.series.histogram("app_latency", by_route=True) or {}).items()}
    timed = [(r, app[route_key(r)]) for r in routes if route_key(r) in app and app[route_key(r)].count[c.mask].any()]
    steady = False
    if timed:
        count = np.sum([h.count for _, h in timed], axis=0)
        total = np.sum([np.nan_to_num(h.mean_s * h.count) for _, h in timed], axis=0)
        seen = c.mask & (count > 0)
        mean = float(total[seen].sum() / count[seen].sum())
        worst = float((total[seen] / count[seen]).max())
        steady = worst <= 2 * mean
        each = ", ".join(f"{_client_name(r, analysis)} {_s(_mean(h, c.mask))}" for r, h in timed[:3])
        relation = "" if c.gateway_timeout_s is None else \
            f", {'under' if mean < c.gateway_timeout_s else 'over'} the gateway's {_s(c.gateway_timeout_s)} timeout"
        evidence.append(f"the app's own time on the endpoints that timed out averaged {_s(mean)}{relation} ({each}); "
                        f"at most {_s(worst)} in a scrape interval")
    facts = ["upstream timeouts fired while no resource or dependency was at its limit"] + \
        (["the app completed most of those requests anyway"] if finished else []) + \
        (["the app's own time stayed steady: the timeout leaves a normal answer no margin"] if steady else [])
    return Suspect(**base, confidence=c.level(int(finished) + int(steady), c.timely(start)), why="; ".join(facts),
                   onset_s=float(c.t_s[start]), evidence=tuple(evidence),
                   lead=f"{c.relative(start, counted=True)} the gateway began giving up on the app after its "
                        f"{timeout}timeout")


def _mean(histogram, mask: np.ndarray) -> float:
    count = histogram.count[mask].sum()
    return float(np.nansum(histogram.mean_s[mask] * histogram.count[mask]) / count) if count else float("nan")


def _client_name(route: str, analysis: Analysis) -> str:
    """The client's name for a server route (``/carts/{id}`` -> ``GET /carts/[id]``, by parameters blanked)."""
    known = [e for e in analysis.endpoints if route_key(e.split(" ", 1)[1]) == route_key(route)]
    return known[0] if len(known) == 1 else route


def _rate_limit(c: Context, verdict: Verdict) -> Suspect:
    base = dict(key="rate_limit", name="the gateway's rate limit turning shoppers away",
                short="the gateway's rate limit")
    limited = c.counter("gateway_rate_limited", sibling="gateway_timeout_s")
    if limited is None:
        return Suspect(**base, confidence="no_data", why="no rate-limit counter")
    total = float(limited[c.mask].sum())
    if not total:
        return Suspect(**base, confidence="not_indicated", why="no 429")
    start = c.onset_tick(limited > 0, first=True)
    breached = any(r.status == "fail" and "429" in r.metric for r in verdict.objectives)
    return Suspect(**base, confidence="high" if breached else "low",
                   why=f"it answered {total:g} requests 429" + ("; an objective on 429s failed" if breached else
                                                                "; shedding load as designed"),
                   onset_s=float(c.t_s[start]), evidence=(f"{total:g} 429s from {c.at(start)}",),
                   lead=f"{c.relative(start, counted=True)} the gateway's rate limit began answering 429")


def _gap_notes(series: ServerSeries, c: Context) -> list[str]:
    ticks = np.flatnonzero(c.mask)
    if not len(ticks):
        return []
    down = series.down_ticks(int(ticks[0]), int(ticks[-1]) + 1)
    return [f"source {source} was not scraped at {len(missed)} of {len(ticks)} scrapes in the window judged "
            f"(from t={series.t_s[missed[0]]:g} s)" for source, missed in sorted(down.items())]


def _conclude(symptoms: Symptoms, ranked: tuple[Suspect, ...], signals: dict, notes: tuple, client: str) -> Diagnosis:
    indicated = [s for s in ranked if s.confidence in ("high", "medium", "low")]
    cleared = [s for s in ranked if s.confidence == "not_indicated"]
    unmeasured = [s for s in ranked if s.confidence == "no_data"]
    tail = []
    if cleared:
        tail.append("Not indicated: " + ", ".join(f"{s.short} ({s.why})" for s in cleared) + ".")
    if unmeasured:
        tail.append("Not measured: " + ", ".join(f"{s.short} ({s.why})" for s in unmeasured) + ".")
    healthy = symptoms.healthy_text
    if not symptoms.any:
        text = f"{client}: nothing to explain."
        if indicated:
            text += f" Closest to a limit: {indicated[0].short} ({indicated[0].why})."
        return Diagnosis("healthy", " ".join([text, *tail]), None, symptoms, ranked, signals, notes)
    top = indicated[0] if indicated else None
    head = client + (f", {top.lead}" if top is not None and top.lead else "")
    when = head
    if symptoms.breach and symptoms.failing:
        head += f"; an objective broke earlier: {symptoms.breach}"
    head += f"; {healthy}" if healthy else ""
    cleared_names = ", ".join(s.short for s in cleared)
    if top is None:
        body = "No server-side cause found in the recorded metrics."
        status, likely = "unexplained", None
        headline = (f"why: no server-side cause found in the recorded metrics (not indicated: {cleared_names})",)
    elif top.confidence == "low":
        body = f"Possible cause, weakly supported: {top.name} ({top.why})."
        status, likely = "possible", None
        headline = (f"why: possibly {top.name} (low confidence)", f"     {when}")
    else:
        body = f"Most likely cause: {top.name} ({top.confidence} confidence: {top.why})."
        status, likely = "explained", top.key
        headline = (f"why: most likely {top.name} ({top.confidence} confidence)"
                    + (f"; not indicated: {cleared_names}" if cleared else ""), f"     {when}")
    if indicated[1:]:
        body += " Also possible: " + ", ".join(f"{s.name} ({s.confidence}: {s.why})" for s in indicated[1:]) + "."
    return Diagnosis(status, " ".join([f"{head}.", body, *tail]), likely, symptoms, ranked, signals, notes, headline)
