"""What the client saw go wrong, per endpoint and when: ``find_symptoms(analysis, verdict) -> Symptoms``.

The client's half of a diagnosis (``reports.diagnosis`` lines the server's half up with it):

- a failing endpoint: one with failures (``reports.analysis`` definitions: any kind but ``ok``,
  ``rate_limited`` and ``cancelled``); its symptom is its most common failure (a status code, else
  the kind: ``timeout``, ``connection_error``, ...), and it began in the first second with one;
- an endpoint with requests and no failure stayed *healthy* unless it *slowed*: its p95 from the
  onset to the end of the trouble at least twice its p95 before the onset, and 50 ms more (a slow
  answer is a symptom too, though not a failure); one with no request before the onset cannot be
  compared and is only said to have had no errors;
- the onset: the earliest of the failing endpoints' first failures and the first failure point of a
  latency or rate objective (a latency objective can break before any request fails; recoveries and
  throughput floors say nothing about when the trouble began); the trouble lasts to the last
  second with a failure (or the onset, for latency alone);
- 429s are the shop shedding load, not failures; they are listed apart (``rate_limited``).

Seconds are the run's 1-s windows: ``t = 8`` is ``[8, 9)``, requests that completed then.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reports.analysis import Analysis
from reports.histograms import percentiles_us
from reports.objectives import format_value
from reports.run_data import FAILURE_EXEMPT_KINDS
from reports.verdict import Verdict

__all__ = ["Symptom", "Symptoms", "find_symptoms", "SLOWED_RATIO", "SLOWED_FLOOR_MS"]

SLOWED_RATIO, SLOWED_FLOOR_MS = 2.0, 50.0
"""An endpoint slowed when its p95 during the trouble was at least twice, and 50 ms above, its p95 before."""


@dataclass(frozen=True)
class Symptom:
    """An endpoint's failures: the most common one, how many, and where they began."""

    endpoint: str
    what: str
    """``504`` or a kind without a status (``timeout``)."""
    count: int
    failures: int
    requests: int
    first_s: int
    stage: str | None
    users: int | None

    @property
    def text(self) -> str:
        """``504s on POST /checkout began at t=8 s (stage peak, 60 users)``."""
        where = ", ".join(part for part in (f"stage {self.stage}" if self.stage else "",
                                            f"{self.users} users" if self.users is not None else "") if part)
        what = f"{self.what}s" if self.what.isdigit() else f"failures ({self.what})"
        return f"{what} on {self.endpoint} began at t={self.first_s} s" + (f" ({where})" if where else "")

    def to_json(self) -> dict:
        """The symptom for ``verdict.json``."""
        return {"endpoint": self.endpoint, "what": self.what, "count": self.count, "failures": self.failures,
                "requests": self.requests, "first_s": self.first_s, "stage": self.stage, "users": self.users,
                "text": self.text}


@dataclass(frozen=True)
class Symptoms:
    """The failing endpoints (most failures first), the healthy ones, and when the trouble began and ended."""

    failing: tuple[Symptom, ...]
    healthy: tuple[str, ...]
    healthy_p99_ms: float | None
    slowed: tuple[tuple[str, float, float], ...]
    """(endpoint, p95 ms before the onset, p95 ms during the trouble) of endpoints without errors that slowed."""
    unjudged: tuple[str, ...]
    """Endpoints without errors and without a request before the onset: not compared."""
    rate_limited: tuple[tuple[str, int, int], ...]
    """(endpoint, 429s, first second) of endpoints that were rate limited."""
    onset_s: int | None
    last_s: int | None
    breach: str | None
    """The verdict's earliest breach, in words, when it came before every failure (or there was none)."""

    @property
    def any(self) -> bool:
        """Something went wrong: a failure, or a breached objective."""
        return self.onset_s is not None

    @property
    def healthy_text(self) -> str:
        """``GET /products, GET /sale stayed healthy (no errors, p99 45 ms); POST /carts had no errors but slowed
        (p95 40 ms -> 1.2 s)``; empty when no endpoint was without errors."""
        parts = []
        if self.healthy:
            p99 = f", p99 {format_value(self.healthy_p99_ms, 'ms')}" if self.healthy_p99_ms is not None else ""
            parts.append(f"{', '.join(self.healthy)} stayed healthy (no errors{p99})")
        if self.slowed:
            parts.append("no errors but slowed: " + ", ".join(
                f"{e} (p95 {format_value(a, 'ms')} -> {format_value(b, 'ms')})" for e, a, b in self.slowed))
        if self.unjudged:
            parts.append(f"no errors on {', '.join(self.unjudged)} (no request before the onset to compare with)")
        return "; ".join(parts)

    def to_json(self) -> dict:
        """The client's view for ``verdict.json``."""
        return {"onset_s": self.onset_s, "last_s": self.last_s, "breach": self.breach,
                "failing": [s.to_json() for s in self.failing], "healthy": list(self.healthy),
                "healthy_p99_ms": self.healthy_p99_ms,
                "slowed": [{"endpoint": e, "p95_before_ms": a, "p95_during_ms": b} for e, a, b in self.slowed],
                "unjudged": list(self.unjudged),
                "rate_limited": [{"endpoint": e, "count": n, "first_s": t} for e, n, t in self.rate_limited]}


def find_symptoms(analysis: Analysis, verdict: Verdict, breaking_point: dict | None = None) -> Symptoms:
    """The run's symptoms, from the analysis, the verdict's first failure points and the capacity's breaking
    point (``reports.capacity``: objectives judged level by level can break before the verdict's scopes do)."""
    failing, quiet, limited = [], [], []
    rows = analysis.data.rows
    for position, endpoint in enumerate(analysis.endpoints):
        counts = analysis.counts(np.array([position]))
        requests, failures = int(counts.requests.sum()), int(counts.failures.sum())
        if counts.rate_limited.any():
            limited.append((endpoint, int(counts.rate_limited.sum()), int(np.flatnonzero(counts.rate_limited)[0])))
        if failures == 0:
            if requests:
                quiet.append(position)
            continue
        mine = rows[(rows["endpoint"] == position) & ~rows["kind"].isin(FAILURE_EXEMPT_KINDS)]
        labels = np.where(mine["status"].to_numpy() > 0, mine["status"].astype(str).to_numpy(),
                          mine["kind"].astype(str).to_numpy())
        by_label = mine.groupby(labels)["count"].sum().sort_values(ascending=False, kind="stable")
        what, count = str(by_label.index[0]), int(by_label.iloc[0])
        first = int(mine[labels == what]["second"].min())
        load = analysis.load_at(first) or {}
        failing.append(Symptom(endpoint, what, count, failures, requests, first, analysis.stage_at(first),
                               load.get("users")))
    failing.sort(key=lambda s: (-s.failures, s.first_s, s.endpoint))
    breaches = [(r.first_failure.t_s, r.name, r.metric, r.first_failure.observed_text) for r in verdict.objectives
                if r.status == "fail" and r.first_failure is not None and r.unit in ("ms", "%")]
    if breaking_point is not None:
        breaches.append((breaking_point["t_s"], breaking_point["objective"], breaking_point["metric"],
                         breaking_point["observed_text"]))
    breach, breach_s = None, None
    if breaches:
        breach_s, name, metric, observed = min(breaches)
        breach = f"{name} first failed at t={breach_s} s ({metric} {observed})"
    starts = [s.first_s for s in failing] + ([breach_s] if breach_s is not None else [])
    onset = min(starts) if starts else None
    if breach_s is not None and failing and breach_s >= min(s.first_s for s in failing):
        breach = None  # the failures already say when it began
    last = None
    if failing:
        everything = analysis.counts(analysis.select(None))
        last = int(np.flatnonzero(everything.failures)[-1])
    if onset is not None:
        last = onset if last is None else max(last, onset)
    healthy, slowed, unjudged = [], [], []
    for position in quiet:
        if onset is None:
            healthy.append(position)
            continue
        group = np.array([position])
        before = analysis.percentile_us(group, 95.0, 0, onset) if onset > 0 else None
        during = analysis.percentile_us(group, 95.0, onset, last + 1)
        if before is None:
            unjudged.append(analysis.endpoints[position])
        elif during is not None and during >= SLOWED_RATIO * before and during - before >= SLOWED_FLOOR_MS * 1000:
            slowed.append((analysis.endpoints[position], before / 1000, during / 1000))
        else:
            healthy.append(position)
    p99 = None
    if healthy:
        latency = analysis.data.latency
        keep = np.isin(latency["endpoint"], healthy)
        value = percentiles_us(latency["bucket"][keep], latency["count"][keep], [99.0])[0]
        p99 = None if value is None else value / 1000
    return Symptoms(tuple(failing), tuple(analysis.endpoints[i] for i in healthy), p99, tuple(slowed), tuple(unjudged),
                    tuple(limited), onset, last, breach)
