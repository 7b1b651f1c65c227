"""Read a results folder into arrays: ``RunData.read(path)``, the only place analysis touches the files
(but ``server_metrics.jsonl``, read by ``reports.server_series`` for root-cause hints only).

What is read (the contract is ``reports.results_folder``; unknown files and fields are ignored):

- ``manifest.json``: schema_version 1, status, times, the profile's effective stages. A manifest
  still saying ``running`` after the run means the recorder died: the run is read as incomplete.
- ``windows.jsonl``: every row, its histogram decoded into non-zero counters (``reports._hdr_codec``).
  A last line without its newline (a crash mid-append) is dropped, as ``ResultsFolder.read_lines`` does.
- ``totals.json``: only to cross-check the windows' request count (a mismatch becomes a warning).
- ``load.jsonl``, ``events.jsonl``: optional (folders written before they existed have neither).
- Open model: ``hist_due`` of each ``windows.jsonl`` row (times from when each request was due by
  the arrival schedule, corrected for coordinated omission) and ``arrivals.jsonl`` (planned, started
  and dropped arrivals per second and stage). Closed-model folders have neither: their latency is
  read as not corrected (``latency_corrected`` False) and they have no arrivals.

Windows are numbered by second: window ``i`` holds the requests that completed in
``[i, i + 1)`` s after the run started. A stage owns the windows whose middle
``i + 0.5`` falls inside ``[start_s, end_s)``, so every window belongs to at most one
stage, even where stages start at fractions of a second (july15 at time_scale 0.02).
The run spans windows ``0 .. window_count - 1``: up to the run's elapsed time, or the
last window written when the run never ended (a window with no rows is a second in
which nothing completed: it counts, as zero requests).

Every problem is a ``BadInput`` line naming the file, the line or field, and what was wrong.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reports._hdr_codec import HistogramError, decode_rows
from reports.results_folder import ResultsFolder
from surgegate.errors import BadInput

__all__ = ["RunData", "RunInfo", "StageSpan", "FAILURE_EXEMPT_KINDS", "NO_LATENCY_KINDS", "STATUSES"]

STATUSES = ("running", "complete", "interrupted", "incomplete")
FAILURE_EXEMPT_KINDS = frozenset({"ok", "rate_limited", "cancelled"})
"""Kinds that are not failures: a 429 is the shop shedding load as designed; a cancelled request was
stopped by the load generator, not answered. Any other kind, including one unknown to this version, is."""
NO_LATENCY_KINDS = frozenset({"cancelled", "refused_target"})
"""Kinds whose time says nothing about the shop: stopped by us, or never sent."""


@dataclass(frozen=True)
class StageSpan:
    """A stage of the played profile and the windows it owns: ``[first_window, stop_window)``."""

    name: str
    start_s: float
    end_s: float
    users: int
    peak: bool
    first_window: int
    stop_window: int
    arrival_rate: float | None = None
    """Open model: journeys planned per second; None when closed."""

    @property
    def window_count(self) -> int:
        """Seconds of the stage that the run reached."""
        return max(0, self.stop_window - self.first_window)


@dataclass(frozen=True)
class RunInfo:
    """What ran, as the manifest says (``status`` as recorded; ``running`` means the recorder died)."""

    run_id: str
    status: str
    started_at: str | None
    ended_at: str | None
    elapsed_s: float | None
    profile_name: str
    time_scale: float | None
    peak_multiplier: float | None
    total_s: float | None
    target: str
    adapter: str
    incomplete_reason: str | None
    model: str = "closed"
    """``open`` (arrival rates) or ``closed`` (users), as the manifest's profile says (closed when absent)."""

    def to_json(self) -> dict:
        """The run's identity for ``analysis.json`` and ``verdict.json``."""
        return {"run_id": self.run_id, "status": self.status, "started_at": self.started_at,
                "ended_at": self.ended_at, "elapsed_s": self.elapsed_s, "target": self.target,
                "adapter": self.adapter, "incomplete_reason": self.incomplete_reason,
                "profile": {"name": self.profile_name, "time_scale": self.time_scale,
                            "peak_multiplier": self.peak_multiplier, "total_s": self.total_s,
                            "model": self.model}}


@dataclass
class RunData:
    """A results folder, read and checked: the run, its stages, its rows and decoded histograms, its load."""

    path: Path
    info: RunInfo
    stages: tuple[StageSpan, ...]
    window_count: int
    endpoints: tuple[tuple[str, str], ...]
    """(method, name) of every endpoint seen, sorted; analysis refers to them by position."""
    rows: pd.DataFrame
    """One row per windows.jsonl line: second, endpoint (position), status, kind, count, bytes."""
    latency: dict[str, np.ndarray]
    """Decoded histogram counters of the rows with a meaningful time: second, endpoint, bucket, count."""
    latency_due: dict[str, np.ndarray]
    """The same for the times from when each request was due (open model; empty arrays when closed)."""
    latency_corrected: bool
    """Whether the run recorded times from when requests were due (open model), i.e. corrected latency."""
    arrivals: pd.DataFrame
    """arrivals.jsonl (open model): second, stage, planned, started, dropped; empty when closed."""
    load: pd.DataFrame
    """load.jsonl: t, stage, target_users, users, rps, cpu_percent (the busiest process's; empty when absent)."""
    events: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, path: str | Path) -> RunData:
        """Read and check the folder at ``path``.

        Raises:
            BadInput: missing folder, not a results folder, or an unreadable or malformed member.
        """
        folder_path = Path(path)
        if not folder_path.is_dir():
            raise BadInput(f"{path}: no such results folder")
        if not (folder_path / "manifest.json").is_file():
            raise BadInput(f"{path}: not a results folder (no manifest.json)")
        folder = ResultsFolder(folder_path)
        manifest = _read_json(folder, "manifest.json")
        info, raw_stages = _parse_manifest(folder_path / "manifest.json", manifest)
        rows, latency, latency_due, endpoints = _read_windows(folder)
        corrected = bool((manifest.get("recording") or {}).get("latency_corrected")) or bool(len(latency_due["count"]))
        arrivals = _read_arrivals(folder)
        load = _read_load(folder)
        events = _read_lines(folder, "events.jsonl")
        last_row = int(rows["second"].max()) + 1 if len(rows) else 0
        if info.elapsed_s is not None:
            window_count = max(last_row, math.ceil(info.elapsed_s))
        else:
            last_load = math.ceil(float(load["t"].max())) if len(load) else 0
            window_count = max(last_row, last_load)
        stages = tuple(_span(stage, window_count) for stage in raw_stages)
        data = cls(folder_path, info, stages, window_count, endpoints, rows, latency, latency_due, corrected,
                   arrivals, load, events)
        data._cross_check_totals(folder)
        return data

    def _cross_check_totals(self, folder: ResultsFolder) -> None:
        if not (folder.path / "totals.json").is_file():
            if self.info.status in ("complete", "interrupted"):
                self.warnings.append("totals.json is missing although the run ended")
            return
        totals = _read_json(folder, "totals.json")
        try:
            counted = sum(int(row["count"]) for row in totals["totals"])
        except (KeyError, TypeError, ValueError):
            raise BadInput(f"{folder.path / 'totals.json'}: totals: must list rows with a count") from None
        in_windows = int(self.rows["count"].sum()) if len(self.rows) else 0
        if counted != in_windows:
            self.warnings.append(f"totals.json counts {counted} requests but windows.jsonl {in_windows}")


def _span(stage: dict, window_count: int) -> StageSpan:
    first = min(max(0, math.ceil(stage["start_s"] - 0.5)), window_count)
    stop = min(max(first, math.ceil(stage["end_s"] - 0.5)), window_count)
    return StageSpan(stage["name"], stage["start_s"], stage["end_s"], stage["users"], stage["peak"], first, stop,
                     stage.get("arrival_rate"))


def _read_json(folder: ResultsFolder, name: str) -> Any:
    try:
        return folder.read_json(name)
    except json.JSONDecodeError as error:
        raise BadInput(f"{folder.path / name}: not valid JSON: {error.msg} at line {error.lineno}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BadInput(f"{folder.path / name}: cannot be read: {getattr(error, 'strerror', None) or error}") from None


def _read_lines(folder: ResultsFolder, name: str) -> list[dict]:
    try:
        lines = folder.read_lines(name)
    except json.JSONDecodeError:
        text = (folder.path / name).read_text(encoding="utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            try:
                json.loads(line) if line else None
            except json.JSONDecodeError as error:
                raise BadInput(f"{folder.path / name}: line {number}: not valid JSON: {error.msg}") from None
        raise BadInput(f"{folder.path / name}: not valid JSON lines") from None
    except (OSError, UnicodeDecodeError) as error:
        raise BadInput(f"{folder.path / name}: cannot be read: {getattr(error, 'strerror', None) or error}") from None
    for number, line in enumerate(lines, 1):
        if not isinstance(line, dict):
            raise BadInput(f"{folder.path / name}: line {number}: must be a JSON object, got {type(line).__name__}")
    return lines


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _parse_manifest(where: Path, manifest: Any) -> tuple[RunInfo, list[dict]]:
    def bad(field_path: str, rule: str, value: Any = ...) -> BadInput:
        got = "" if value is ... else f", got {json.dumps(value)[:60]}"
        return BadInput(f"{where}: {field_path}: {rule}{got}")

    if not isinstance(manifest, dict):
        raise bad("(top level)", "must be a JSON object")
    if manifest.get("schema_version") != 1:
        raise bad("schema_version", "this surgegate reads version 1", manifest.get("schema_version"))
    status = manifest.get("status")
    if status not in STATUSES:
        raise bad("status", f"must be one of {', '.join(STATUSES)}", status)
    profile = manifest.get("profile")
    if not isinstance(profile, dict):
        raise bad("profile", "must be an object", profile)
    stages = profile.get("stages", [])
    if not isinstance(stages, list):
        raise bad("profile.stages", "must be a list", stages)
    checked = []
    for index, stage in enumerate(stages):
        place = f"profile.stages[{index}]"
        if not isinstance(stage, dict) or not isinstance(stage.get("name"), str):
            raise bad(f"{place}.name", "must be text", stage.get("name") if isinstance(stage, dict) else stage)
        for key in ("start_s", "end_s"):
            if not _number(stage.get(key)):
                raise bad(f"{place}.{key}", "must be a number", stage.get(key))
        rate = stage.get("arrival_rate")
        if rate is not None and (not _number(rate) or rate < 0):
            raise bad(f"{place}.arrival_rate", "must be a number >= 0", rate)
        checked.append({"name": stage["name"], "start_s": float(stage["start_s"]), "end_s": float(stage["end_s"]),
                        "users": int(stage.get("users") or 0), "peak": stage.get("peak") is True,
                        "arrival_rate": None if rate is None else float(rate)})
    elapsed = manifest.get("elapsed_s")
    if elapsed is not None and not _number(elapsed):
        raise bad("elapsed_s", "must be a number", elapsed)
    window_s = (manifest.get("recording") or {}).get("window_s", 1.0)
    if window_s != 1.0:
        raise bad("recording.window_s", "this surgegate reads 1-second windows only", window_s)

    def optional_number(key: str) -> float | None:
        value = profile.get(key)
        return float(value) if _number(value) else None

    info = RunInfo(
        run_id=str(manifest.get("run_id", where.parent.name)), status=status,
        started_at=manifest.get("started_at"), ended_at=manifest.get("ended_at"),
        elapsed_s=None if elapsed is None or status == "running" else float(elapsed),
        profile_name=str(profile.get("name", "")), time_scale=optional_number("time_scale"),
        peak_multiplier=optional_number("peak_multiplier"), total_s=optional_number("total_s"),
        target=str(manifest.get("target", "")), adapter=str(manifest.get("adapter", "")),
        incomplete_reason=manifest.get("incomplete_reason"),
        model="open" if profile.get("model") == "open" else "closed")
    return info, checked


_ROW_FIELDS = (("t", _number, "a number"), ("name", lambda v: isinstance(v, str), "text"),
               ("method", lambda v: isinstance(v, str), "text"),
               ("status", lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
               ("kind", lambda v: isinstance(v, str), "text"),
               ("count", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "a whole number >= 0"),
               ("hist", lambda v: isinstance(v, str), "an encoded histogram"))


def _read_windows(folder: ResultsFolder) -> tuple[pd.DataFrame, dict[str, np.ndarray], dict[str, np.ndarray],
                                                   tuple[tuple[str, str], ...]]:
    lines = _read_lines(folder, "windows.jsonl")
    where = folder.path / "windows.jsonl"
    endpoint_of: dict[tuple[str, str], int] = {}
    seconds, endpoints, statuses, kinds, counts, sizes = [], [], [], [], [], []
    timed_rows, histograms = [], []  # rows whose response times count, and their encoded histograms
    due_rows, due_histograms = [], []  # the same rows' times from when they were due (open model)
    for number, row in enumerate(lines, 1):
        for key, check, what in _ROW_FIELDS:
            if key not in row:
                raise BadInput(f"{where}: line {number}: {key}: required field is missing")
            if not check(row[key]):
                raise BadInput(f"{where}: line {number}: {key}: must be {what}, got {json.dumps(row[key])[:60]}")
        if row["t"] < 0:
            raise BadInput(f"{where}: line {number}: t: must be >= 0, got {row['t']}")
        second = int(math.floor(row["t"] + 1e-9))
        endpoint = endpoint_of.setdefault((row["method"], row["name"]), len(endpoint_of))
        seconds.append(second)
        endpoints.append(endpoint)
        statuses.append(row["status"])
        kinds.append(row["kind"])
        counts.append(row["count"])
        sizes.append(row.get("bytes", 0) if isinstance(row.get("bytes", 0), int) else 0)
        if row["kind"] not in NO_LATENCY_KINDS and row["count"]:
            timed_rows.append(number - 1)
            histograms.append(row["hist"])
            if "hist_due" in row:
                if not isinstance(row["hist_due"], str):
                    raise BadInput(f"{where}: line {number}: hist_due: must be an encoded histogram, "
                                   f"got {json.dumps(row['hist_due'])[:60]}")
                due_rows.append(number - 1)
                due_histograms.append(row["hist_due"])
    try:
        positions, buckets, bucket_counts = decode_rows(histograms)
    except HistogramError as error:
        raise BadInput(f"{where}: line {timed_rows[error.position] + 1}: hist: {error}") from None
    try:
        due_positions, due_buckets, due_counts = decode_rows(due_histograms)
    except HistogramError as error:
        raise BadInput(f"{where}: line {due_rows[error.position] + 1}: hist_due: {error}") from None
    # Endpoints are numbered in sorted order, so every output lists them the same way.
    ordered = sorted(endpoint_of)
    renumber = np.empty(len(ordered), dtype=np.int64)
    for position, key in enumerate(ordered):
        renumber[endpoint_of[key]] = position
    rows = pd.DataFrame({"second": np.asarray(seconds, dtype=np.int64),
                         "endpoint": renumber[np.asarray(endpoints, dtype=np.int64)] if endpoints else
                         np.zeros(0, dtype=np.int64),
                         "status": np.asarray(statuses, dtype=np.int64), "kind": pd.Series(kinds, dtype=object),
                         "count": np.asarray(counts, dtype=np.int64), "bytes": np.asarray(sizes, dtype=np.int64)})

    def counters(row_numbers: list[int], at: np.ndarray, bucket: np.ndarray, count: np.ndarray) -> dict:
        row_of = np.asarray(row_numbers, dtype=np.int64)[at]
        return {"second": rows["second"].to_numpy()[row_of], "endpoint": rows["endpoint"].to_numpy()[row_of],
                "bucket": bucket, "count": count}

    latency = counters(timed_rows, positions, buckets, bucket_counts)
    latency_due = counters(due_rows, due_positions, due_buckets, due_counts)
    return rows, latency, latency_due, tuple(ordered)


_ARRIVAL_COUNTS = ("planned", "started", "dropped")


def _read_arrivals(folder: ResultsFolder) -> pd.DataFrame:
    """arrivals.jsonl as columns (second, stage, planned, started, dropped); lines of one key add up."""
    where = folder.path / "arrivals.jsonl"
    lines = _read_lines(folder, "arrivals.jsonl")
    for number, line in enumerate(lines, 1):
        if not _number(line.get("t")) or line["t"] < 0:
            raise BadInput(f"{where}: line {number}: t: must be a number >= 0, got {json.dumps(line.get('t'))}")
        if not isinstance(line.get("stage"), str):
            raise BadInput(f"{where}: line {number}: stage: must be text, got {json.dumps(line.get('stage'))[:60]}")
        for key in _ARRIVAL_COUNTS:
            value = line.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise BadInput(f"{where}: line {number}: {key}: must be a whole number >= 0, got {json.dumps(value)}")
    frame = pd.DataFrame({"second": np.asarray([int(line["t"]) for line in lines], dtype=np.int64),
                          "stage": pd.Series([line["stage"] for line in lines], dtype=object),
                          **{key: np.asarray([line[key] for line in lines], dtype=np.int64) for key in _ARRIVAL_COUNTS}})
    if not len(frame):
        return frame
    return frame.groupby(["second", "stage"], as_index=False, sort=True)[list(_ARRIVAL_COUNTS)].sum()


def _busiest_cpu(sample: dict) -> float | None:
    """The busiest load-generator process of a sample: the local or master one, or any worker's."""
    workers = sample.get("worker_cpu_percent")
    values = [sample.get("cpu_percent"), *(workers.values() if isinstance(workers, dict) else ())]
    numbers = [float(v) for v in values if _number(v)]
    return max(numbers) if numbers else None


def _read_load(folder: ResultsFolder) -> pd.DataFrame:
    """load.jsonl as columns; ``cpu_percent`` is the busiest process's (workers included, in distributed runs).

    Open model: also ``target_arrival_rate``, ``in_flight``, ``in_flight_max`` and ``pool`` (NaN when closed)."""
    columns = ("t", "stage", "target_users", "users", "rps", "target_arrival_rate", "in_flight", "in_flight_max",
               "pool")
    samples = [line for line in _read_lines(folder, "load.jsonl") if _number(line.get("t"))]
    frame = pd.DataFrame({column: [sample.get(column) for sample in samples] for column in columns})
    frame["cpu_percent"] = [_busiest_cpu(sample) for sample in samples]
    for column in ("t", "target_users", "users", "rps", "cpu_percent", "target_arrival_rate", "in_flight",
                   "in_flight_max", "pool"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame.sort_values("t", kind="stable").reset_index(drop=True)
