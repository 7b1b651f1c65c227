"""Recording in distributed mode: workers ship their windows, the master alone writes the folder.

    master                                          worker (one per process or machine)
      test_start ---- surgegate_start {run, t0, share} -> records into its own WindowedRecorder from t0;
                                                      open model: takes arrivals k with k % n == i, share (i, n)
                 <--- report_to_master (every 3 s) -- rows of its closed windows, "closed_before",
                                                      its running count, raw samples (--raw-samples),
                                                      open model: its arrivals rows and its pool
      test_stop ----- surgegate_stop {run} ---------> stops its shoppers (the in-flight ones: cancelled)
                 <--- surgegate_final {run} --------- the rest of its rows and its final count

The master merges the rows (encoded HdrHistograms add exactly) and closes a
window only once every live worker has closed it. At the end it waits for
every worker's final report, however long the workers take to stop their
shoppers (bounded by ``--stop-timeout`` plus a margin), rather than Locust's
fixed half second. A worker that goes missing (Locust's heartbeat) or leaves
without a final report is *lost*: written into the events and the manifest
with the time of its last report, and the run is marked incomplete, never
silently undercounted. A worker whose final count differs from the rows the
master received makes the run incomplete too.

Every message carries the run id, so a late message from a previous run of
the web UI is ignored.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import gevent
import psutil

from locustfiles.request_hook import RequestHook
from reports.raw_samples import sample_row
from reports.records import record_from_event
from reports.windows import WindowedRecorder

__all__ = ["WorkerRecording", "WorkerLedger", "START", "STOP", "FINAL"]

log = logging.getLogger("surgegate")

START, STOP, FINAL = "surgegate_start", "surgegate_stop", "surgegate_final"
PAYLOAD_KEY = "surgegate"
"""The key of a worker's part of Locust's ``report_to_master`` data."""


class WorkerRecording:
    """A worker's side: record its own requests, ship them at every report and at the end."""

    def __init__(self, environment) -> None:
        self.environment = environment
        self.runner = environment.runner
        self.run_id = ""
        self.started_at_s: float | None = None
        self.recorder: WindowedRecorder | None = None
        self._hook = RequestHook(environment)
        self.samples: list[list] | None = None
        self._raw = False
        self.share: tuple[int, int] | None = None
        """Open model: (this worker's position, workers) among those at the run's start; None if it joined later."""
        self.arrivals = None
        """Open model: this worker's ``ArrivalScheduler``, set when the run starts."""
        self._process = psutil.Process()
        self.runner.register_message(START, self._on_start_message)
        self.runner.register_message(STOP, self._on_stop_message)
        environment.events.report_to_master.add_listener(self.on_report_to_master)
        environment.events.test_start.add_listener(lambda **_: self.on_test_start())
        environment.events.test_stop.add_listener(lambda **_: self.on_test_stop())
        # Added after the runner's own, so called before it (quitting fires in reverse): a worker told to quit
        # by a signal of its own (Ctrl-C reaches every --processes child) sends its final report before
        # Locust's "quit" message, on the same socket, so the master never takes it for lost.
        environment.events.quitting.add_listener(lambda **_: self.on_quitting())

    def _on_start_message(self, environment, msg, **_kwargs) -> None:
        self.run_id, self.started_at_s = msg.data["run_id"], float(msg.data["started_at_s"])
        self._raw = bool(msg.data.get("raw_samples"))
        share = msg.data.get("share")
        self.share = (int(share[0]), int(share[1])) if share else None

    def on_test_start(self) -> None:
        """The master started a run: record from its start time, so that the windows line up."""
        if self.started_at_s is None:  # never told: record from now (same machine clock assumed)
            log.warning("surgegate: worker got no start message from the master; its windows use its own clock")
            self.started_at_s = time.time()
        self.recorder = WindowedRecorder(started_at_s=self.started_at_s)
        self._process.cpu_percent()  # starts the measurement: each report gives the CPU used since the last one
        self.samples = [] if self._raw else None
        self._hook.attach(self.recorder.on_request if self.samples is None else self._on_request_sampled)

    def _on_request_sampled(self, **kwargs) -> None:
        """Every request of this worker, with raw samples: filed by the recorder, its record to the samples shipped."""
        self.recorder.on_request(**kwargs)
        record = record_from_event(**kwargs)
        self.samples.append(sample_row(record, self.runner.client_id))

    def _payload(self, now_s: float | None) -> dict:
        rows = self.recorder.flush(now_s)
        payload = {"run_id": self.run_id, "rows": [row.to_json() for row in rows],
                   "closed_before": self.recorder.window_index(now_s) if now_s is not None else None,
                   "recorded": self.recorder.recorded, "final": now_s is None,
                   "cpu_percent": round(self._process.cpu_percent(), 1),
                   "rss_mb": round(self._process.memory_info().rss / 2**20, 1)}
        if self.samples is not None:
            payload["samples"], self.samples = self.samples, []
        if self.arrivals is not None:
            payload["arrivals"] = self.arrivals.flush(now_s)
            payload["pool"] = self.arrivals.load_sample()
        return payload

    def on_report_to_master(self, client_id, data: dict, **_kwargs) -> None:
        """Locust's periodic worker report (every 3 s): add the windows closed since the last one."""
        if self.recorder is not None:
            data[PAYLOAD_KEY] = self._payload(time.time())

    def on_test_stop(self) -> None:
        """This worker's shoppers have stopped: send everything left, with the final count."""
        if self.recorder is None:
            return
        if self.arrivals is not None:
            self.arrivals.stop()  # the run is over here: arrivals not yet due are not planned any more
        payload = self._payload(None)
        self.recorder = None
        self._hook.detach()
        self.started_at_s = None
        self.arrivals = None
        self.runner.send_message(FINAL, payload)

    def on_quitting(self) -> None:
        """This worker is shutting down: stop its shoppers and send the final report first."""
        if self.recorder is not None:
            self.runner.stop()  # fires test_stop, which sends the final report
            if self.recorder is not None:
                self.on_test_stop()

    def _on_stop_message(self, environment, msg, **_kwargs) -> None:
        """The master is ending the run (also when Locust itself would only tell workers to quit)."""
        if msg.data.get("run_id") != self.run_id or self.recorder is None:
            return
        self.runner.stop()  # fires test_stop, which sends the final report
        if self.recorder is not None:  # the runner was not running: test_stop did not fire
            self.on_test_stop()


@dataclass
class WorkerState:
    """What the master knows of one worker in this run."""

    worker_id: str
    joined_t: float
    last_report_t: float | None = None
    closed_before: int | None = None
    received: int = 0
    recorded: int = 0
    final: bool = False
    lost_t: float | None = None
    cpu_percent: float = 0.0
    """The worker's own CPU use (one core = 100) between its last two reports."""
    rss_mb: float = 0.0
    share: tuple[int, int] | None = None
    """Open model: (position, workers) when it was there at the start; it takes arrivals k with k % n == i."""
    pool: dict | None = None
    """Open model: its pool at its latest report (in_flight, in_flight_max, pool)."""

    def to_json(self) -> dict:
        return {"worker": self.worker_id, "joined_t": round(self.joined_t, 3),
                "last_report_t": None if self.last_report_t is None else round(self.last_report_t, 3),
                "requests_received": self.received, "requests_recorded": self.recorded,
                "final_report": self.final, "cpu_percent": self.cpu_percent,
                **({"share": list(self.share)} if self.share is not None else {}),
                "lost_t": None if self.lost_t is None else round(self.lost_t, 3)}


class WorkerLedger:
    """The master's side: which workers are in the run, what each sent, which were lost."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.workers: dict[str, WorkerState] = {}

    def join(self, worker_id: str, elapsed_s: float) -> WorkerState:
        """A worker is part of the run (connected at the start, or joined later)."""
        state = self.workers.get(worker_id)
        if state is None:
            state = self.workers[worker_id] = WorkerState(worker_id, joined_t=elapsed_s)
        return state

    def accept(self, worker_id: str, payload: dict | None, elapsed_s: float) -> dict | None:
        """Book a worker's report; the payload to merge, or None when it is not for this run."""
        if not payload or payload.get("run_id") != self.run_id:
            return None
        state = self.join(worker_id, elapsed_s)
        state.last_report_t = elapsed_s
        state.received += sum(row["count"] for row in payload["rows"])
        state.recorded = int(payload["recorded"])
        state.cpu_percent = float(payload.get("cpu_percent", 0.0))
        if payload.get("pool"):
            state.pool = payload["pool"]
        state.rss_mb = float(payload.get("rss_mb", 0.0))
        if payload.get("final"):
            state.final = True
        elif payload.get("closed_before") is not None:
            state.closed_before = int(payload["closed_before"])
        return payload

    def share_out(self, worker_ids: list[str]) -> None:
        """Open model: the workers at the start share the arrivals, worker i of n taking every n-th."""
        for position, worker_id in enumerate(worker_ids):
            self.join(worker_id, 0.0).share = (position, len(worker_ids))

    def watermark(self, now_index: int, join_index) -> int:
        """The windows before this index are closed by every live worker (``now_index`` with none)."""
        limit = now_index
        for state in self.live():
            limit = min(limit, state.closed_before if state.closed_before is not None else join_index(state))
        return limit

    def live(self) -> list[WorkerState]:
        """Workers that will still send: neither finished nor lost."""
        return [s for s in self.workers.values() if not s.final and s.lost_t is None]

    def mark_lost(self, worker_id: str, elapsed_s: float) -> WorkerState | None:
        """A worker went missing or left without its final report; the state, if newly lost."""
        state = self.workers.get(worker_id)
        if state is None or state.final or state.lost_t is not None:
            return None
        state.lost_t = elapsed_s
        return state

    def problems(self) -> list[str]:
        """Why the run's counts are incomplete, one sentence per worker; empty when every count adds up."""
        out = []
        for s in self.workers.values():
            if not s.final:
                last = "never reported" if s.last_report_t is None else f"last report at t={s.last_report_t:.1f} s"
                out.append(f"worker {s.worker_id} lost ({last}); requests it sent after that are not counted")
            elif s.received != s.recorded:
                out.append(f"worker {s.worker_id} recorded {s.recorded} requests but {s.received} reached the master")
        return out


def wait_for_finals(ledger: WorkerLedger, check_lost, timeout_s: float, poll_s: float = 0.1) -> None:
    """Wait (cooperatively) until every live worker has sent its final report, or ``timeout_s`` passed."""
    deadline = time.monotonic() + timeout_s
    while ledger.live() and time.monotonic() < deadline:
        check_lost()
        gevent.sleep(poll_s)
