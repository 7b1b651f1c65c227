"""Record the run into its results folder: the glue between Locust's events and ``reports``.

    --results-dir DIR   where run folders go (default: results)
    --run-id ID         the run's folder name (default: UTC time and profile, e.g. 20261125T061500Z-july15)
    --raw-samples       also write every request to samples.csv.gz (small runs; checking the histograms)

On the local runner (``locust --headless`` or the web UI without workers):
the folder is made and checked writable before any load (``init`` when
headless, the swarm request in the web UI); every request goes through one
``request`` listener into ``reports.windows.WindowedRecorder``; once a
second the windows that ended are appended to ``windows.jsonl``; at
``test_stop`` the rest, ``totals.json`` and the final manifest are written.

A run stopped before its profile's end (Ctrl-C, SIGTERM, the web UI's stop)
is written all the same and marked ``interrupted``; when a signal stopped
it, the process exits 4. A request a stopped shopper was still waiting for
is recorded as ``cancelled`` (see ``locustfiles.adapter``), never dropped.

In distributed mode (``--processes``, ``--master`` with ``--worker``s) the
workers record and ship their windows, and this master merges them and
alone writes the folder: see ``locustfiles.distributed``. A worker lost on
the way makes the run ``incomplete`` (exit 3), whatever else happened.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from datetime import UTC, datetime

import gevent
import locust
import psutil

from locustfiles.distributed import PAYLOAD_KEY, START, STOP, WorkerLedger, wait_for_finals
from profiles import plan_at
from reports.raw_samples import RawSampleLog, sample_row
from reports.records import record_from_event
from reports.results_folder import SCHEMA_VERSION, ResultsFolder
from reports.windows import WindowedRecorder
from surgegate import exit_codes

__all__ = ["Recording", "add_options"]

log = logging.getLogger("surgegate")


def add_options(parser) -> None:
    """The recorder's command-line options."""
    parser.add_argument("--results-dir", default="results", include_in_web_ui=False,
                        help="folder for run folders (default: results)")
    parser.add_argument("--run-id", default="", include_in_web_ui=False,
                        help="name of this run's folder (default: UTC time and profile)")
    parser.add_argument("--raw-samples", action="store_true", default=False, include_in_web_ui=False,
                        help="also write one row per request to samples.csv.gz in the run's folder")


def default_run_id(profile_name: str, now: float | None = None) -> str:
    """``20261125T061500Z-july15``: sortable, and says what ran."""
    stamp = datetime.fromtimestamp(now if now is not None else time.time(), UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{profile_name}"


class Recording:
    """One run's recording: its folder, its recorder, and the greenlet that flushes it."""

    FINAL_MARGIN_S = 30.0
    """How long the master waits for workers' final reports beyond ``--stop-timeout``."""

    def __init__(self, environment, folder: ResultsFolder, manifest: dict, profile=None,
                 raw_samples: bool = False) -> None:
        self.environment = environment
        self.folder = folder
        self.manifest = manifest
        self.profile = profile
        self._stage = None
        self.write_error: str | None = None
        self.recorder: WindowedRecorder | None = None
        self._flusher = None
        self._written_rows = 0
        self._distributed = isinstance(environment.runner, locust.runners.MasterRunner)
        self._interrupted = False
        self._incomplete: list[str] = []
        self.ledger = WorkerLedger(manifest["run_id"]) if self._distributed else None
        self.samples = RawSampleLog(folder.path) if raw_samples else None
        self.extra_loops: list = []
        """Callables ``(recording) -> None`` run as greenlets for the run's length (server scrapes)."""
        self._greenlets: list = []
        self._process = psutil.Process()

    # -- the run's start ---------------------------------------------------------------------------------

    def on_test_start(self) -> None:
        """The run begins: open the recorder, write the manifest as running, start flushing."""
        self.recorder = WindowedRecorder(started_at_s=time.time())
        self.manifest.update(status="running", started_at=_iso(self.recorder.started_at_s))
        self.manifest["recording"]["raw_samples"] = self.samples is not None
        if self._distributed:
            self.manifest["recording"]["distributed"] = True
            for worker_id in list(self.environment.runner.clients):
                self._welcome(worker_id)
        self.folder.write_json("manifest.json", self.manifest)
        self.event("start")
        self._process.cpu_percent()  # starts the measurement: each sample gives the CPU used since the last one
        self._flusher = gevent.spawn(self._flush_every_second)
        self._greenlets = [gevent.spawn(loop, self) for loop in self.extra_loops]

    def _welcome(self, worker_id: str) -> None:
        """Tell a worker when the run started (so that its windows line up with ours) and book it."""
        self.ledger.join(worker_id, self.elapsed_s())
        self.environment.runner.send_message(START, {
            "run_id": self.ledger.run_id, "started_at_s": self.recorder.started_at_s,
            "raw_samples": self.samples is not None}, client_id=worker_id)

    def elapsed_s(self) -> float:
        """Seconds since the run started (0 before it)."""
        return time.time() - self.recorder.started_at_s if self.recorder is not None else 0.0

    # -- what arrives during the run -----------------------------------------------------------------------

    def on_request(self, **kwargs) -> None:
        """Every request of this process (Locust's ``request`` event)."""
        if self.recorder is not None:
            record = record_from_event(**kwargs)
            self.recorder.record(record)
            if self.samples is not None:
                self.samples.add(sample_row(record))

    def on_worker_connect(self, client_id: str) -> None:
        """A worker joined while the run goes on (master only)."""
        if self.recorder is not None and self.ledger is not None:
            self._welcome(client_id)
            self.event("worker_joined", worker=client_id)

    def on_worker_report(self, client_id: str, data: dict) -> None:
        """A worker's periodic report (``worker_report``) or final one: merge its rows (master only)."""
        self._merge(client_id, data.get(PAYLOAD_KEY))

    def on_final_message(self, environment, msg, **_kwargs) -> None:
        """A worker's final report (its ``surgegate_final`` message)."""
        if self._merge(msg.node_id, msg.data) is not None:
            self.event("worker_final", worker=msg.node_id, requests=msg.data["recorded"])

    def _merge(self, worker_id: str, payload: dict | None) -> dict | None:
        if self.recorder is None or self.ledger is None:
            return None
        was_lost = worker_id in self.ledger.workers and self.ledger.workers[worker_id].lost_t is not None
        payload = self.ledger.accept(worker_id, payload, self.elapsed_s())
        if payload is None:
            return None
        if was_lost:
            self.ledger.workers[worker_id].lost_t = None
            self.event("worker_back", worker=worker_id)
        for row in payload["rows"]:
            self.recorder.merge(row["t"], (row["name"], row["method"], row["status"], row["kind"]),
                                row["count"], row["bytes"], row["hist"])
        if self.samples is not None and payload.get("samples"):
            self.samples.extend(payload["samples"])
        return payload

    def _check_workers(self) -> None:
        """Mark the workers Locust lost (missing heartbeat, or gone without a final report)."""
        clients = self.environment.runner.clients
        for state in self.ledger.live():
            node = clients.get(state.worker_id)
            if node is None or node.state == locust.runners.STATE_MISSING:
                lost = self.ledger.mark_lost(state.worker_id, self.elapsed_s())
                if lost is not None:
                    log.warning("surgegate: worker %s lost (last report at %s)", lost.worker_id,
                                "never" if lost.last_report_t is None else f"t={lost.last_report_t:.1f} s")
                    self.event("worker_lost", worker=lost.worker_id, last_report_t=lost.last_report_t)

    # -- every second ------------------------------------------------------------------------------------

    def _flush_every_second(self) -> None:
        while True:
            gevent.sleep(1.0)
            try:
                if self.ledger is not None:
                    self._check_workers()
                self._flush(time.time())
                self._sample_load(time.time())
            except OSError as exc:
                self._fail_writing(exc)
                return

    def _fail_writing(self, exc: OSError, *, stop_run: bool = True) -> None:
        """The folder cannot be written any more: say so once and stop the run; recording what is lost is moot."""
        self.write_error = f"cannot write results to {self.folder.path}: {exc.strerror or exc}"
        print(f"Error: {self.write_error}; the run is stopped and inconclusive", file=sys.stderr, flush=True)
        self.recorder = None
        if stop_run and self.environment.runner is not None:
            gevent.spawn(self.environment.runner.quit)

    def _sample_load(self, now_s: float) -> None:
        """One line of ``load.jsonl``: the load planned and running now, and the generator's health."""
        runner = self.environment.runner
        elapsed_s = now_s - self.recorder.started_at_s
        tick = plan_at(self.profile, elapsed_s) if self.profile is not None else None
        if tick is not None and tick.stage_name != self._stage:
            self._stage = tick.stage_name
            self.event("stage", stage=tick.stage_name, stage_index=tick.stage_index, target_users=tick.users)
        line = {
            "t": round(elapsed_s, 3),
            "stage": tick.stage_name if tick else None,
            "target_users": tick.users if tick else 0,
            "users": runner.user_count if runner else 0,
            "rps": round(runner.stats.total.current_rps, 3) if runner else 0.0,
            "cpu_percent": round(self._process.cpu_percent(), 1),
            "rss_mb": round(self._process.memory_info().rss / 2**20, 1),
            "cpu_warning": bool(runner and (runner.cpu_warning_emitted
                                            or getattr(runner, "worker_cpu_warning_emitted", False))),
        }
        if self.ledger is not None:  # each worker's own CPU, from its latest report
            line["worker_cpu_percent"] = {s.worker_id: s.cpu_percent for s in self.ledger.live()}
        self.folder.append_lines("load.jsonl", [line])

    def event(self, kind: str, **fields) -> None:
        """One line of ``events.jsonl``: something that happened to the run, and when."""
        self.folder.append_lines("events.jsonl", [{"t": round(self.elapsed_s(), 3), "event": kind, **fields}])

    def _flush(self, now_s: float | None) -> None:
        before = None
        if self.ledger is not None and now_s is not None:
            before = self.ledger.watermark(self.recorder.window_index(now_s),
                                           lambda s: math.floor(s.joined_t / self.recorder.window_s))
        rows = self.recorder.flush(now_s, before_index=before)
        self._written_rows += self.folder.append_lines("windows.jsonl", (row.to_json() for row in rows))
        if self.samples is not None:
            self.samples.write_chunk()

    # -- the end -------------------------------------------------------------------------------------------

    def on_quitting(self) -> None:
        """Locust is shutting down. Still recording means a signal (SIGTERM, Ctrl-C) cut the run short."""
        if self.recorder is not None:
            self._interrupted = True
        if self.write_error is not None or self._incomplete:
            self.environment.process_exit_code = exit_codes.INCONCLUSIVE
        elif self._interrupted:
            self.environment.process_exit_code = exit_codes.INTERRUPTED

    def on_test_stop(self) -> None:
        """The run ended: collect the workers' last reports, write what is left, the totals and the manifest."""
        if self.recorder is None:
            return
        elapsed_s = self.elapsed_s()
        if elapsed_s < self.manifest["profile"]["total_s"] - 1.0:  # stopped before the profile's end
            self._interrupted = True
        for greenlet in [self._flusher, *self._greenlets]:
            if greenlet is not None and greenlet is not gevent.getcurrent():
                greenlet.kill(block=True)
        if self.ledger is not None:
            self._collect_finals()
        try:
            self._write_final(elapsed_s)
        except OSError as exc:
            self._fail_writing(exc, stop_run=False)  # already stopping
        self.recorder = None

    def _collect_finals(self) -> None:
        """Ask every worker to stop and send its final report; wait for all of them (bounded)."""
        self.environment.runner.send_message(STOP, {"run_id": self.ledger.run_id})
        timeout_s = (self.environment.stop_timeout or 0.0) + self.FINAL_MARGIN_S
        wait_for_finals(self.ledger, self._check_workers, timeout_s)
        for state in self.ledger.live():  # still nothing: as good as lost
            self.ledger.mark_lost(state.worker_id, self.elapsed_s())
            self.event("worker_lost", worker=state.worker_id, last_report_t=state.last_report_t,
                       reason=f"no final report within {timeout_s:g} s")
        self._incomplete = self.ledger.problems()

    def _write_final(self, elapsed_s: float) -> None:
        self._flush(None)
        self.event("stop", interrupted=self._interrupted, elapsed_s=round(elapsed_s, 3))
        totals = [{"name": k[0], "method": k[1], "status": k[2], "kind": k[3], "count": c.count,
                   "bytes": c.response_bytes, "hist": c.histogram.encode().decode("ascii")}
                  for k, c in sorted(self.recorder.totals.items())]
        self.folder.write_json("totals.json", {"schema_version": SCHEMA_VERSION, "totals": totals})
        status = "incomplete" if self._incomplete else "interrupted" if self._interrupted else "complete"
        if self._incomplete:
            self.manifest["incomplete_reason"] = "; ".join(self._incomplete)
        if self.ledger is not None:
            self.manifest["workers"] = [s.to_json() for s in self.ledger.workers.values()]
        self.manifest.update(
            status=status, interrupted=self._interrupted, ended_at=_iso(time.time()), elapsed_s=round(elapsed_s, 3),
            totals={"requests": self.recorder.recorded,
                    "failures": sum(c.count for k, c in self.recorder.totals.items() if k[3] != "ok"),
                    "cancelled": sum(c.count for k, c in self.recorder.totals.items() if k[3] == "cancelled"),
                    "window_rows": self._written_rows,
                    "raw_samples": self.samples.written if self.samples is not None else None})
        self.folder.write_json("manifest.json", self.manifest)
        log.info("surgegate: results (%s) written to %s", status, self.folder.path)


def base_manifest(run_id: str, profile, host: str, adapter_name: str) -> dict:
    """The manifest's fixed part: what is about to run."""
    import surgegate

    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "status": "starting",
        "profile": {"name": profile.name, "source": profile.source, "time_scale": profile.time_scale,
                    "peak_multiplier": profile.peak_multiplier, "total_s": profile.total_s,
                    # the effective plan, so that analysis needs the folder alone, not the profile file
                    "stages": [{"name": s.name, "start_s": s.start_s, "end_s": s.end_s, "users": s.users,
                                "spawn_rate": s.spawn_rate, "peak": s.peak, "mix": dict(s.mix)}
                               for s in profile.stages]},
        "target": host,
        "adapter": adapter_name,
        "versions": {"surgegate": surgegate.__version__, "locust": locust.__version__},
        "command_line": sys.argv,
        "recording": {"window_s": 1.0, "histogram": "HdrHistogram, microseconds, 1 us .. 1 h, 3 significant digits",
                      "windows_keyed_by": "completion time"},
    }


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds")
