"""Record the run into its results folder: the glue between Locust's events and ``reports``.

    --results-dir DIR   where run folders go (default: results)
    --run-id ID         the run's folder name (default: UTC time and profile, e.g. 20261125T061500Z-july15)

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

Not yet (see the recorder issue): worker reports in distributed mode (a
master writes a manifest marked ``incomplete`` saying so), the raw-sample
log, the load and health series, server metrics.
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import UTC, datetime

import gevent
import locust

from profiles import plan_at
from reports.records import record_from_event
from surgegate import exit_codes
from reports.results_folder import SCHEMA_VERSION, ResultsFolder
from reports.windows import WindowedRecorder

__all__ = ["Recording", "add_options"]

log = logging.getLogger("surgegate")


def add_options(parser) -> None:
    """The recorder's command-line options."""
    parser.add_argument("--results-dir", default="results", include_in_web_ui=False,
                        help="folder for run folders (default: results)")
    parser.add_argument("--run-id", default="", include_in_web_ui=False,
                        help="name of this run's folder (default: UTC time and profile)")


def default_run_id(profile_name: str, now: float | None = None) -> str:
    """``20261125T061500Z-july15``: sortable, and says what ran."""
    stamp = datetime.fromtimestamp(now if now is not None else time.time(), UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{profile_name}"


class Recording:
    """One run's recording: its folder, its recorder, and the greenlet that flushes it."""

    def __init__(self, environment, folder: ResultsFolder, manifest: dict, profile=None) -> None:
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

    def on_test_start(self) -> None:
        """The run begins: open the recorder, write the manifest as running, start flushing."""
        self.recorder = WindowedRecorder(started_at_s=time.time())
        self.manifest.update(status="running", started_at=_iso(self.recorder.started_at_s))
        if self._distributed:
            self.manifest["incomplete_reason"] = ("distributed mode: worker histograms are not collected yet; "
                                                  "use a local run for recorded results")
        self.folder.write_json("manifest.json", self.manifest)
        self.event("start")
        self._flusher = gevent.spawn(self._flush_every_second)

    def on_request(self, **kwargs) -> None:
        """Every request of this process (Locust's ``request`` event)."""
        if self.recorder is not None:
            self.recorder.record(record_from_event(**kwargs))

    def _flush_every_second(self) -> None:
        while True:
            gevent.sleep(1.0)
            try:
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
        self.folder.append_lines("load.jsonl", [{
            "t": round(elapsed_s, 3),
            "stage": tick.stage_name if tick else None,
            "target_users": tick.users if tick else 0,
            "users": runner.user_count if runner else 0,
            "rps": round(runner.stats.total.current_rps, 3) if runner else 0.0,
            "cpu_percent": round(runner.current_cpu_usage, 1) if runner else 0.0,
            "cpu_warning": bool(runner and runner.cpu_warning_emitted),
        }])

    def event(self, kind: str, **fields) -> None:
        """One line of ``events.jsonl``: something that happened to the run, and when."""
        elapsed = time.time() - self.recorder.started_at_s if self.recorder is not None else 0.0
        self.folder.append_lines("events.jsonl", [{"t": round(elapsed, 3), "event": kind, **fields}])

    def _flush(self, now_s: float | None) -> None:
        rows = self.recorder.flush(now_s)
        self._written_rows += self.folder.append_lines("windows.jsonl", (row.to_json() for row in rows))

    def on_quitting(self) -> None:
        """Locust is shutting down. Still recording means a signal (SIGTERM, Ctrl-C) cut the run short."""
        if self.recorder is not None:
            self._interrupted = True
        if self.write_error is not None:
            self.environment.process_exit_code = exit_codes.INCONCLUSIVE
        elif self._interrupted:
            self.environment.process_exit_code = exit_codes.INTERRUPTED

    def on_test_stop(self) -> None:
        """The run ended: write what is left, the totals and the final manifest."""
        if self.recorder is None:
            return
        elapsed_s = time.time() - self.recorder.started_at_s
        if elapsed_s < self.manifest["profile"]["total_s"] - 1.0:  # stopped before the profile's end
            self._interrupted = True
        if self._flusher is not None and self._flusher is not gevent.getcurrent():
            self._flusher.kill(block=True)
        try:
            self._write_final(elapsed_s)
        except OSError as exc:
            self._fail_writing(exc, stop_run=False)  # already stopping
        self.recorder = None

    def _write_final(self, elapsed_s: float) -> None:
        self._flush(None)
        self.event("stop", interrupted=self._interrupted, elapsed_s=round(elapsed_s, 3))
        totals = [{"name": k[0], "method": k[1], "status": k[2], "kind": k[3], "count": c.count,
                   "bytes": c.response_bytes, "hist": c.histogram.encode().decode("ascii")}
                  for k, c in sorted(self.recorder.totals.items())]
        self.folder.write_json("totals.json", {"schema_version": SCHEMA_VERSION, "totals": totals})
        status = "interrupted" if self._interrupted else "incomplete" if self._distributed else "complete"
        self.manifest.update(
            status=status, ended_at=_iso(time.time()), elapsed_s=round(elapsed_s, 3),
            totals={"requests": self.recorder.recorded,
                    "failures": sum(c.count for k, c in self.recorder.totals.items() if k[3] != "ok"),
                    "cancelled": sum(c.count for k, c in self.recorder.totals.items() if k[3] == "cancelled"),
                    "window_rows": self._written_rows})
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
