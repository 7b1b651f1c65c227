"""Every request into HdrHistograms, per 1-second window, in flat memory.

``WindowedRecorder.on_request`` (a listener of Locust's ``request`` event)
files each request under its key (endpoint name, method, status, kind) in
the window of the second it *completed* in, into an HdrHistogram of
microseconds with 3 significant digits (values from 1 us to 1 h: a relative
error of at most 0.1%, where Locust's own statistics round to about two
digits). ``flush(now_s)`` closes every window that has ended and returns its
rows, each with the histogram encoded (HdrHistogram's compressed base64 form,
which merges exactly), to be written by the caller; closed windows are
dropped from memory and their histograms reused, so memory does not grow
with the length of the run.

Open model: a request that carries the time it was due by the arrival
schedule (``context["due_s"]``) is also filed, under the same key and
window, into a second histogram of the time from that due moment to its
answer (``from_due_us``: corrected for coordinated omission); its rows carry
it as ``hist_due``. Closed-model rows have no ``hist_due``: their latency is
not corrected.

Keyed by completion, not start: a window can then be closed the moment it
ends, instead of waiting for the slowest request that started in it.

Contract: ``on_request`` (Locust's event) is called on every request from
the load generator's event loop and must stay cheap: it finds the cell (two
dict lookups) and appends the latency to the cell's ``pending`` array, about
0.6 us in a loop. The histograms are filled when the window closes, all of
a cell's latencies at once (``_file``: hdrh's index computation in numpy,
the same counts as ``record_value``); ``flush`` is called about once a
second from the same loop.

In distributed mode each worker records into its own ``WindowedRecorder``
(started at the master's start time, so the windows line up) and ships the
rows of its closed windows; the master ``merge``s them into its own and
closes a window only once every live worker has closed it (``flush`` with
``before_index``). A row that arrives for a window the master already
closed (a late worker) reopens it: ``windows.jsonl`` may then hold more than
one row for the same window and key, and readers add them up.
"""

from __future__ import annotations

import ctypes
import math
import sys
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hdrh.histogram import HdrHistogram

from reports.records import classify

__all__ = ["WindowedRecorder", "WindowRow", "Key", "LOWEST_US", "HIGHEST_US", "SIGNIFICANT_DIGITS", "new_histogram",
           "counts_index"]

LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT_DIGITS = 3

Key = tuple[str, str, int, str]
"""(name, method, status, kind)."""


def new_histogram() -> HdrHistogram:
    """An empty histogram with surgegate's range and precision."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def _index_constants() -> tuple[int, int, int, int, int, int]:
    """What hdrh's ``_counts_index_for`` reads of a histogram: the same for every histogram of ``new_histogram``."""
    h = new_histogram()
    return (h.sub_bucket_mask, h.unit_magnitude + h.sub_bucket_half_count_magnitude + 1,
            h.sub_bucket_half_count_magnitude, h.unit_magnitude, h.sub_bucket_half_count, h.counts_len)


_SUB_BUCKET_MASK, _BUCKET_SHIFT, _HALF_MAGNITUDE, _UNIT_MAGNITUDE, _HALF_COUNT, _COUNTS_LEN = _index_constants()


_PAST_RANGE = 2 ** 62
"""What a latency too large for a signed 64-bit array is kept as: far past the counters, dropped as it would be
(``HIGHEST_US + 1`` is not: hdrh's last bucket reaches past ``HIGHEST_US``, so it keeps values a little above it)."""


def counts_index(values_us: np.ndarray) -> np.ndarray:
    """The counter each value (an int64 array of microseconds, each >= 1) is counted in: hdrh's
    ``_counts_index_for`` in numpy (``frexp``'s exponent is ``bit_length``, exact below 2**53); an index
    ``>= counts_len`` is past the range."""
    bucket = np.frexp((values_us | _SUB_BUCKET_MASK).astype(np.float64))[1].astype(np.int64) - _BUCKET_SHIFT
    return ((bucket + 1) << _HALF_MAGNITUDE) + (values_us >> (bucket + _UNIT_MAGNITUDE)) - _HALF_COUNT


def _file(histogram: HdrHistogram, values_us: array) -> None:
    """``histogram.record_value(max(1, v))`` for every ``v`` of ``values_us``, at once: the same counts.

    hdrh's index computed in numpy (``counts_index``), and a value past the
    range is dropped, as ``record_value`` drops it. The per-request
    path only appends to ``values_us`` (issue 10: in place, updating the
    histogram on every request cost ~2% of a zero-think run's CPU).
    """
    if not values_us:
        return
    values = np.maximum(np.frombuffer(values_us, dtype=np.int64), LOWEST_US)
    index = counts_index(values)
    inside = index < _COUNTS_LEN
    if not inside.all():
        index, values = index[inside], values[inside]
        if not index.size:
            return
    counts = np.frombuffer(histogram.counts, dtype=np.uint64)
    if index.size < 500:  # add.at's cost grows with the values, bincount's with the counters (23,552)
        np.add.at(counts, index, 1)
    else:
        np.add(counts, np.bincount(index, minlength=_COUNTS_LEN), out=counts, casting="unsafe")
    histogram.total_count += int(index.size)
    histogram.min_value = min(histogram.min_value, int(values.min()))
    histogram.max_value = max(histogram.max_value, int(values.max()))


def _clear(histogram: HdrHistogram) -> None:
    """``HdrHistogram.reset``, without its Python loop over the 23,552 counters.

    hdrh's ``reset`` zeroes the counters one by one, about 1 ms a histogram:
    with a dozen keys closed every second it was 1.7% of a zero-think run's
    CPU on the load generator (py-spy, issue 10). The counters are one ctypes
    array: one ``memset`` clears them.
    """
    counts = histogram.counts
    ctypes.memset(ctypes.addressof(counts), 0, ctypes.sizeof(counts))
    histogram.total_count = 0
    histogram.min_value = sys.maxsize
    histogram.max_value = 0
    histogram.start_time_stamp_msec = sys.maxsize
    histogram.end_time_stamp_msec = 0


@dataclass(slots=True)
class _Cell:
    histogram: HdrHistogram
    count: int = 0
    """Requests merged in from rows (a worker's); those filed here are in ``pending`` until the window closes."""
    response_bytes: int = 0
    due_histogram: HdrHistogram | None = None
    """Times from when each request was due (open model); None until a request brings one."""
    pending: array = field(default_factory=lambda: array("q"))
    """Response times in microseconds filed since the window opened, not yet in ``histogram`` (``_file``)."""
    pending_due: array | None = None
    """Open model: the times from due of the same requests, in the same order; None until one brings one."""


def _file_due(cell: _Cell, response_time_us: int, completed_s: float, due_s: float) -> None:
    """Open model: the time from when the request was due, never less than its response time (as
    ``RequestRecord.from_due_us``), joins the cell's ``pending_due``."""
    from_due_us = max(response_time_us, round((completed_s - due_s) * 1e6))
    if cell.pending_due is None:
        cell.pending_due = array("q")
    cell.pending_due.append(min(HIGHEST_US, max(LOWEST_US, from_due_us)))


@dataclass(frozen=True)
class WindowRow:
    """One key's requests in one closed window."""

    window_start_s: float
    """Seconds since the run started, at the window's start."""
    name: str
    method: str
    status: int
    kind: str
    count: int
    response_bytes: int
    histogram: str
    """The encoded HdrHistogram of response times in microseconds."""
    histogram_due: str | None = None
    """Open model: the encoded HdrHistogram of times from when each request was due, in microseconds."""

    def to_json(self) -> dict:
        """The row as one line of ``windows.jsonl``."""
        row = {"t": self.window_start_s, "name": self.name, "method": self.method, "status": self.status,
               "kind": self.kind, "count": self.count, "bytes": self.response_bytes, "hist": self.histogram}
        if self.histogram_due is not None:
            row["hist_due"] = self.histogram_due
        return row


class WindowedRecorder:
    """Open windows of per-key histograms, plus the run's totals per key (of the windows closed so far)."""

    def __init__(self, started_at_s: float, window_s: float = 1.0) -> None:
        self.started_at_s = started_at_s
        self.window_s = window_s
        self._open: dict[int, dict[Key, _Cell]] = {}
        self._spare: list[HdrHistogram] = []
        self.totals: dict[Key, _Cell] = {}
        self._closed_recorded = 0
        """Requests in the windows closed so far (filed or merged)."""
        self._filling: int | None = None
        """The index of the window a request was filed in last, and its cells (forgotten when a window closes)."""
        self._filling_cells: dict[Key, _Cell] = {}

    @property
    def recorded(self) -> int:
        """Requests filed or merged so far, closed windows and open."""
        return self._closed_recorded + sum(cell.count + len(cell.pending) for cells in self._open.values()
                                           for cell in cells.values())

    def _window(self, index: int) -> dict[Key, _Cell]:
        """The cells of window ``index`` (before the start: the first), opened if need be; it becomes the one filled."""
        cells = self._open.get(max(0, index))
        if cells is None:
            cells = self._open[max(0, index)] = {}
        self._filling, self._filling_cells = index, cells
        return cells

    def _cell(self, cells: dict[Key, _Cell], key: Key) -> _Cell:
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = _Cell(self._spare.pop() if self._spare else new_histogram())
        return cell

    def on_request(self, request_type: str, name: str, response_time: float, response_length: int | None,
                   exception: BaseException | None = None, response: Any = None, context: dict | None = None,
                   start_time: float | None = None, url: str | None = None, **_kwargs: Any) -> None:
        """Locust's ``request`` event, filed at once: the load generator's listener when no raw samples are kept.

        ``url`` is named, though unused, so that Locust's keywords bind
        without a dict of the rest being built for every request.

        The one way a request is filed (raw-samples runs call it too, beside
        their ``records.record_from_event``; a test holds the two equal): on
        every request of a run a Python call costs, so it converts and files
        in place (issue 10: this listener, registered directly, replaced a
        chain of four calls; the histogram is filled when the window closes).
        """
        status = getattr(response, "status_code", 0) or 0
        response_time_us = round(response_time * 1000) if response_time and response_time > 0 else 0
        completed_s = (start_time or 0.0) + response_time_us / 1e6
        index = math.floor((completed_s - self.started_at_s) / self.window_s)
        cells = self._filling_cells if index == self._filling else self._window(index)
        key = (name, request_type, status, "ok" if exception is None else classify(exception, status))
        cell = cells.get(key)
        if cell is None:
            cell = self._cell(cells, key)
        try:
            cell.pending.append(response_time_us)
        except OverflowError:  # past what 64 bits hold, so far past the range
            cell.pending.append(_PAST_RANGE)
        cell.response_bytes += response_length or 0
        if context:
            due = context.get("due_s")
            if isinstance(due, (int, float)):
                _file_due(cell, response_time_us, completed_s, due)

    def merge(self, window_start_s: float, key: Key, count: int, response_bytes: int, histogram: str,
              histogram_due: str | None = None) -> None:
        """Add one row recorded elsewhere (a worker's ``WindowRow``) into the window it belongs to."""
        index = max(0, round(window_start_s / self.window_s))
        cell = self._cell(self._open.setdefault(index, {}), key)
        cell.histogram.add(HdrHistogram.decode(histogram))
        if histogram_due is not None:
            if cell.due_histogram is None:
                cell.due_histogram = self._spare.pop() if self._spare else new_histogram()
            cell.due_histogram.add(HdrHistogram.decode(histogram_due))
        cell.count += count
        cell.response_bytes += response_bytes

    def window_index(self, now_s: float) -> int:
        """The index of the window running at ``now_s`` (epoch seconds): every window before it has ended."""
        return math.floor((now_s - self.started_at_s) / self.window_s)

    def flush(self, now_s: float | None = None, *, before_index: int | None = None) -> list[WindowRow]:
        """Close the windows that ended by ``now_s`` (epoch seconds; None = all) and return their rows.

        ``before_index`` closes only the windows before that index (the master:
        the windows every worker has closed).
        """
        limit = math.inf if now_s is None else self.window_index(now_s)
        if before_index is not None:
            limit = min(limit, before_index)
        rows = []
        self._filling = None
        for index in sorted(i for i in self._open if i < limit):
            rows.extend(self._close(index))
        return rows

    def _close(self, index: int) -> Iterator[WindowRow]:
        for key, cell in sorted(self._open.pop(index).items()):
            _file(cell.histogram, cell.pending)
            if cell.pending_due is not None:
                if cell.due_histogram is None:
                    cell.due_histogram = self._spare.pop() if self._spare else new_histogram()
                _file(cell.due_histogram, cell.pending_due)
            cell.count += len(cell.pending)
            self._closed_recorded += cell.count
            due = cell.due_histogram
            yield WindowRow(index * self.window_s, *key, cell.count, cell.response_bytes,
                            cell.histogram.encode().decode("ascii"),
                            None if due is None else due.encode().decode("ascii"))
            # The run's totals grow a window at a time (exact: HdrHistograms add losslessly), not per request.
            total = self._cell(self.totals, key)
            total.histogram.add(cell.histogram)
            total.count += cell.count
            total.response_bytes += cell.response_bytes
            if due is not None:
                if total.due_histogram is None:
                    total.due_histogram = new_histogram()
                total.due_histogram.add(due)
                _clear(due)
                self._spare.append(due)
            _clear(cell.histogram)
            self._spare.append(cell.histogram)

    @property
    def open_windows(self) -> int:
        """Windows still open (for tests of flat memory)."""
        return len(self._open)
