"""Record the run into its results folder: the glue between Locust's events and ``reports``.

Its options, the SLO check and the manifest's fixed part, all settled before
any load, are in ``locustfiles.run_setup``.

On the local runner (``locust --headless`` or the web UI without workers):
the folder is made and checked writable before any load (``init`` when
headless, the swarm request in the web UI); every request goes to ``reports.windows.WindowedRecorder``, whose own
``on_request`` listens to Locust's ``request`` event while the run records
(``locustfiles.request_hook``); once a
second the windows that ended are appended to ``windows.jsonl``; at
``test_stop`` the rest, ``totals.json`` and the final manifest are written.

Open model: the arrival scheduler (``locustfiles.open_model``, handed over
as ``Recording.arrivals`` when the run starts) is flushed with the windows:
its closed seconds go to ``arrivals.jsonl``, its pool (in flight, most in
flight, shoppers alive) into each ``load.jsonl`` line, and the run's totals
of planned, started and dropped arrivals into the manifest.

A run stopped before its profile's end (Ctrl-C, SIGTERM, the web UI's stop)
is written all the same and marked ``interrupted``; when a signal stopped
it, the process exits 4.

The SLO file is checked (``reports.slo``) before any load and copied into
the folder as ``slo.yaml``; when the run ends, ``reports.gate`` judges the
folder, writes the verdict and its reports, and the process exits with the
verdict's code (0 READY, 1 NOT READY, 3 INCONCLUSIVE, 4 INTERRUPTED),
whatever Locust would have chosen. A request a stopped shopper was still waiting for
is recorded as ``cancelled`` (see ``locustfiles.adapter``), never dropped.

In distributed mode (``--processes``, ``--master`` with ``--worker``s) the
workers record and ship their windows, and this master merges them and
alone writes the folder: see ``locustfiles.distributed``. A worker lost on
the way makes the run ``incomplete`` (exit 3), or, when the run was also
interrupted, says so in the manifest's ``incomplete_reason``.
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
from locustfiles.request_hook import RequestHook
from locustfiles.server_scrape import ScrapeLoop
from profiles import plan_at
from reports.raw_samples import RawSampleLog, sample_row
from reports.records import record_from_event
from reports.results_folder import SCHEMA_VERSION, ResultsFolder
from reports.windows import WindowedRecorder
from surgegate import exit_codes
from surgegate.errors import SurgegateError

__all__ = ["Recording"]

log = logging.getLogger("surgegate")


class Recording:
    """One run's recording: its folder, its recorder, and the greenlet that flushes it."""

    FINAL_MARGIN_S = 30.0
    """How long the master waits for workers' final reports beyond ``--stop-timeout``."""

    def __init__(self, environment, folder: ResultsFolder, manifest: dict, profile=None,
                 raw_samples: bool = False, endpoint_names: tuple[str, ...] = (), scraper=None) -> None:
        self.environment = environment
        self.folder = folder
        self.manifest = manifest
        self.profile = profile
        self._stage = None
        self.write_error: str | None = None
        self.recorder: WindowedRecorder | None = None
        self._hook = RequestHook(environment)
        """The recorder's own listener without raw samples, else ``_on_request_sampled``, while the run records."""
        self._flusher = None
        self._written_rows = 0
        self._distributed = isinstance(environment.runner, locust.runners.MasterRunner)
        self._interrupted = False
        self._stopped_early = False
        self._incomplete: list[str] = []
        self.ledger = WorkerLedger(manifest["run_id"]) if self._distributed else None
        self.samples = RawSampleLog(folder.path) if raw_samples else None
        self.scraper = scraper
        """The server-metrics scraper (``reports.server_metrics.ServerScraper``), or None."""
        self._scrape_loop = None
        self._process = psutil.Process()
        self.endpoint_names = endpoint_names
        self.gate_exit_code: int | None = None
        self.verdict_line = ""
        """Once judged: e.g. ``NOT READY (exit 1)``, for the live view."""
        self.report_path = None
        self.arrivals = None
        """Open model: this process's ``ArrivalScheduler`` (local runs), set when the run starts; else None."""
        self._arrival_rows: list[dict] = []
        """Open model, distributed: workers' ``arrivals.jsonl`` rows not written yet."""
        self.arrival_totals = {"planned": 0, "started": 0, "dropped": 0}
        """Of the ``arrivals.jsonl`` rows written so far."""

    # -- the run's start ---------------------------------------------------------------------------------

    def on_test_start(self) -> None:
        """The run begins: open the recorder, write the manifest as running, start flushing."""
        self.recorder = WindowedRecorder(started_at_s=time.time())
        self._hook.attach(self.recorder.on_request if self.samples is None else self._on_request_sampled)
        self.manifest.update(status="running", started_at=_iso(self.recorder.started_at_s))
        self.manifest["recording"]["raw_samples"] = self.samples is not None
        if self._distributed:
            self.manifest["recording"]["distributed"] = True
            workers = sorted(self.environment.runner.clients)
            if self._open:
                self.ledger.share_out(workers)  # the open model's arrivals: worker i of n takes every n-th
            for worker_id in workers:
                self._welcome(worker_id)
        self.folder.write_json("manifest.json", self.manifest)
        self.event("start")
        self._process.cpu_percent()  # starts the measurement: each sample gives the CPU used since the last one
        self._flusher = gevent.spawn(self._flush_every_second)
        if self.scraper is not None:
            self._scrape_loop = ScrapeLoop(self.scraper, self.recorder.started_at_s, self.folder.append_lines,
                                           on_write_error=self._fail_writing)

    def _welcome(self, worker_id: str) -> None:
        """Tell a worker when the run started (so that its windows line up with ours) and book it."""
        state = self.ledger.join(worker_id, self.elapsed_s())
        self.environment.runner.send_message(START, {
            "run_id": self.ledger.run_id, "started_at_s": self.recorder.started_at_s,
            "raw_samples": self.samples is not None, "share": state.share}, client_id=worker_id)

    def elapsed_s(self) -> float:
        """Seconds since the run started (0 before it)."""
        return time.time() - self.recorder.started_at_s if self.recorder is not None else 0.0

    # -- what arrives during the run -----------------------------------------------------------------------

    def _stop_recording(self) -> None:
        """No more requests are filed: the recorder is done with (written, or lost with its folder)."""
        self.recorder = None
        self._hook.detach()

    def _on_request_sampled(self, **kwargs) -> None:
        """Every request of this process, with raw samples: filed by the recorder, its record to ``samples.csv.gz``."""
        self.recorder.on_request(**kwargs)
        record = record_from_event(**kwargs)
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
                                row["count"], row["bytes"], row["hist"], row.get("hist_due"))
        self._arrival_rows.extend(payload.get("arrivals") or ())
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
            if self.recorder is None:  # the scrape loop found the folder gone meanwhile (_fail_writing): said already
                return
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
        if self.write_error is not None:
            return  # said already (the flusher and the scrape loop can both find out)
        self.write_error = f"cannot write results to {self.folder.path}: {exc.strerror or exc}"
        print(f"Error: {self.write_error}; the run is stopped and inconclusive", file=sys.stderr, flush=True)
        self._stop_recording()
        if self._scrape_loop is not None:  # it may be the caller: stop it from a greenlet of its own
            gevent.spawn(self._scrape_loop.stop)
            self._scrape_loop = None
        if stop_run and self.environment.runner is not None:
            gevent.spawn(self.environment.runner.quit)

    def _sample_load(self, now_s: float) -> None:
        """One line of ``load.jsonl``: the load planned and running now, and the generator's health."""
        runner = self.environment.runner
        elapsed_s = now_s - self.recorder.started_at_s
        tick = plan_at(self.profile, elapsed_s) if self.profile is not None and not self._stopped_early else None
        if tick is not None and tick.stage_name != self._stage:
            self._stage = tick.stage_name
            self.event("stage", stage=tick.stage_name, stage_index=tick.stage_index, target_users=tick.users)
        line = {
            "t": round(elapsed_s, 3),
            "stage": tick.stage_name if tick else None,
            "target_users": tick.users if tick else 0,
            **({"target_arrival_rate": tick.arrival_rate if tick else 0.0} if self._open else {}),
            "users": runner.user_count if runner else 0,
            "rps": round(runner.stats.total.current_rps, 3) if runner else 0.0,
            "cpu_percent": round(self._process.cpu_percent(), 1),
            "rss_mb": round(self._process.memory_info().rss / 2**20, 1),
            "cpu_warning": bool(runner and (runner.cpu_warning_emitted
                                            or getattr(runner, "worker_cpu_warning_emitted", False))),
        }
        if self.ledger is not None:  # each worker's own CPU, from its latest report
            line["worker_cpu_percent"] = {s.worker_id: s.cpu_percent for s in self.ledger.live()}
        if self._open:
            line.update(self._pool_sample())
        self.folder.append_lines("load.jsonl", [line])

    @property
    def _open(self) -> bool:
        return self.profile is not None and self.profile.is_open

    def _pool_sample(self) -> dict:
        """In flight now, the most in flight since the last sample, and shoppers alive: this process's or the
        sum of the workers' latest reports (each worker's own moment, so the sum is approximate by up to 3 s)."""
        if self.ledger is None:
            return self.arrivals.load_sample() if self.arrivals is not None else {}
        samples = [s.pool for s in self.ledger.live() if s.pool]
        return {key: sum(sample[key] for sample in samples) for key in ("in_flight", "in_flight_max", "pool")}
    def stop_early(self, breach: dict) -> None:
        """A capacity search found its breaking point: the run ends here as its profile meant, not interrupted."""
        if self.recorder is None:
            return
        self._stopped_early = True
        if self.arrivals is not None:
            self.arrivals.stop()  # open model: the next level's arrivals stop now, not at the shape's next tick
        at_s = round(self.elapsed_s(), 3)
        self.manifest["search_stop"] = {"at_s": at_s, **breach}
        self.event("search_stop", **breach)
        log.info("surgegate: capacity search stops at %.0f s: %s", at_s, breach["text"])

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
        arrival_rows, self._arrival_rows = self._arrival_rows, []
        if self.arrivals is not None:
            arrival_rows.extend(self.arrivals.flush(now_s))
        if arrival_rows:
            self.folder.append_lines("arrivals.jsonl", arrival_rows)
            for row in arrival_rows:
                for key in self.arrival_totals:
                    self.arrival_totals[key] += row[key]
        if self.samples is not None:
            self.samples.write_chunk()

    # -- the end -------------------------------------------------------------------------------------------

    def on_quitting(self) -> None:
        """Locust is shutting down and about to choose its exit code: make it the verdict's.

        Still recording means a signal (SIGTERM, Ctrl-C) cut the run short:
        stop the shoppers now (their requests in flight are recorded as
        cancelled), so that the run is written and judged before Locust
        picks the code, which it does before stopping the runner itself.
        """
        if self.recorder is not None:
            self._interrupted = True
            self.environment.runner.stop()  # fires test_stop: everything is written and judged
            if self.recorder is not None:  # the runner was not running, so no test_stop
                self.on_test_stop()
        if self.write_error is not None:
            self.environment.process_exit_code = exit_codes.INCONCLUSIVE
        elif self.gate_exit_code is not None:
            self.environment.process_exit_code = self.gate_exit_code

    def on_test_stop(self) -> None:
        """The run ended: collect the workers' last reports, write what is left, the totals and the manifest."""
        if self.recorder is None:
            return
        elapsed_s = self.elapsed_s()
        if elapsed_s < self.manifest["profile"]["total_s"] - 1.0 and not self._stopped_early:
            self._interrupted = True  # stopped before the profile's end, and not by its own search
        if self._flusher is not None and self._flusher is not gevent.getcurrent():
            self._flusher.kill(block=True)
        if self.ledger is not None:
            self._collect_finals()
        if self._scrape_loop is not None:
            self._scrape_loop.stop()  # one last scrape, so that the server's counters cover the whole run
            self._scrape_loop = None
        try:
            self._write_final(elapsed_s)
        except OSError as exc:
            self._fail_writing(exc, stop_run=False)  # already stopping
        self._stop_recording()
        if self.write_error is None:
            self._judge()

    def _judge(self) -> None:
        """Judge the folder just written: verdict, reports, console summary, and the exit code to use."""
        from reports.gate import evaluate_folder

        try:
            result = evaluate_folder(self.folder.path, endpoint_names=self.endpoint_names or None)
        except SurgegateError as exc:
            print(f"Error: {exc}; the run is inconclusive", file=sys.stderr, flush=True)
            self.gate_exit_code = exit_codes.INCONCLUSIVE
            return
        except Exception as exc:  # noqa: BLE001 - a bug in judging must not lose the run or show a traceback
            log.exception("surgegate: judging the run failed")
            print(f"Error: could not judge the run in {self.folder.path}: {type(exc).__name__}: {exc}; "
                  f"rebuild with 'surgegate report {self.folder.path}'", file=sys.stderr, flush=True)
            self.gate_exit_code = exit_codes.INCONCLUSIVE
            return
        self.gate_exit_code = result.exit_code
        self.verdict_line = f"{result.verdict.verdict.replace('_', ' ')} (exit {result.exit_code})"
        html = self.folder.path / "report.html"
        self.report_path = html if html.exists() else self.folder.path / "summary.md"
        print(result.console, end="", flush=True)

    def abort(self) -> int:
        """A second signal: write what was recorded now, without waiting for shoppers or workers; the exit code.

        Requests still in flight and workers' unsent reports are missing; the
        manifest says so (``in_flight_not_awaited``). Must not yield to other
        greenlets: it may run inside a signal handler.
        """
        if self.recorder is None:
            return self.environment.process_exit_code or exit_codes.INTERRUPTED
        self._interrupted = True
        self.manifest["in_flight_not_awaited"] = True
        if self._flusher is not None:
            self._flusher.kill(block=False)
        if self.ledger is not None:
            for state in self.ledger.live():
                self.ledger.mark_lost(state.worker_id, self.elapsed_s())
                self.event("worker_lost", worker=state.worker_id, last_report_t=state.last_report_t,
                           reason="no final report before the second interrupt")
            self._incomplete = self.ledger.problems()
        try:
            self._write_final(self.elapsed_s())
        except OSError as exc:
            self._fail_writing(exc, stop_run=False)
        self._stop_recording()
        if self.write_error is not None:
            return exit_codes.INCONCLUSIVE
        self._judge()
        print(f"surgegate: second interrupt: results written to {self.folder.path} without waiting for requests "
              "in flight", file=sys.stderr, flush=True)
        return self.gate_exit_code if self.gate_exit_code is not None else exit_codes.INTERRUPTED

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
                   "bytes": c.response_bytes, "hist": c.histogram.encode().decode("ascii"),
                   **({} if c.due_histogram is None else {"hist_due": c.due_histogram.encode().decode("ascii")})}
                  for k, c in sorted(self.recorder.totals.items())]
        self.folder.write_json("totals.json", {"schema_version": SCHEMA_VERSION, "totals": totals})
        # Interrupted first: the user stopped it, and exit 4 says so; what is missing is in incomplete_reason.
        status = "interrupted" if self._interrupted else "incomplete" if self._incomplete else "complete"
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
                    "raw_samples": self.samples.written if self.samples is not None else None,
                    **({"arrivals": dict(self.arrival_totals)} if self._open else {})})
        self.folder.write_json("manifest.json", self.manifest)
        log.info("surgegate: results (%s) written to %s", status, self.folder.path)


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds")
