"""A run over time, binned for charts: ``build_timeline(analysis, verdict) -> Timeline``.

Every series is a question put to the analysis (counts summed per bin, percentiles read from
the bin's merged histograms, never averaged) or a sample from the folder (``load.jsonl``, and
the server's pool from ``server_metrics.jsonl``, by the names ``reports.metric_names`` maps, through
``reports.server_series`` and ``reports.pool_metrics``, as the root-cause hints read it); nothing is
estimated. Seconds are the run's 1-s windows: window ``i`` is ``[i, i + 1)``.

Bins: a chart needs a few hundred points, not 3,600. A run of up to ``MAX_POINTS`` seconds is
charted per second; a longer one in bins of ``ceil(seconds / MAX_POINTS)`` seconds (an hour:
6 s bins, 600 points), so a one-hour report renders in about a second and stays small
(a line of 600 points is ~7 kB of SVG). In a bin:

    requests, ok, failures, 504s     summed, then divided by the bin's seconds (rates per second)
    error and 504 rates (%)          the bin's failures (504s) over its requests; NaN without requests
    p50 / p95 / p99 (ms)             of the bin's merged histograms; NaN without timed requests
    users, target users              the largest sample in the bin (load.jsonl, once a second)
    open model: started, dropped     arrivals summed by their due second, per second of the bin
    open model: in flight            the largest ``in_flight_max`` sample in the bin
    pool in use, waiting, limit      the largest sample in the bin (server_metrics.jsonl)

Which endpoints get a latency panel (at most ``LATENCY_PANELS``): those whose name holds
``checkout``, then those named by a failed objective, then the busiest, each group by requests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reports.analysis import Analysis
from reports.metric_names import MetricNames, load_metric_names
from reports.pool_metrics import POOL_SIGNALS, PoolSeries, pool_series
from reports.run_data import StageSpan
from reports.server_series import ServerSeries
from reports.verdict import Verdict

__all__ = ["Timeline", "build_timeline", "breaking_point_s", "MAX_POINTS", "LATENCY_PANELS"]

MAX_POINTS = 600
"""Points per line at most; longer runs are binned."""
LATENCY_PANELS = 4
"""Endpoints with a latency panel at most."""
_LATENCY = (("p50", 50.0), ("p95", 95.0), ("p99", 99.0))


@dataclass(frozen=True)
class Timeline:
    """Per-bin series of one run, all on the x axis ``x_s`` (the middle of each bin, in seconds of the run)."""

    window_count: int
    bin_s: int
    x_s: np.ndarray
    stages: tuple[StageSpan, ...]
    breach_s: int | None
    """The breaking point: the second in which an objective first failed; None when none failed."""
    load_t_s: np.ndarray
    users: np.ndarray
    target_users: np.ndarray
    requests_per_s: np.ndarray
    ok_per_s: np.ndarray
    error_pct: np.ndarray
    status_504_pct: np.ndarray
    endpoint_504_pct: dict[str, np.ndarray]
    """504 rate of each latency endpoint that answered any 504."""
    latency_ms: dict[str, dict[str, np.ndarray]]
    """Endpoint label -> {p50, p95, p99} in ms."""
    pool: PoolSeries | None
    started_per_s: np.ndarray | None = None
    """Open model: arrivals started per second (None: a closed-model run)."""
    dropped_per_s: np.ndarray | None = None
    in_flight: np.ndarray | None = None
    """Open model: the most shoppers in flight, on ``load_t_s``."""


def breaking_point_s(verdict: Verdict) -> int | None:
    """The earliest second in which a failed objective first breached; None when none failed."""
    times = [r.first_failure.t_s for r in verdict.objectives if r.status == "fail" and r.first_failure is not None]
    return min(times) if times else None


def _bins(window_count: int) -> tuple[int, np.ndarray]:
    bin_s = max(1, math.ceil(window_count / MAX_POINTS))
    return bin_s, np.arange(0, window_count, bin_s, dtype=np.int64)


def _per_bin(values: np.ndarray, starts: np.ndarray, bin_s: int) -> np.ndarray:
    """Sums of ``values`` (one per second) over each bin ``[start, start + bin_s)``."""
    return np.add.reduceat(values, starts) if len(values) else np.zeros(len(starts), dtype=np.int64)


def _pct(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(whole > 0, 100.0 * part / np.maximum(whole, 1), np.nan)


def _latency_endpoints(analysis: Analysis, verdict: Verdict) -> list[int]:
    """Positions of the endpoints that get a latency panel (see the module docstring)."""
    requests = {label: entry["run"]["requests"] for label, entry in
                zip(analysis.endpoints, analysis.summary["endpoints"])}
    named_by_failures = set()
    for result in verdict.objectives:
        if result.status == "fail":
            named_by_failures.update(part.strip() for part in result.endpoint.split(","))
    chosen: list[str] = []
    for wanted in (lambda label: "checkout" in label.lower(), lambda label: label in named_by_failures,
                   lambda label: True):
        for label in sorted(requests, key=lambda label: -requests[label]):
            if len(chosen) < LATENCY_PANELS and label not in chosen and requests[label] and wanted(label):
                chosen.append(label)
    return [analysis.endpoints.index(label) for label in chosen]


def _load(analysis: Analysis, bin_s: int) -> tuple[np.ndarray, ...]:
    """t, users, target users and in flight (NaN when closed), the largest of each bin."""
    load = analysis.data.load
    t = load["t"].to_numpy(dtype=float)
    columns = [load[name].to_numpy(dtype=float) for name in ("users", "target_users", "in_flight_max")]
    if bin_s == 1 or not len(t):
        return (t, *columns)
    index = np.floor(np.maximum(t - 1e-9, 0) / bin_s).astype(np.int64)
    keys, first = np.unique(index, return_index=True)
    with np.errstate(invalid="ignore"):
        most = [np.fmax.reduceat(np.nan_to_num(column, nan=-1.0), first) for column in columns]
    return ((keys + 0.5) * bin_s, *(np.where(column < 0, np.nan, column) for column in most))


def build_timeline(analysis: Analysis, verdict: Verdict, *, breach_s: int | None = None,
                   server: ServerSeries | None = None, names: MetricNames | None = None) -> Timeline:
    """The charts' series of the run.

    Args:
        analysis, verdict: the run, as the gate judged it.
        breach_s: the breaking point to mark; default: the verdict's first breach (``breaking_point_s``).
        server: the run's server series, as the gate read them for the hints (``ServerSeries.read``, with
            the shop's names); default: the pool's gauges read from the analysed folder by ``names``.
        names: the metric names to read by when ``server`` is not given; default: the shipped ones.
    """
    if server is None:
        server = ServerSeries.read(analysis.data.path, names or load_metric_names(), signals=POOL_SIGNALS)
    window_count = analysis.window_count
    bin_s, starts = _bins(window_count)
    lengths = np.minimum(starts + bin_s, window_count) - starts
    everything = analysis.select(None)
    counts = analysis.counts(everything)  # zeros when nothing was recorded
    requests, ok, failures = (_per_bin(column, starts, bin_s) for column in (counts.requests, counts.ok,
                                                                              counts.failures))
    answered_504 = analysis.status_counts(everything, lambda status: status == 504)
    latency: dict[str, dict[str, np.ndarray]] = {}
    endpoint_504: dict[str, np.ndarray] = {}
    for position in _latency_endpoints(analysis, verdict):
        group = np.array([position], dtype=np.int64)
        label = analysis.endpoints[position]
        latency[label] = {}
        for name, percentile in _LATENCY:
            values = analysis.sliding_percentile_us(group, percentile, starts, bin_s).astype(float)
            latency[label][name] = np.where(values < 0, np.nan, values / 1000)
        mine_504 = analysis.status_counts(group, lambda status: status == 504)
        if mine_504.any():
            endpoint_504[label] = _pct(_per_bin(mine_504, starts, bin_s), _per_bin(analysis.counts(group).requests,
                                                                                   starts, bin_s))
    load_t, users, target, in_flight = _load(analysis, bin_s)
    started = dropped = None
    if analysis.has_arrivals:
        arrivals = analysis.arrival_counts
        started, dropped = (_per_bin(arrivals[key], starts, bin_s) / np.maximum(lengths, 1)
                            for key in ("started", "dropped"))  # arrival_counts has window_count seconds
    return Timeline(
        window_count=window_count, bin_s=bin_s, x_s=starts + lengths / 2, stages=analysis.stages,
        breach_s=breaking_point_s(verdict) if breach_s is None else int(breach_s),
        load_t_s=load_t, users=users, target_users=target,
        requests_per_s=requests / np.maximum(lengths, 1), ok_per_s=ok / np.maximum(lengths, 1),
        error_pct=_pct(failures, requests), status_504_pct=_pct(_per_bin(answered_504, starts, bin_s), requests),
        endpoint_504_pct=endpoint_504, latency_ms=latency,
        pool=pool_series(server, bin_s),
        started_per_s=started, dropped_per_s=dropped, in_flight=in_flight if analysis.has_arrivals else None)
