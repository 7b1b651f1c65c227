"""The server's signals over a run, from ``server_metrics.jsonl``: ``ServerSeries.read(folder, names)``.

Each signal of ``reports.metric_names`` becomes a series on the scrape clock: sources are scraped at
``t = 0, interval, 2 x interval, ...`` (``reports.server_metrics``), so scrape ``k`` of every source is
tick ``k`` at ``k x interval`` s; the extra scrape at stop lands on the tick nearest it and replaces
the one there (it is the later, so counters end where the run ended).

    gauge(signal)         the value at each tick: matching samples added over labels and sources
    increase(signal)      a counter's increase during each tick's interval ``(t - interval, t]``
    histogram(signal)     per tick: observations, their mean (``_sum / _count``, in seconds), and
                          how many took longer than a bucket edge (``_count - _bucket{le=edge}``)

Counters are cumulative since the server started; a series that first appears after its source's
first successful scrape was created lazily (labelled counters appear at their first increment), so its
first value counts as an increase from 0. A value lower than the one before is a restart: the new value
is the increase. A tick at which a source's ``up`` is 0 has no samples of that source: gauges are NaN
there, and the counter's next increase spans the gap.

Cost: the file is searched 4 MB at a time for the wanted names, in C, and only the lines found are
parsed. An hour of the stub at 1 s (~70 MB with the default keep-list; 300 MB, ~440 samples a scrape,
keeping every bucket) keeps ~270 samples a scrape for the hints: 2.2 s of CPU for the 300 MB, most of it
parsing them (testing each line in Python: 2.4 s); the pool's 4 gauges alone (``signals=``) take 0.5 s.
The gate reads the file once, for the hints and the report's pool chart (``only``); 4 MB rather than 16
keeps the hour's ``surgegate report`` at 159 MB rather than 200. A line naming a wanted metric that is
not JSON (a torn last line) is skipped and counted in ``unreadable``: this file is evidence, never a
reason to refuse a report.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reports.metric_names import BUCKET_SIGNALS, SIGNALS, Candidate, MetricNames

__all__ = ["ServerSeries", "Histogram", "FILE", "route_key"]

FILE = "server_metrics.jsonl"
_SUFFIXES = ("_bucket", "_count", "_sum")
_CHUNK = 4 * 2**20


def _wanted(names: MetricNames, signals: Collection[str] | None, buckets: Collection[str]) -> set[str]:
    """The sample names of ``signals`` (None: all), histograms' ``_bucket`` only for the ``buckets`` signals."""
    wanted = set()
    for signal, candidates in names.signals.items():
        for candidate in candidates if signals is None or signal in signals else ():
            for metric in candidate.metrics:
                wanted.add(metric)
                if SIGNALS[signal] == "histogram":
                    wanted.update(f"{metric}{s}" for s in _SUFFIXES if s != "_bucket" or signal in buckets)
    return wanted


def _alternation(words: list[bytes]) -> bytes:
    """A regex matching exactly ``words``, nested by shared prefixes (``shop_(?:app_|db_pool_(?:...)``).

    Python's ``re`` tries a flat ``a|b|c`` one branch after another at every ``"metric":``: 1.7 s over an
    hour's 300 MB for the ~85 names of every signal, where the nested form takes 0.9 s.
    """
    heads: dict[bytes, list[bytes]] = defaultdict(list)
    for word in words:
        if word:
            heads[word[:1]].append(word[1:])
    branches = [re.escape(head) + _alternation(tails) for head, tails in sorted(heads.items())]
    body = branches[0] if len(branches) == 1 else b"(?:" + b"|".join(branches) + b")"
    return (b"(?:" + body + b")?" if b"" in words else body) if branches else b""


def _lines_naming(path: Path, metrics: Collection[str]):
    """Each line whose ``"metric"`` is one of ``metrics``, once, read ``_CHUNK`` bytes at a time.

    The regex runs over each chunk in C (the stub writes ~440 lines a scrape; the pool's gauges are 4 of
    them), where a Python loop testing every line cost more than parsing the lines kept.
    """
    found = re.compile(rb'"metric": ?"(' + _alternation(sorted(m.encode() for m in metrics)) + rb')"')
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            chunk += f.readline()  # end on a whole line
            last = -1
            for match in found.finditer(chunk):
                start = chunk.rfind(b"\n", 0, match.start()) + 1
                if start <= last:  # a label named "metric" before the metric itself
                    continue
                end = chunk.find(b"\n", match.end())
                last = start
                yield chunk[start:] if end < 0 else chunk[start:end]


def route_key(name: str) -> str:
    """An endpoint with its parameters blanked, so ``/carts/{id}``, ``/carts/[id]`` and ``/carts/:id`` meet."""
    return re.sub(r"\{[^}]*\}|\[[^\]]*\]|(?<=/):[A-Za-z_]\w*", "*", name)


@dataclass(frozen=True)
class Histogram:
    """A histogram's observations per tick: how many, their mean in seconds, and their buckets' increases."""

    count: np.ndarray
    mean_s: np.ndarray
    """NaN at ticks without observations."""
    buckets: dict[float, np.ndarray] = field(default_factory=dict)
    """Bucket edge in seconds -> observations at or under it, per tick (empty for a summary)."""

    def over(self, threshold_s: float) -> tuple[float, np.ndarray] | None:
        """(edge, observations per tick above ``edge``), the smallest edge >= ``threshold_s``; None without one."""
        edges = sorted(edge for edge in self.buckets if edge >= threshold_s - 1e-12 and math.isfinite(edge))
        if not edges:
            return None
        return edges[0], np.maximum(0.0, self.count - self.buckets[edges[0]])


class ServerSeries:
    """The run's server signals on the scrape clock (``t_s``: one entry per tick)."""

    def __init__(self, names: MetricNames, interval_s: float, missing: str | None,
                 series: dict[tuple[str, str, tuple], dict[int, float]], up: dict[str, dict[int, float]],
                 unreadable: int) -> None:
        self.names = names
        self.interval_s = interval_s
        self.missing = missing
        """Why the run has no server metrics at all (None when it scraped some): ``the run had --metrics-url none``,
        ``the manifest names no metrics source`` (a folder from before them), ``server_metrics.jsonl is missing``."""
        self.unreadable = unreadable
        self._series = series
        self._up = up
        last = max((max(ticks) for ticks in (*up.values(), *series.values()) if ticks), default=-1)
        self.t_s = np.arange(last + 1) * interval_s
        self._present = {metric for _, metric, _ in series}

    @classmethod
    def read(cls, folder: str | Path, names: MetricNames, manifest: dict | None = None, *,
             buckets: Collection[str] = BUCKET_SIGNALS,
             signals: Collection[str] | None = None) -> ServerSeries:
        """Read the signals ``names`` maps from the folder (histogram buckets only for the ``buckets`` signals).

        ``manifest`` (default: the folder's) says whether metrics were scraped and how often; ``signals``
        (default: all) limits what is read, e.g. to the pool's gauges for a chart.
        """
        folder = Path(folder)
        if manifest is None:
            try:
                manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                manifest = {}
        described = manifest.get("server_metrics") if isinstance(manifest, dict) else None
        interval = float(described.get("interval_s", 1.0)) if isinstance(described, dict) else 1.0
        wanted = _wanted(names, signals, buckets) | {"up"}
        series: dict[tuple[str, str, tuple], dict[int, float]] = defaultdict(dict)
        up: dict[str, dict[int, float]] = defaultdict(dict)
        unreadable = 0
        path = folder / FILE
        try:
            for line in _lines_naming(path, wanted):
                try:
                    row = json.loads(line)
                    t, value, source = float(row["t"]), row["value"], str(row["source"])
                    labels = tuple(sorted((str(k), str(v)) for k, v in row.get("labels", {}).items()))
                except (ValueError, KeyError, TypeError, AttributeError):
                    unreadable += 1
                    continue
                if row.get("metric") not in wanted:  # the name was a label's value
                    continue
                if not math.isfinite(t) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    continue
                tick = max(0, round(t / interval))
                if row["metric"] == "up" and not labels:
                    up[source][tick] = float(value)
                else:
                    series[(source, row["metric"], labels)][tick] = float(value)  # the later scrape wins
        except OSError:
            pass
        if not isinstance(described, dict):
            missing = "the run had --metrics-url none" if isinstance(manifest, dict) and "server_metrics" in manifest \
                else "the manifest names no metrics source"
        else:
            missing = None if path.is_file() else f"{FILE} is missing"
        return cls(names, interval, missing, dict(series), dict(up), unreadable)

    def only(self, signals: Collection[str]) -> ServerSeries:
        """The same run with the rows of ``signals`` alone (e.g. the pool chart's 3 of an hour's ~270 a scrape)."""
        wanted = _wanted(self.names, signals, signals)
        return ServerSeries(self.names, self.interval_s, self.missing,
                            {key: ticks for key, ticks in self._series.items() if key[1] in wanted}, self._up,
                            self.unreadable)

    # -- what was scraped --------------------------------------------------------------------------------------

    @property
    def scraped(self) -> bool:
        """At least one scrape of one source succeeded."""
        return any(value == 1.0 for ticks in self._up.values() for value in ticks.values())

    def down_ticks(self, first: int = 0, stop: int | None = None) -> dict[str, list[int]]:
        """Source -> ticks in ``[first, stop)`` at which its scrape failed."""
        stop = len(self.t_s) if stop is None else stop
        return {source: [k for k, v in sorted(ticks.items()) if v != 1.0 and first <= k < stop]
                for source, ticks in self._up.items() if any(v != 1.0 and first <= k < stop
                                                            for k, v in ticks.items())}

    def candidate(self, signal: str) -> Candidate | None:
        """The candidate of ``signal`` this run exposes (its first metric has rows), or None."""
        histogram = SIGNALS[signal] == "histogram"
        for candidate in self.names.candidates(signal):
            first = candidate.metrics[0]
            if (f"{first}_count" in self._present) if histogram else (first in self._present):
                return candidate
        return None

    def _rows(self, candidate: Candidate, metric: str):
        for (source, name, labels), ticks in self._series.items():
            if name != metric:
                continue
            plain = dict(labels)
            if candidate.accepts(plain):
                yield source, plain, ticks

    # -- series ------------------------------------------------------------------------------------------------

    def gauge(self, signal: str) -> np.ndarray | None:
        """Per tick, the signal's samples added up (NaN at ticks with none); None when the run does not expose it."""
        candidate = self.candidate(signal)
        if candidate is None:
            return None
        out = np.full(len(self.t_s), np.nan)
        for metric in candidate.metrics:
            for _, _, ticks in self._rows(candidate, metric):
                for tick, value in ticks.items():
                    out[tick] = value if np.isnan(out[tick]) else out[tick] + value
        return out

    def increase(self, signal: str, *, by_route: bool = False):
        """A counter's increase per tick (added over labels and sources); ``by_route``: route -> increases."""
        candidate = self.candidate(signal)
        if candidate is None:
            return None
        return self._increases(candidate, candidate.metrics, by_route, scale=1.0)

    def histogram(self, signal: str, *, by_route: bool = False):
        """The histogram's observations per tick (``Histogram``); ``by_route``: route -> ``Histogram``."""
        candidate = self.candidate(signal)
        if candidate is None:
            return None
        base = candidate.metrics[0]
        counts = self._increases(candidate, (f"{base}_count",), by_route, 1.0)
        sums = self._increases(candidate, (f"{base}_sum",), by_route, candidate.scale)
        edges = self._increases(candidate, (f"{base}_bucket",), by_route, 1.0, split="le")
        if not by_route:
            return self._histogram(counts, sums, edges, candidate.scale)
        return {route: self._histogram(counts[route], sums.get(route, np.zeros(len(self.t_s))),
                                       edges.get(route, {}), candidate.scale) for route in counts}

    @staticmethod
    def _histogram(count: np.ndarray, total: np.ndarray, edges: dict, scale: float) -> Histogram:
        mean = np.divide(total, count, out=np.full(len(count), np.nan), where=count > 0)
        buckets = {}
        for le, values in edges.items():
            try:
                buckets[float(le) * scale] = values
            except ValueError:
                continue
        return Histogram(count, mean, buckets)

    def _increases(self, candidate: Candidate, metrics, by_route: bool, scale: float, split: str | None = None):
        out: dict = {}
        for metric in metrics:
            for source, labels, ticks in self._rows(candidate, metric):
                key = labels.get(candidate.route_label or "", "") if by_route else None
                if split is not None:
                    key = (key, labels.get(split, ""))
                target = out.setdefault(key, np.zeros(len(self.t_s)))
                self._add_increase(target, ticks, self._first_up(source), scale)
        if split is not None:
            nested: dict = defaultdict(dict)
            for (route, edge), values in out.items():
                nested[route][edge] = values
            return dict(nested) if by_route else nested.get(None, {})
        if by_route:
            return out
        return out.get(None, np.zeros(len(self.t_s)))

    def _first_up(self, source: str) -> int:
        return min((k for k, v in self._up.get(source, {}).items() if v == 1.0), default=0)

    @staticmethod
    def _add_increase(target: np.ndarray, ticks: dict[int, float], first_up: int, scale: float) -> None:
        ordered = sorted(ticks.items())
        tick, value = ordered[0]
        if tick > first_up:  # created lazily after the source was first scraped: it started from 0
            target[tick] += value * scale
        for (_, before), (tick, value) in zip(ordered, ordered[1:]):
            target[tick] += (value - before if value >= before else value) * scale
