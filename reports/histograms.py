"""Latency histograms as flat arrays: decode each window once, merge any group, read percentiles as HdrHistogram does.

The recorder writes one encoded HdrHistogram per (window, key) (see
``reports.windows``): microseconds, 1 us .. 1 h, 3 significant digits, which
is 23,552 counters of which a one-second window uses a handful. Analysis
keeps only their non-zero ``(bucket index, count)`` pairs, so that any
group of windows and endpoints merges with one sort and cumulative sum
instead of adding 184 kB arrays, and a percentile is a search in it.

Percentiles are never averaged: a percentile of a group is read from the
group's merged counts, finding the same bucket as
``HdrHistogram.get_value_at_percentile`` (the target count is
``max(1, int(p * total / 100 + 0.5))``, the bucket is the first whose running
count reaches it; a test checks this against ``HdrHistogram`` itself). The
value reported is that bucket's middle (``get_mean_value``'s "median
equivalent" value), unrounded: every value the bucket stands for is within
half a bucket of it, 1/2048 (0.05%) of the value at most, where
``HdrHistogram``'s top of the bucket can be a whole bucket off. People read
it at 3 significant digits (``objectives.format_value``); analysis.json and
verdict.json keep it whole.

A latency bound is judged at the histogram's resolution (``meets_bound``):
a percentile meets ``<= bound`` unless its whole bucket lies above the
bound. 2.000 s lands in the 1,024-us bucket 1,999,872 .. 2,000,895 us, whose
middle, 2,000,384 us, is above a 2 s bound that a request of exactly 2 s
meets; the histogram cannot tell the values of one bucket apart, so that
bucket meets it, and the next one (0.1% above the bound at most) fails.

Decoding is ``reports._hdr_codec``'s.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hdrh.histogram import HdrHistogram

from reports.windows import LOWEST_US, counts_index, new_histogram

__all__ = ["PERCENTILES", "percentiles_us", "grouped_percentiles_us", "sliding_percentile_us", "meets_bound",
           "BUCKET_COUNT", "LOWEST_EQUIVALENT_US", "HIGHEST_EQUIVALENT_US", "MIDDLE_EQUIVALENT_US"]

PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0),
                                              ("p99.9", 99.9), ("max", 100.0))
"""The percentiles analysis reports, by name; ``max`` is the 100th."""

_REFERENCE = new_histogram()
BUCKET_COUNT = _REFERENCE.counts_len
"""Counters in one of surgegate's histograms (23,552)."""


def _equivalent_values(reference: HdrHistogram) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per counter index: the lowest value (us) it stands for, the highest, as ``get_highest_equivalent_value``
    computes it, and its middle, as ``_hdr_median_equiv_value`` does."""
    index = np.arange(reference.counts_len, dtype=np.int64)
    half_magnitude = reference.sub_bucket_half_count_magnitude
    half_count = reference.sub_bucket_half_count
    bucket = (index >> half_magnitude) - 1
    sub_bucket = (index & (half_count - 1)) + half_count
    first = bucket < 0
    sub_bucket[first] -= half_count
    bucket[first] = 0
    shift = bucket + reference.unit_magnitude
    lowest, width = sub_bucket << shift, np.int64(1) << shift
    return lowest, lowest + width - 1, lowest + (width >> 1)


LOWEST_EQUIVALENT_US, HIGHEST_EQUIVALENT_US, MIDDLE_EQUIVALENT_US = _equivalent_values(_REFERENCE)
"""Per counter index: the lowest value it stands for (what a bound is judged by), what ``HdrHistogram``
reports for a percentile landing on it (for tests), and the bucket's middle, which surgegate reports."""


def meets_bound(values_us: np.ndarray, bound_us) -> np.ndarray:
    """Per reported percentile (a bucket's middle, us): whether it meets ``<= bound_us`` at the histogram's
    resolution, i.e. whether the lowest value of its bucket is within the bound.

    ``bound_us`` may be a ``Fraction``: each comparison is exact.
    """
    values = np.maximum(np.asarray(values_us, dtype=np.int64), LOWEST_US)
    lowest = LOWEST_EQUIVALENT_US[np.minimum(counts_index(values), BUCKET_COUNT - 1)]
    return np.array([value <= bound_us for value in lowest.tolist()], dtype=bool)


def _target_counts(totals: np.ndarray, percentile: float) -> np.ndarray:
    """HdrHistogram's ``get_target_count_at_percentile``, for many totals at once (same float arithmetic)."""
    return np.maximum((min(percentile, 100.0) * totals.astype(np.float64) / 100 + 0.5).astype(np.int64), 1)


def percentiles_us(buckets: np.ndarray, counts: np.ndarray, percentiles: Sequence[float]) -> list[int | None]:
    """Percentiles (us, as reported) of the merged counts of any number of sparse histograms; None when empty."""
    if not len(buckets):
        return [None] * len(percentiles)
    merged = np.bincount(buckets, weights=counts, minlength=BUCKET_COUNT)  # exact: float64 counts up to 2^53
    running = np.cumsum(merged)
    total = np.array([int(round(running[-1]))])
    return [int(MIDDLE_EQUIVALENT_US[int(np.searchsorted(running, _target_counts(total, p)[0]))]) for p in percentiles]


def grouped_percentiles_us(groups: np.ndarray, buckets: np.ndarray, counts: np.ndarray, group_count: int,
                           percentiles: Sequence[float], *, middle: bool = True) -> list[np.ndarray]:
    """Per group, the percentiles of the merged counts of its entries: one array per percentile, -1 for no data.

    Args:
        groups: the group (0 .. group_count - 1) of each entry, e.g. a window or an (endpoint, window) pair.
        buckets, counts: the entries' counter indices and counts, as ``decode_sparse`` returns them.
        middle: report the bucket's middle; False gives HdrHistogram's own value (the top of the bucket),
            for tests.
    """
    order = np.lexsort((buckets, groups))
    groups, buckets, counts = groups[order], buckets[order], counts[order]
    running = np.cumsum(counts)
    totals = np.bincount(groups, weights=counts, minlength=group_count).astype(np.int64)
    starts = np.searchsorted(groups, np.arange(group_count), side="left")
    before = np.where(starts > 0, running[np.maximum(starts - 1, 0)] if len(running) else 0, 0)
    answers = []
    for percentile in percentiles:
        position = np.searchsorted(running, before + _target_counts(totals, percentile), side="left")
        position = np.minimum(position, max(len(running) - 1, 0))
        table = MIDDLE_EQUIVALENT_US if middle else HIGHEST_EQUIVALENT_US
        values = table[buckets[position]] if len(buckets) else np.zeros(group_count, np.int64)
        answers.append(np.where(totals > 0, values, -1))
    return answers


def sliding_percentile_us(seconds: np.ndarray, buckets: np.ndarray, counts: np.ndarray, starts: np.ndarray,
                          length: int, percentile: float) -> np.ndarray:
    """The percentile (us, as reported; -1 for no data) of each window ``[start, start + length)`` of seconds.

    Runs one merged histogram along the windows, adding the second that enters and
    subtracting the one that leaves (counts subtract exactly), over only the counters
    the entries use: time and memory grow with the seconds and the counters in use,
    not with seconds times window length.
    """
    answers = np.full(len(starts), -1, dtype=np.int64)
    if len(seconds) == 0 or len(starts) == 0:
        return answers
    used, compact = np.unique(buckets, return_inverse=True)
    order = np.argsort(seconds, kind="stable")
    seconds, compact, counts = seconds[order], compact[order], counts[order]
    merged = np.zeros(len(used), dtype=np.int64)
    low = high = 0  # the entries of seconds [low, high) are in ``merged``
    for i, start in enumerate(starts):
        new_low = np.searchsorted(seconds, start, side="left")
        new_high = np.searchsorted(seconds, start + length, side="left")
        if new_low >= high or new_high <= low:  # no overlap with the previous window: start afresh
            merged[:] = 0
            low = high = new_low
        np.add.at(merged, compact[high:new_high], counts[high:new_high])
        np.subtract.at(merged, compact[low:new_low], counts[low:new_low])
        low, high = new_low, max(new_high, new_low)
        total = int(merged.sum())
        if total:
            position = int(np.searchsorted(np.cumsum(merged), _target_counts(np.array([total]), percentile)[0]))
            answers[i] = int(MIDDLE_EQUIVALENT_US[used[position]])
    return answers
