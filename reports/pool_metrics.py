"""The server's connection pool over the run, per chart bin: ``pool_series(server, bin_s) -> PoolSeries``.

Three gauges of ``reports.server_series``, by the signals ``reports.metric_names`` maps (the stub's,
HikariCP's and OpenTelemetry's names, and a shop's own given with ``--metric-names FILE``)::

    in use     pool_in_use     connections handed out
    limit      pool_max        the most the pool may hand out: the stub's size plus the overflow it may
                               open (``fixed``: 20 + 10 = 30), HikariCP's maximum, OpenTelemetry's max
    waiting    pool_pending    requests waiting for a connection

The samples of one scrape are added over labels and sources (a shop with several pools is shown as
one), as the root-cause hints add them: the chart and the hints read the same numbers. Scrape ``k``
(tick ``k``, at ``k x interval`` s) falls in bin ``floor(k x interval / bin_s)``, so with 1 s bins the
pool "in second 20" is the scrape that began in second 20; a bin shows the largest sample in it and
is drawn at its middle. Bins without a sample (a failed scrape) are left out, so the line joins the
samples either side.

Reading only the pool's names costs 0.04 s of CPU for the 198 s july15 replay (16 MB), 0.5 s for an
hour's 300 MB (``ServerSeries.read(..., signals=POOL_SIGNALS)``, as ``surgegate compare --html`` does);
the gate hands over the series it already read for the hints, which costs nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reports.server_series import ServerSeries

__all__ = ["PoolSeries", "pool_series", "POOL_SIGNALS"]

POOL_SIGNALS = ("pool_in_use", "pool_max", "pool_pending")
"""The signals the pool chart reads: in use, limit, waiting."""


@dataclass(frozen=True)
class PoolSeries:
    """The pool's gauges per bin (the largest sample in each), on the x axis ``t_s`` (the bin's middle)."""

    t_s: np.ndarray
    in_use: np.ndarray
    limit: np.ndarray
    waiting: np.ndarray
    """NaN in a bin where that gauge has no sample (or the run does not expose it)."""
    peak_in_use: float | None
    peak_limit: float | None
    peak_waiting: float | None
    metrics: tuple[str, ...]
    """What was read, one per gauge exposed: ``shop_db_pool_checked_out_connections``, ..."""
    unreadable: int
    """Lines naming a wanted metric that were not JSON (a torn last line, damage) and were skipped."""


def _peak(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.max()) if len(finite) else None


def pool_series(server: ServerSeries, bin_s: int = 1) -> PoolSeries | None:
    """The pool's gauges in bins of ``bin_s`` seconds; None when the run exposes neither in use nor waiting."""
    gauges = {signal: server.gauge(signal) for signal in POOL_SIGNALS}
    if gauges["pool_in_use"] is None and gauges["pool_pending"] is None:
        return None
    ticks = len(server.t_s)
    values = [np.full(ticks, np.nan) if gauge is None else gauge for gauge in gauges.values()]
    sampled = np.any([np.isfinite(v) for v in values], axis=0)
    if not sampled.any():
        return None
    bins = np.floor(server.t_s[sampled] / bin_s + 1e-9).astype(np.int64)
    keys, first = np.unique(bins, return_index=True)  # ticks are in order: each bin's ticks are adjacent
    in_use, limit, waiting = (np.fmax.reduceat(v[sampled], first) for v in values)
    metrics = tuple(c.text for signal in POOL_SIGNALS if (c := server.candidate(signal)) is not None)
    return PoolSeries(t_s=(keys + 0.5) * bin_s, in_use=in_use, limit=limit, waiting=waiting,
                      peak_in_use=_peak(values[0]), peak_limit=_peak(values[1]), peak_waiting=_peak(values[2]),
                      metrics=metrics, unreadable=server.unreadable)
