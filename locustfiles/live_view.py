"""The surgegate tab of Locust's web UI: the profile's stage, planned vs running load, the objectives live.

Locust's own extension points (see Locust's ``examples/extend_web_ui.py``):
``extended_tabs``/``extended_tables`` in the page's template arguments
declare the tab and its columns, and each answer to ``/stats/requests``
(polled by the page every 2 s) carries the tab's rows in
``extended_stats``. Rows, in order:

    stage        peak (4/6), 62 s of 198 s
    load         300 users running, 300 planned; 113.4 req/s
                 (open model: 230 of 600 shoppers in flight; 32 arrivals/s planned, 148.2 req/s)
    <objective>  holding | BREACHED | waiting    observed    bound (scope)
    verdict      NOT READY (exit 1)              report: results/<run>/report.html   (when the run has ended)

The objectives are judged from the run's folder as written so far
(``reports.live``), every ``every_s`` seconds, in a thread of gevent's pool
so that the shoppers' event loop is not held up while pandas works.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import gevent

from profiles import plan_at

__all__ = ["LiveView", "TAB_KEY"]

log = logging.getLogger("surgegate")

TAB_KEY = "surgegate"
_COLUMNS = [{"key": "item", "title": "What"}, {"key": "status", "title": "Status"},
            {"key": "observed", "title": "Observed"}, {"key": "bound", "title": "Bound"}]


class LiveView:
    """Installs the tab and keeps its rows: call ``install()`` once the web UI exists."""

    def __init__(self, environment, recording: Callable, every_s: float = 5.0) -> None:
        self.environment = environment
        self.recording = recording
        """Returns the run being recorded (``locustfiles.recording.Recording``) or None."""
        self.every_s = every_s
        self._objectives: list[dict] = []
        self._judged_folder = None

    def install(self) -> None:
        """Declare the tab and add its rows to every ``/stats/requests`` answer."""
        from flask import request

        web_ui = self.environment.web_ui
        web_ui.template_args["extended_tabs"] = [{"title": "surgegate", "key": TAB_KEY}]
        web_ui.template_args["extended_tables"] = [{"key": TAB_KEY, "structure": _COLUMNS}]

        @web_ui.app.after_request
        def _add_rows(response):
            if request.path != "/stats/requests" or not response.is_json:
                return response
            body = response.get_json()
            body["extended_stats"] = [*body.get("extended_stats", []), {"key": TAB_KEY, "data": self.rows()}]
            response.set_data(web_ui.app.json.dumps(body))
            return response

        gevent.spawn(self._judge_every)

    def rows(self) -> list[dict]:
        """The tab's rows now."""
        recording = self.recording()
        if recording is None:
            return [{"item": "run", "status": "not started", "observed": "", "bound": ""}]
        rows = []
        runner = self.environment.runner
        if recording.recorder is not None and recording.profile is not None:
            elapsed_s = recording.elapsed_s()
            tick = plan_at(recording.profile, elapsed_s)
            if tick is not None:
                rows.append({"item": "stage", "status": f"{tick.stage_name} ({tick.stage_index + 1}/"
                             f"{len(recording.profile.stages)})", "observed": f"{elapsed_s:.0f} s of "
                             f"{recording.profile.total_s:.0f} s", "bound": "the peak" if tick.is_peak else ""})
                rps = runner.stats.total.current_rps
                if tick.arrival_rate is None:
                    rows.append({"item": "load", "status": f"{runner.user_count} users running",
                                 "observed": f"{tick.users} planned; {rps:.1f} req/s", "bound": ""})
                else:
                    scheduler = recording.arrivals
                    in_flight = "?" if scheduler is None else scheduler.in_flight
                    rows.append({"item": "load", "status": f"{in_flight} of {tick.users} shoppers in flight",
                                 "observed": f"{tick.arrival_rate:g} arrivals/s planned, {rps:.1f} req/s",
                                 "bound": ""})
        if self._judged_folder == recording.folder.path:
            rows.extend(self._objectives)
        if recording.recorder is None and recording.verdict_line:
            rows.append({"item": "verdict", "status": recording.verdict_line,
                         "observed": f"report: {recording.report_path}", "bound": ""})
        return rows

    def _judge_every(self) -> None:
        from reports.live import live_rows

        pool = gevent.get_hub().threadpool
        while True:
            gevent.sleep(self.every_s)
            recording = self.recording()
            if recording is None or recording.recorder is None:
                continue
            try:
                rows = pool.apply(live_rows, (recording.folder.path,))
            except Exception as exc:  # noqa: BLE001 - the live view must never stop a run
                log.debug("surgegate: live objectives not judged: %s", exc)
                continue
            self._objectives, self._judged_folder = rows, recording.folder.path
