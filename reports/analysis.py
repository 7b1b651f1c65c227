"""What a run measured, from its results folder alone: ``analyse_folder(path) -> Analysis``.

``Analysis`` holds per-endpoint, per-second counts (numpy arrays, built with pandas
from ``windows.jsonl``) and the decoded latency histograms (``reports.histograms``),
and answers questions about any group of endpoints over any range of seconds:
counts by kind and status, rates, merged-histogram percentiles, sliding windows.
The verdict asks it those questions; ``to_json()`` is ``analysis.json``.

Definitions (the verdict and every report use these):

- requests: every recorded request except ``cancelled`` ones (stopped by the load
  generator mid-flight; their count is reported apart).
- failures: requests of any kind but ``ok`` and ``rate_limited``: a 429 is the shop
  shedding load as designed (one of July 15's fixes), judged by a status-rate
  objective on 429 if wanted, not as an error. ``refused_target`` (never sent) is a failure.
- error rate: failures / requests. Status rate: requests answered with that status / requests.
- latency: the response times of requests except ``cancelled`` and ``refused_target``,
  failures included (a 504 after 2 s is 2 s a shopper waited). Percentiles in ms, read from
  the merged histograms: the middle of the percentile's bucket, within 0.05% of the value.
- throughput: ``ok`` requests per second of the range (goodput: fast 504s are not throughput).
- latency from due (open model only, ``latency_from_due_ms``): the same requests' times from when
  each was due by the arrival schedule to its answer, corrected for coordinated omission (see
  ``docs/design/007-open-model.md``). Closed-model runs have none (``latency_corrected`` false): their
  latency is from the actual send, not corrected, and reports say so.
- arrivals (open model only): journeys planned, started and dropped (the pool full) per second
  of their due time and per stage, from ``arrivals.jsonl``; planned = started + dropped.

Cost: reading is linear in the folder (one decode per row); every question is a few
vectorised passes over the rows of the endpoints asked about.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from reports.histograms import PERCENTILES, grouped_percentiles_us, percentiles_us, sliding_percentile_us
from reports.run_data import FAILURE_EXEMPT_KINDS, RunData, RunInfo, StageSpan

__all__ = ["Analysis", "WindowCounts", "analyse_folder", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1
"""Of ``analysis.json``."""

EndpointFilter = Callable[[str, str], bool]
"""(method, name) -> whether the endpoint is in the group."""


@dataclass(frozen=True)
class WindowCounts:
    """Per-second counts of a group of endpoints, each an array of ``window_count`` ints."""

    requests: np.ndarray
    ok: np.ndarray
    failures: np.ndarray
    rate_limited: np.ndarray
    cancelled: np.ndarray


def analyse_folder(path: str | Path) -> Analysis:
    """Read the results folder at ``path`` and analyse it.

    Raises:
        BadInput: the folder is missing, is not a results folder, or a member is malformed.
    """
    return Analysis(RunData.read(path))


class Analysis:
    """A run's measurements, queryable by endpoint group and range of seconds."""

    def __init__(self, data: RunData) -> None:
        self.data = data
        self._latency_by_group: dict[bytes, tuple[np.ndarray, ...]] = {}
        rows = data.rows
        shape = (len(data.endpoints), data.window_count)
        kind = rows["kind"]
        answered = (kind != "cancelled").to_numpy()
        self._requests = self._matrix(rows[answered], shape)
        self._ok = self._matrix(rows[(kind == "ok").to_numpy()], shape)
        self._failures = self._matrix(rows[(~kind.isin(FAILURE_EXEMPT_KINDS)).to_numpy()], shape)
        self._rate_limited = self._matrix(rows[(kind == "rate_limited").to_numpy()], shape)
        self._cancelled = self._matrix(rows[~answered], shape)
        self._by_status = {int(status): self._matrix(group, shape)
                           for status, group in rows[answered].groupby("status")}

    @staticmethod
    def _matrix(rows, shape: tuple[int, int]) -> np.ndarray:
        matrix = np.zeros(shape, dtype=np.int64)
        inside = (rows["second"] < shape[1]).to_numpy()
        np.add.at(matrix, (rows["endpoint"].to_numpy()[inside], rows["second"].to_numpy()[inside]),
                  rows["count"].to_numpy()[inside])
        return matrix

    # -- the run -------------------------------------------------------------------------------------

    @property
    def info(self) -> RunInfo:
        """The run's identity and status, from the manifest."""
        return self.data.info

    @property
    def stages(self) -> tuple[StageSpan, ...]:
        """The played profile's stages, with the windows each owns."""
        return self.data.stages

    @property
    def window_count(self) -> int:
        """Seconds the run spans (windows 0 .. window_count - 1)."""
        return self.data.window_count

    @property
    def endpoints(self) -> tuple[str, ...]:
        """``METHOD name`` of every endpoint seen, sorted by (method, name)."""
        return tuple(f"{method} {name}" for method, name in self.data.endpoints)

    def stage(self, name: str) -> StageSpan | None:
        """The stage called ``name``; ``peak`` also finds the stage marked peak when none is called so."""
        for stage in self.stages:
            if stage.name == name:
                return stage
        if name == "peak":
            return next((stage for stage in self.stages if stage.peak), None)
        return None

    def stage_at(self, second: int) -> str | None:
        """The stage owning window ``second``; None before the first or after the profile's end."""
        return next((stage.name for stage in self.stages if stage.first_window <= second < stage.stop_window), None)

    def load_at(self, second: int) -> dict | None:
        """The load sample taken at the end of window ``second`` (the nearest one): users, target, rps.

        Open model: ``users`` are the shoppers in flight (the most in that second) and ``target_users`` is
        None: the pool's idle shoppers are not load, and no number of users was planned.
        """
        load = self.data.load
        if not len(load):
            return None
        position = int(np.abs(load["t"].to_numpy() - (second + 1.0)).argmin())
        sample = load.iloc[position]

        def whole(value) -> int | None:
            return None if value != value else int(value)  # NaN when the sample lacked it

        in_flight = whole(sample["in_flight_max"])
        return {"t_s": float(sample["t"]), "users": whole(sample["users"]) if in_flight is None else in_flight,
                "target_users": whole(sample["target_users"]) if in_flight is None else None,
                "rps": None if sample["rps"] != sample["rps"] else round(float(sample["rps"]), 1)}

    # -- groups --------------------------------------------------------------------------------------

    def select(self, accept: EndpointFilter | None) -> np.ndarray:
        """Positions of the endpoints ``accept`` takes (every endpoint when None)."""
        return np.array([i for i, (method, name) in enumerate(self.data.endpoints)
                         if accept is None or accept(method, name)], dtype=np.int64)

    def counts(self, group: np.ndarray) -> WindowCounts:
        """Per-second counts of the group."""
        return WindowCounts(*(matrix[group].sum(axis=0) for matrix in
                              (self._requests, self._ok, self._failures, self._rate_limited, self._cancelled)))

    def status_counts(self, group: np.ndarray, accept: Callable[[int], bool]) -> np.ndarray:
        """Per-second requests of the group answered with a status ``accept`` takes (0 = no answer)."""
        total = np.zeros(self.window_count, dtype=np.int64)
        for status, matrix in self._by_status.items():
            if accept(status):
                total += matrix[group].sum(axis=0)
        return total

    def _latency(self, group: np.ndarray, first: int = 0, stop: int | None = None):
        """The group's latency entries (second, endpoint, bucket, count) in seconds ``[first, stop)``.

        The group's entries are picked out once and sorted by second, so that a range is two binary
        searches: capacity and sliding objectives ask for many ranges of the same groups, and picking
        them out of every entry each time made ``surgegate report`` grow faster than the run
        (a one-hour folder: 70 s; issue 10, ``benchmarks/analysis_cost.py``).
        """
        key = group.tobytes()
        entries = self._latency_by_group.get(key)
        if entries is None:
            latency = self.data.latency
            keep = np.isin(latency["endpoint"], group)
            order = np.argsort(latency["second"][keep], kind="stable")
            entries = self._latency_by_group[key] = tuple(
                latency[column][keep][order] for column in ("second", "endpoint", "bucket", "count"))
        stop = self.window_count if stop is None else stop
        low, high = np.searchsorted(entries[0], [first, stop], side="left")
        return tuple(column[low:high] for column in entries)

    @property
    def latency_corrected(self) -> bool:
        """Whether the run recorded latency from when requests were due (open model)."""
        return self.data.latency_corrected

    def _latency_due(self, group: np.ndarray, first: int = 0, stop: int | None = None):
        latency = self.data.latency_due
        stop = self.window_count if stop is None else stop
        keep = np.isin(latency["endpoint"], group) & (latency["second"] >= first) & (latency["second"] < stop)
        return latency["second"][keep], latency["endpoint"][keep], latency["bucket"][keep], latency["count"][keep]

    # -- arrivals (open model) --------------------------------------------------------------------------

    @property
    def has_arrivals(self) -> bool:
        """Whether the run is an open-model run (with an arrival schedule)."""
        return self.info.model == "open" or bool(len(self.data.arrivals))

    @cached_property
    def arrival_counts(self) -> dict[str, np.ndarray]:
        """Per second of due time: ``planned``, ``started`` and ``dropped`` arrivals (zeros when closed)."""
        frame = self.data.arrivals
        out = {}
        for key in ("planned", "started", "dropped"):
            column = np.zeros(max(self.window_count, int(frame["second"].max()) + 1 if len(frame) else 0),
                              dtype=np.int64)
            if len(frame):
                np.add.at(column, frame["second"].to_numpy(), frame[key].to_numpy())
            out[key] = column[: self.window_count] if len(column) > self.window_count else column
        return out

    def arrival_stats(self, first: int, stop: int, stage: str | None = None) -> dict | None:
        """Planned, started and dropped arrivals over seconds ``[first, stop)`` (of one stage when named),
        the drop rate, the started rate per second, and how late the latest start was (ms, the scheduler's
        own lag); None for a closed-model run."""
        if not self.has_arrivals:
            return None
        frame = self.data.arrivals
        if len(frame):
            mine = frame[(frame["second"] >= first) & (frame["second"] < stop)]
            if stage is not None:
                mine = mine[mine["stage"] == stage]
            planned, started, dropped = (int(mine[key].sum()) for key in ("planned", "started", "dropped"))
            late_ms = int(mine["late_ms_max"].max()) if len(mine) else 0
        else:
            planned = started = dropped = late_ms = 0
        duration_s = max(0, stop - first)
        return {"planned": planned, "started": started, "dropped": dropped, "dropped_pct": _pct(dropped, planned),
                "late_ms_max": late_ms,
                "started_per_s": round(started / duration_s, 3) if duration_s else None,
                "planned_per_s": round(planned / duration_s, 3) if duration_s else None}

    def percentile_us(self, group: np.ndarray, percentile: float, first: int, stop: int) -> int | None:
        """The group's percentile over seconds ``[first, stop)``, from the merged histograms; None if no data."""
        _, _, buckets, counts = self._latency(group, first, stop)
        return percentiles_us(buckets, counts, [percentile])[0]

    def percentile_per_second_us(self, group: np.ndarray, percentile: float) -> np.ndarray:
        """The group's percentile in each second (-1 where nothing was timed)."""
        seconds, _, buckets, counts = self._latency(group)
        return grouped_percentiles_us(seconds, buckets, counts, self.window_count, [percentile])[0]

    def sliding_percentile_us(self, group: np.ndarray, percentile: float, starts: np.ndarray,
                              length: int) -> np.ndarray:
        """The group's percentile in each window ``[start, start + length)`` (-1 where nothing was timed)."""
        if not len(starts):
            return np.full(0, -1, dtype=np.int64)
        seconds, _, buckets, counts = self._latency(group, int(np.min(starts)), int(np.max(starts)) + length)
        return sliding_percentile_us(seconds, buckets, counts, starts, length, percentile)

    # -- findings ------------------------------------------------------------------------------------

    def stats(self, group: np.ndarray, first: int, stop: int) -> dict:
        """Counts, failures by kind, statuses, rates, percentiles and throughput of the group over ``[first, stop)``."""
        rows = self.data.rows
        mine = rows[rows["endpoint"].isin(group) & (rows["second"] >= first) & (rows["second"] < stop)]
        by_kind = mine.groupby("kind")["count"].sum()
        answered = mine[mine["kind"] != "cancelled"]
        statuses = answered.groupby("status")["count"].sum()
        requests = int(answered["count"].sum())
        failures = int(by_kind.drop(list(FAILURE_EXEMPT_KINDS), errors="ignore").sum())
        ok = int(by_kind.get("ok", 0))
        rate_limited = int(by_kind.get("rate_limited", 0))
        _, _, buckets, counts = self._latency(group, first, stop)
        values = percentiles_us(buckets, counts, [p for _, p in PERCENTILES])
        due_values = None
        if self.latency_corrected:
            _, _, due_buckets, due_counts = self._latency_due(group, first, stop)
            due_values = percentiles_us(due_buckets, due_counts, [p for _, p in PERCENTILES])
        duration_s = max(0, stop - first)
        return {
            "requests": requests, "ok": ok, "failures": failures, "rate_limited": rate_limited,
            "cancelled": int(by_kind.get("cancelled", 0)),
            "failures_by_kind": {str(k): int(v) for k, v in by_kind.items() if k not in FAILURE_EXEMPT_KINDS and v},
            "statuses": {str(int(k)): int(v) for k, v in statuses.items() if v},
            "error_rate_pct": _pct(failures, requests), "rate_limited_pct": _pct(rate_limited, requests),
            "latency_ms": None if values[0] is None else
            {name: value / 1000 for (name, _), value in zip(PERCENTILES, values)},
            "latency_corrected": self.latency_corrected,
            "latency_from_due_ms": None if due_values is None or due_values[0] is None else
            {name: value / 1000 for (name, _), value in zip(PERCENTILES, due_values)},
            "duration_s": duration_s,
            "throughput_rps": round(ok / duration_s, 3) if duration_s else None,
            "requests_per_s": round(requests / duration_s, 3) if duration_s else None,
            "bytes": int(mine["bytes"].sum()),
        }

    def _scopes(self, group: np.ndarray) -> dict:
        return {"run": self.stats(group, 0, self.window_count),
                "stages": {stage.name: self.stats(group, stage.first_window, stage.stop_window)
                           for stage in self.stages}}

    def _series(self, group: np.ndarray) -> dict:
        counts = self.counts(group)
        seconds, _, buckets, bucket_counts = self._latency(group)
        wanted = [("p50_ms", 50.0), ("p95_ms", 95.0), ("p99_ms", 99.0), ("max_ms", 100.0)]
        values = grouped_percentiles_us(seconds, buckets, bucket_counts, self.window_count, [p for _, p in wanted])
        series = {"requests": counts.requests.tolist(), "ok": counts.ok.tolist(),
                  "failures": counts.failures.tolist(), "rate_limited": counts.rate_limited.tolist(),
                  "cancelled": counts.cancelled.tolist()}
        for (name, _), column in zip(wanted, values):
            series[name] = [None if v < 0 else v / 1000 for v in column.tolist()]
        if self.latency_corrected:
            seconds, _, buckets, bucket_counts = self._latency_due(group)
            due = grouped_percentiles_us(seconds, buckets, bucket_counts, self.window_count, [95.0, 99.0])
            for name, column in zip(("p95_from_due_ms", "p99_from_due_ms"), due):
                series[name] = [None if v < 0 else v / 1000 for v in column.tolist()]
        errors = {str(status): matrix[group].sum(axis=0) for status, matrix in sorted(self._by_status.items())
                  if status == 0 or status >= 400}
        series["error_statuses"] = {status: counts.tolist() for status, counts in errors.items() if counts.any()}
        return series

    @cached_property
    def summary(self) -> dict:
        """Findings per scope (the run, each stage), overall and per endpoint: what reports show."""
        return {
            "overall": self._scopes(self.select(None)),
            "endpoints": [{"endpoint": label, "method": method, "name": name,
                           **self._scopes(np.array([i], dtype=np.int64))}
                          for i, (label, (method, name)) in enumerate(zip(self.endpoints, self.data.endpoints))],
        }

    def to_json(self) -> dict:
        """``analysis.json``: see ``docs/design/003-slo-and-verdict.md`` for its schema."""
        everything = self.select(None)
        load = self.data.load
        return {
            "schema_version": SCHEMA_VERSION,
            "run": self.info.to_json(),
            "window_s": 1,
            "window_count": self.window_count,
            "stages": [{"name": s.name, "start_s": s.start_s, "end_s": s.end_s, "users": s.users, "peak": s.peak,
                        "first_window": s.first_window, "stop_window": s.stop_window} for s in self.stages],
            **self.summary,
            "load": {"samples": len(load),
                     "max_users": _max(load, "users"), "max_target_users": _max(load, "target_users"),
                     "max_rps": _max(load, "rps"), "max_cpu_percent": _max(load, "cpu_percent"),
                     "max_in_flight": _max(load, "in_flight_max")},
            "latency_corrected": self.latency_corrected,
            "arrivals": self._arrivals_json(),
            "series": {"overall": self._series(everything),
                       "endpoints": {label: self._series(np.array([i], dtype=np.int64))
                                     for i, label in enumerate(self.endpoints)}},
            "warnings": list(self.data.warnings),
        }


    def _arrivals_json(self) -> dict | None:
        """The open model's arrivals: over the run, per stage, and per second; None for a closed run."""
        run = self.arrival_stats(0, self.window_count)
        if run is None:
            return None
        return {"run": run,
                "stages": {stage.name: self.arrival_stats(stage.first_window, stage.stop_window)
                           for stage in self.stages},
                "series": {key: column.tolist() for key, column in self.arrival_counts.items()}}


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 4) if whole else None


def _max(frame, column: str) -> float | None:
    if not len(frame) or frame[column].isna().all():
        return None
    return float(frame[column].max())
