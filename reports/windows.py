"""Every request into HdrHistograms, per 1-second window, in flat memory.

``WindowedRecorder.record`` files a ``RequestRecord`` under its key
(endpoint name, method, status, kind) in the window of the second it
*completed* in, into an HdrHistogram of microseconds with 3 significant
digits (values from 1 us to 1 h: a relative error of at most 0.1%, where
Locust's own statistics round to about two digits). ``flush(now_s)`` closes
every window that has ended and returns its rows, each with the histogram
encoded (HdrHistogram's compressed base64 form, which merges exactly), to be
written by the caller; closed windows are dropped from memory and their
histograms reused, so memory does not grow with the length of the run.

Open model: a request that carries the time it was due by the arrival
schedule (``RequestRecord.due_time_s``) is also filed, under the same key and
window, into a second histogram of the time from that due moment to its
answer (``from_due_us``: corrected for coordinated omission); its rows carry
it as ``hist_due``. Closed-model rows have no ``hist_due``: their latency is
not corrected.

Keyed by completion, not start: a window can then be closed the moment it
ends, instead of waiting for the slowest request that started in it.

Contract: ``record`` is called on every request from the load generator's
event loop and must stay cheap (one dict lookup and one histogram update);
``flush`` is called about once a second from the same loop.

In distributed mode each worker records into its own ``WindowedRecorder``
(started at the master's start time, so the windows line up) and ships the
rows of its closed windows; the master ``merge``s them into its own and
closes a window only once every live worker has closed it (``flush`` with
``before_index``). A row that arrives for a window the master already
closed (a late worker) reopens it: ``windows.jsonl`` may then hold more than
one row for the same window and key, and readers add them up.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from hdrh.histogram import HdrHistogram

from reports.records import RequestRecord

__all__ = ["WindowedRecorder", "WindowRow", "Key", "LOWEST_US", "HIGHEST_US", "SIGNIFICANT_DIGITS", "new_histogram"]

LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT_DIGITS = 3

Key = tuple[str, str, int, str]
"""(name, method, status, kind)."""


def new_histogram() -> HdrHistogram:
    """An empty histogram with surgegate's range and precision."""
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


@dataclass
class _Cell:
    histogram: HdrHistogram
    count: int = 0
    response_bytes: int = 0
    due_histogram: HdrHistogram | None = None
    """Times from when each request was due (open model); None until a request brings one."""


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
        self.recorded = 0

    def _cell(self, cells: dict[Key, _Cell], key: Key) -> _Cell:
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = _Cell(self._spare.pop() if self._spare else new_histogram())
        return cell

    def record(self, rec: RequestRecord) -> None:
        """File one request under its key, in the window it completed in."""
        completed_s = rec.start_time_s + rec.response_time_us / 1e6 - self.started_at_s
        index = max(0, math.floor(completed_s / self.window_s))
        cell = self._cell(self._open.setdefault(index, {}), (rec.name, rec.method, rec.status, rec.kind))
        cell.histogram.record_value(max(LOWEST_US, rec.response_time_us))
        from_due_us = rec.from_due_us
        if from_due_us is not None:
            if cell.due_histogram is None:
                cell.due_histogram = self._spare.pop() if self._spare else new_histogram()
            cell.due_histogram.record_value(min(HIGHEST_US, max(LOWEST_US, from_due_us)))
        cell.count += 1
        cell.response_bytes += rec.response_bytes
        self.recorded += 1

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
        self.recorded += count

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
        for index in sorted(i for i in self._open if i < limit):
            rows.extend(self._close(index))
        return rows

    def _close(self, index: int) -> Iterator[WindowRow]:
        for key, cell in sorted(self._open.pop(index).items()):
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
                due.reset()
                self._spare.append(due)
            cell.histogram.reset()
            self._spare.append(cell.histogram)

    @property
    def open_windows(self) -> int:
        """Windows still open (for tests of flat memory)."""
        return len(self._open)
