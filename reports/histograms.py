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
equivalent" value) rounded to the histogram's 3 significant digits, not
``HdrHistogram``'s top of the bucket: 2.000 s lands in the 1,024-us bucket
1,999,872 .. 2,000,895 us, whose top would report 2,000,895 (2.01 ms over a
2 s bound that a request of exactly 2 s meets) and whose middle, 2,000,384,
reports 2.00 s, which is all the histogram knows. So a value exactly at a
bound of 3 significant digits (800 ms, 2 s) passes, and one 0.1% above fails.

Decoding is ``reports._hdr_codec``'s.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hdrh.histogram import HdrHistogram

from reports.windows import new_histogram

__all__ = ["PERCENTILES", "percentiles_us", "grouped_percentiles_us", "sliding_percentile_us", "round_significant",
           "BUCKET_COUNT", "HIGHEST_EQUIVALENT_US", "MIDDLE_EQUIVALENT_US"]

PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0),
                                              ("p99.9", 99.9), ("max", 100.0))
"""The percentiles analysis reports, by name; ``max`` is the 100th."""

_REFERENCE = new_histogram()
BUCKET_COUNT = _REFERENCE.counts_len
"""Counters in one of surgegate's histograms (23,552)."""


def _equivalent_values(reference: HdrHistogram) -> tuple[np.ndarray, np.ndarray]:
    """Per counter index: the highest value (us) it stands for, as ``get_highest_equivalent_value`` computes
    it, and its middle, as ``_hdr_median_equiv_value`` does."""
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
    return lowest + width - 1, lowest + (width >> 1)


HIGHEST_EQUIVALENT_US, MIDDLE_EQUIVALENT_US = _equivalent_values(_REFERENCE)
"""Per counter index: what ``HdrHistogram`` reports for a percentile landing on it (for tests), and the
bucket's middle, which surgegate reports (rounded to 3 significant digits)."""

def round_significant(values_us: np.ndarray | int) -> np.ndarray:
    """``values_us`` rounded half up to 3 significant digits: 2_000_895 -> 2_000_000, 33_567 -> 33_600."""
    values = np.asarray(values_us, dtype=np.int64)
    digits = np.floor(np.log10(np.maximum(values, 1))).astype(np.int64) + 1
    factor = np.power(10, np.maximum(digits - 3, 0)).astype(np.int64)
    return ((values + factor // 2) // factor) * factor


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
    return [int(round_significant(MIDDLE_EQUIVALENT_US[int(np.searchsorted(running, _target_counts(total, p)[0]))]))
            for p in percentiles]


def grouped_percentiles_us(groups: np.ndarray, buckets: np.ndarray, counts: np.ndarray, group_count: int,
                           percentiles: Sequence[float], *, rounded: bool = True) -> list[np.ndarray]:
    """Per group, the percentiles of the merged counts of its entries: one array per percentile, -1 for no data.

    Args:
        groups: the group (0 .. group_count - 1) of each entry, e.g. a window or an (endpoint, window) pair.
        buckets, counts: the entries' counter indices and counts, as ``decode_sparse`` returns them.
        rounded: report the bucket's middle rounded to 3 significant digits; False gives HdrHistogram's
            own value (the top of the bucket), for tests.
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
        table = MIDDLE_EQUIVALENT_US if rounded else HIGHEST_EQUIVALENT_US
        values = table[buckets[position]] if len(buckets) else np.zeros(group_count, np.int64)
        if rounded:
            values = round_significant(values)
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
            answers[i] = int(round_significant(MIDDLE_EQUIVALENT_US[used[position]]))
    return answers
