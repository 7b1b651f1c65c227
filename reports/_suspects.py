"""The rules that weigh each suspect against the server's series (``reports.diagnosis`` ranks them).

Each rule looks at the ticks of the trouble window (from ``LOOKBACK_S`` before the symptoms' onset
to 2 s after the last failure; the whole run when nothing failed) and returns a ``Suspect``:

    confidence   high | medium | low | not_indicated | no_data
    required     the condition without which the suspect is not indicated at all (a resource at its
                 limit, a dependency slow, a timeout that fired)
    supporting   facts that make it more likely; each one raises the confidence by a level:
                 required alone = low, + 1 = medium, + 2 = high
    timely       the condition began no later than ``slack_s`` after the symptoms' onset; if not,
                 the confidence is at most low (a consequence, more likely than a cause)

Thresholds, relative to the gateway's upstream timeout when the run exposes it (the stub's: 2 s),
because that is the patience that turns slowness into 504s:

    at its limit         in use >= limit (pool), busy >= threads (workers), connections >= 90% of
                         max_connections (PostgreSQL: a few are reserved for superusers)
    not indicated        at most 80% of the limit and nobody waited (mean wait under 10 ms, or
                         nothing pending); a dependency's mean under 10% of the gateway timeout
    slow                 a mean of at least half the gateway timeout (1 s when it is unknown)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reports.server_series import ServerSeries

__all__ = ["Suspect", "Context", "LOOKBACK_S", "RULES", "seconds_text"]

LOOKBACK_S = 10.0
NEAR_FULL = 0.8
DB_NEAR_LIMIT = 0.9
SLOW_SHARE, FLAT_SHARE = 0.5, 0.1
SLOW_UNKNOWN_S, FLAT_UNKNOWN_S = 1.0, 0.2
WAIT_NEGLIGIBLE_S = 0.01
_LEVELS = ("low", "medium", "high")


@dataclass(frozen=True)
class Suspect:
    """One possible cause, how confident the evidence makes it, and the evidence in words."""

    key: str
    name: str
    """As a cause: ``database connection pool exhaustion``."""
    short: str
    """As a component: ``the database connection pool``."""
    confidence: str
    why: str
    onset_s: float | None = None
    lead: str = ""
    """A clause placing the condition against the symptoms: ``1 s after the database pool reached 5/5 in use``."""
    evidence: tuple[str, ...] = ()
    explains_504s: str = ""
    """Why the gateway's timeouts follow from it: ``connection waits over its 2 s timeout``."""

    def to_json(self) -> dict:
        """The suspect for ``verdict.json``."""
        return {"key": self.key, "name": self.name, "short": self.short, "confidence": self.confidence,
                "why": self.why, "onset_s": self.onset_s, "lead": self.lead, "evidence": list(self.evidence)}


def seconds_text(seconds: float) -> str:
    """``3.38 µs``, ``36 ms``, ``2.41 s``: 3 significant digits."""
    if seconds < 0.001:
        return f"{seconds * 1e6:.3g} µs"
    return f"{seconds * 1000:.3g} ms" if seconds < 1 else f"{seconds:.3g} s"


class Context:
    """What every rule needs: the series, the trouble window's ticks, the onset, the gateway's timeout."""

    def __init__(self, series: ServerSeries, first_s: float, stop_s: float, onset_s: float | None,
                 headline_s: float | None = None) -> None:
        self.series = series
        self.t_s = series.t_s
        self.mask = (self.t_s >= first_s) & (self.t_s <= stop_s)
        self.onset_s = onset_s
        """When the symptoms began: conditions must begin by then (plus ``slack_s``) to be causes."""
        self.headline_s = onset_s if headline_s is None else headline_s
        """When the headline symptom began: what ``relative`` words are relative to."""
        timeout = series.gauge("gateway_timeout_s")
        known = timeout[~np.isnan(timeout)] if timeout is not None else np.array([])
        self.gateway_timeout_s = float(known.max()) if len(known) else None
        self.slack_s = series.interval_s + (self.gateway_timeout_s or 2.0)
        self.slow_s = SLOW_SHARE * self.gateway_timeout_s if self.gateway_timeout_s else SLOW_UNKNOWN_S
        self.flat_s = FLAT_SHARE * self.gateway_timeout_s if self.gateway_timeout_s else FLAT_UNKNOWN_S

    def counter(self, signal: str, sibling: str) -> np.ndarray | None:
        """A counter's increases; zeros when it has no sample but ``sibling`` (same component) does.

        Labelled counters have no sample until their first increment: a gateway that exposes its timeout
        but no upstream-timeout sample has had no upstream timeout.
        """
        found = self.series.increase(signal)
        if found is None and self.series.candidate(sibling) is not None:
            return np.zeros(len(self.t_s))
        return found

    def at(self, tick: int) -> str:
        """``t=7 s``."""
        return f"t={self.t_s[tick]:g} s"

    def relative(self, tick: int, *, counted: bool = False) -> str:
        """``2 s after`` / ``at the same second as`` / ``3 s before``: the headline symptom against the condition.

        ``counted``: the condition is a count (a counter's increase, histogram observations) that the scrape at
        ``tick`` found, so it happened during the interval before it; it is placed at the interval's start.
        """
        if self.headline_s is None:
            return "when"
        gap = self.headline_s - (self.t_s[tick] - (self.series.interval_s if counted else 0.0))
        if abs(gap) < 0.5:
            return "at the same second as"
        return f"{abs(gap):g} s {'after' if gap > 0 else 'before'}"

    def timely(self, tick: int) -> bool:
        """The condition at ``tick`` began no later than ``slack_s`` after the onset."""
        return self.onset_s is None or self.t_s[tick] <= self.onset_s + self.slack_s

    def onset_tick(self, flags: np.ndarray, *, first: bool = False) -> int:
        """Where the condition ``flags`` (within the window) began: the start of the stretch in progress at the
        onset (the last one begun by then), else of the first one after it; ``first``: its first tick."""
        ticks = np.flatnonzero(flags & self.mask)
        starts = [int(t) for i, t in enumerate(ticks) if i == 0 or ticks[i - 1] != t - 1]
        if first or self.onset_s is None:
            return starts[0]
        begun = [t for t in starts if self.t_s[t] <= self.onset_s]
        return begun[-1] if begun else starts[0]

    @staticmethod
    def level(supporting: int, timely: bool) -> str:
        """low / medium / high from the supporting facts, at most low when not timely."""
        return _LEVELS[min(supporting, 2)] if timely else "low"


def _peak(values: np.ndarray, mask: np.ndarray) -> tuple[int, float] | None:
    """(tick, value) of the largest value under ``mask``: the first tick that reaches it, to 9 significant digits
    (a mean of differences of cumulative sums carries rounding noise that must not pick a later tick)."""
    usable = mask & ~np.isnan(values)
    if not usable.any():
        return None
    top = float(values[usable].max())
    tick = int(np.flatnonzero(usable & (values >= top - abs(top) * 1e-9))[0])
    return tick, top


def pool(c: Context) -> Suspect:
    """Database connection pool exhaustion: in use at the limit, requests waiting, waits near the gateway's timeout."""
    base = dict(key="db_pool", name="database connection pool exhaustion", short="the database connection pool")
    in_use, limit = c.series.gauge("pool_in_use"), c.series.gauge("pool_max")
    if in_use is None or limit is None:
        return Suspect(**base, confidence="no_data", why="no pool gauges (connections in use, the pool's limit)")
    pending, wait = c.series.gauge("pool_pending"), c.series.histogram("pool_wait")
    timeouts = c.series.increase("pool_timeouts")
    seen = c.mask & ~np.isnan(in_use) & ~np.isnan(limit)
    if not seen.any():
        return Suspect(**base, confidence="no_data", why="the pool was not scraped during the trouble")
    top = _peak(in_use / np.where(limit > 0, limit, np.nan), seen)
    peak_tick = top[0] if top else int(np.flatnonzero(seen)[0])
    peak = f"at most {in_use[peak_tick]:g}/{limit[peak_tick]:g} in use ({c.at(peak_tick)})"
    waited = _peak(pending, seen) if pending is not None else None
    wait_top = _peak(wait.mean_s, c.mask & (wait.count > 0)) if wait is not None else None
    nobody_waited = (wait_top[1] < WAIT_NEGLIGIBLE_S) if wait_top else (waited is None or waited[1] == 0)
    full = seen & (in_use >= limit)
    if not full.any():
        if (top is None or top[1] <= NEAR_FULL) and nobody_waited:
            return Suspect(**base, confidence="not_indicated", why=f"{peak}, nobody waited for a connection")
        return Suspect(**base, confidence="low", why=f"close to its limit but never full: {peak}")
    start = c.onset_tick(full)
    pending_text = f" with {pending[start]:g} requests waiting" if pending is not None and \
        not np.isnan(pending[start]) else ""
    evidence = [f"the pool was full ({limit[start]:g}/{limit[start]:g} in use) at {int(full.sum())} of "
                f"{int(seen.sum())} scrapes from {c.at(start)}"]
    queued = waited is not None and waited[1] > 0 or (wait_top is not None and not nobody_waited)
    if waited is not None and waited[1] > 0:
        evidence.append(f"requests waiting for a connection: up to {waited[1]:g} ({c.at(waited[0])})")
    slow_facts, explains = [], ""
    if wait_top is not None:
        text = f"connection waits averaged up to {seconds_text(wait_top[1])} ({c.at(wait_top[0])})"
        over = wait.over(c.gateway_timeout_s) if c.gateway_timeout_s else None
        if over is not None and over[1][c.mask].sum() > 0:
            text += f"; {over[1][c.mask].sum():g} waits took longer than {over[0]:g} s, the gateway's timeout"
            slow_facts.append("connection waits outlasted the gateway's timeout")
        elif wait_top[1] >= c.slow_s:
            slow_facts.append(f"connection waits averaged {seconds_text(wait_top[1])}")
        evidence.append(text)
    gave_up = float(timeouts[c.mask].sum()) if timeouts is not None else 0.0
    if gave_up:
        evidence.append(f"{gave_up:g} requests gave up waiting (pool timeouts)")
        slow_facts.append("pool timeouts fired")
    slow = bool(slow_facts)
    if slow and c.gateway_timeout_s:
        explains = f"connection waits over its {seconds_text(c.gateway_timeout_s)} timeout"
    facts = ["the pool was full"] + (["requests queued for a connection"] if queued else []) + slow_facts
    timely = c.timely(start)
    facts.append("it filled before the symptoms began" if timely else "it filled only after the symptoms began")
    return Suspect(**base, confidence=c.level(int(queued) + int(slow), timely), why="; ".join(facts),
                   onset_s=float(c.t_s[start]), explains_504s=explains or "connection waits",
                   lead=f"{c.relative(start)} the database pool reached {in_use[start]:g}/{limit[start]:g} in use"
                        f"{pending_text}", evidence=tuple(evidence))


def workers(c: Context) -> Suspect:
    """The app's worker threads all busy, requests queued for a thread."""
    base = dict(key="app_workers", name="the app's worker threads running out", short="the app's worker threads")
    busy, total = c.series.gauge("workers_busy"), c.series.gauge("workers_max")
    if busy is None or total is None:
        return Suspect(**base, confidence="no_data", why="no worker-thread gauges (busy, total)")
    queue = c.series.gauge("workers_queue")
    seen = c.mask & ~np.isnan(busy) & ~np.isnan(total)
    if not seen.any():
        return Suspect(**base, confidence="no_data", why="the app was not scraped during the trouble")
    top = _peak(busy / np.where(total > 0, total, np.nan), seen)
    tick = top[0] if top else int(np.flatnonzero(seen)[0])
    peak = f"at most {busy[tick]:g}/{total[tick]:g} busy ({c.at(tick)})"
    queued = _peak(queue, seen) if queue is not None else None
    full = seen & (busy >= total)
    if not full.any():
        if (top is None or top[1] <= NEAR_FULL) and (queued is None or queued[1] == 0):
            return Suspect(**base, confidence="not_indicated", why=f"{peak}, no request queued for a thread")
        return Suspect(**base, confidence="low", why=f"close to its limit but never all busy: {peak}")
    start = c.onset_tick(full)
    evidence = [f"every thread was busy ({total[start]:g}/{total[start]:g}) at {int(full.sum())} of "
                f"{int(seen.sum())} scrapes from {c.at(start)}"]
    has_queue = queued is not None and queued[1] > 0
    if has_queue:
        evidence.append(f"requests queued for a thread: up to {queued[1]:g} ({c.at(queued[0])})")
    sustained = full.sum() * 2 >= seen.sum()
    queue_text = f" with {queue[start]:g} requests queued" if queue is not None and not np.isnan(queue[start]) else ""
    facts = ["every worker thread was busy"] + (["requests queued for a thread"] if has_queue else []) + \
        (["for at least half of the trouble"] if sustained else [])
    timely = c.timely(start)
    facts.append("before the symptoms began" if timely else "only after the symptoms began")
    return Suspect(**base, confidence=c.level(int(has_queue) + int(sustained), timely), why="; ".join(facts),
                   onset_s=float(c.t_s[start]), explains_504s="requests queued for the app's threads",
                   lead=f"{c.relative(start)} the app's worker threads were all busy ({busy[start]:g}/"
                        f"{total[start]:g}){queue_text}", evidence=tuple(evidence))


def downstream(c: Context) -> Suspect:
    """The payment provider (a downstream call) slow: a mean near or over the gateway's timeout."""
    base = dict(key="downstream", name="a slow payment provider (downstream latency)", short="the payment provider")
    histogram = c.series.histogram("downstream_latency")
    if histogram is None:
        return Suspect(**base, confidence="no_data", why="no downstream latency histogram")
    calls = c.mask & (histogram.count > 0)
    if not calls.any():
        return Suspect(**base, confidence="not_indicated", why="no downstream call during the trouble")
    tick, worst = _peak(histogram.mean_s, calls)
    mean = float((histogram.mean_s[calls] * histogram.count[calls]).sum() / histogram.count[calls].sum())
    if worst <= c.flat_s:
        return Suspect(**base, confidence="not_indicated", why=f"its latency flat: mean at most {seconds_text(worst)}")
    if worst < c.slow_s:
        return Suspect(**base, confidence="low",
                       why=f"its mean rose to {seconds_text(worst)} ({c.at(tick)}), under half the gateway's timeout")
    start = c.onset_tick(calls & (histogram.mean_s >= c.slow_s))
    from_first = start == int(np.flatnonzero(histogram.count > 0)[0])
    lead = (f"while the payment provider took {seconds_text(histogram.mean_s[start])} a call from its first call "
            f"(measured at {c.at(start)})" if from_first else
            f"{c.relative(start, counted=True)} the payment provider's answers averaged "
            f"{seconds_text(histogram.mean_s[start])}")
    evidence = [f"{histogram.count[calls].sum():g} calls averaged {seconds_text(mean)}, up to {seconds_text(worst)} "
                f"in one scrape interval ({c.at(tick)})"]
    over = histogram.over(c.gateway_timeout_s) if c.gateway_timeout_s else None
    if over is not None and over[1][c.mask].sum() > 0:
        evidence.append(f"{over[1][c.mask].sum():g} calls took longer than {over[0]:g} s, the gateway's timeout")
    alone = c.gateway_timeout_s is not None and mean >= c.gateway_timeout_s
    timely = c.timely(start)
    facts = [f"its calls averaged {seconds_text(mean)}"] + \
        ([f"more than the gateway's {seconds_text(c.gateway_timeout_s)} timeout by themselves"] if alone else []) + \
        (["slow before the symptoms began"] if timely else ["slow only after the symptoms began"])
    return Suspect(**base, confidence=c.level(1 + int(alone), timely), why="; ".join(facts),
                   onset_s=float(c.t_s[start]), explains_504s=f"the payment provider's {seconds_text(mean)} answers",
                   lead=lead, evidence=tuple(evidence))


def database(c: Context) -> Suspect:
    """The database server's own connection limit (PostgreSQL ``max_connections``)."""
    base = dict(key="database", name="the database server's connection limit", short="the database server")
    connections, limit = c.series.gauge("db_connections"), c.series.gauge("db_max_connections")
    if connections is None or limit is None:
        return Suspect(**base, confidence="no_data", why="no PostgreSQL connection counts (--pg-dsn or "
                                                         "postgres_exporter)")
    seen = c.mask & ~np.isnan(connections) & ~np.isnan(limit)
    top = _peak(connections / np.where(limit > 0, limit, np.nan), seen)
    if top is None:
        return Suspect(**base, confidence="no_data", why="PostgreSQL was not scraped during the trouble")
    tick, share = top
    peak = f"at most {connections[tick]:g} of {limit[tick]:g} connections ({c.at(tick)})"
    if share < DB_NEAR_LIMIT:
        return Suspect(**base, confidence="not_indicated", why=peak)
    start = c.onset_tick(seen & (connections >= DB_NEAR_LIMIT * limit))
    return Suspect(**base, confidence=c.level(1 + int(share >= 1.0), c.timely(start)),
                   why=f"connections reached {share:.0%} of max_connections", onset_s=float(c.t_s[start]),
                   lead=f"{c.relative(start)} PostgreSQL reached {connections[start]:g} of {limit[start]:g} "
                        f"connections", evidence=(peak,), explains_504s="the database refusing connections")


RULES = (downstream, database, pool, workers)
"""Resource and dependency rules, in the order that breaks ties: a slow dependency can fill a pool or
busy the threads that wait on it, a database at its limit can starve a pool, a full pool busies the
threads waiting for connections; the converse does not hold."""
