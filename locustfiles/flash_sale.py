"""surgegate's locustfile: replay a flash-sale surge against a shop.

    locust -f locustfiles/flash_sale.py                                   # web UI: pick a profile, watch
    locust -f locustfiles/flash_sale.py --headless --profile july15 --host http://127.0.0.1:8000

Options added to Locust's:

    --profile NAME|PATH    a shipped profile (july15, spike, step, soak, capacity) or a YAML file (default july15);
                           replaces Locust's own free-text --profile label
    --time-scale X         replay seconds per real second, (0, 1]; default: the profile's
    --peak-multiplier X    every stage's users x X ("can we take 3x July 15?"); default 1
                           (open profiles: every arrival rate x X)
    --max-in-flight N      open profiles: the pool of in-flight shoppers; default: the profile's
    --adapter NAME         the target adapter: stub (default), example, or module:Class
    --allow-target HOST    allow load to a non-loopback host (repeatable); by default only loopback

Bad input (a profile, option, target or adapter secret that is wrong) prints
one ``Error:`` line and exits 2 before any request is sent.
"""

# Locust first, so that gevent patches the standard library before anything else imports it.
import locust  # noqa: I001

import itertools
import logging
import os
import signal
import sys
import time

import gevent
from locust import FastHttpUser, events, task
from locust.exception import StopUser
from locust.user.users import LOCUST_STATE_RUNNING, LOCUST_STATE_STOPPING, LOCUST_STATE_WAITING

from locustfiles.capacity_search import CapacitySearch
from locustfiles.journeys import JOURNEYS, SNIPER_RETRY_S, Visit
from locustfiles.live_view import LiveView
from locustfiles import distributed, recording, run_setup, server_scrape
from locustfiles.open_model import ArrivalScheduler
from locustfiles.progress import Progress
from locustfiles.run_context import ADAPTERS, RunContext, build_context
from reports.results_folder import ResultsFolder
from profiles import shipped_profiles
from profiles.shape import ProfileShape
from surgegate import exit_codes
from surgegate.net import check_reachable
from surgegate.errors import SurgegateError

__all__ = ["FlashSaleShopper", "ProfileShape"]

log = logging.getLogger("surgegate")

_context: RunContext | None = None
"""The run's shared context in this process (see ``run_context``)."""

_recording: recording.Recording | None = None
"""The run being recorded by this process (master or local runner), if any."""

_worker_recording: distributed.WorkerRecording | None = None
"""A worker's side of the recording (distributed mode), if this process is a worker."""

_scheduler: ArrivalScheduler | None = None
"""The open model's arrival scheduler of this process's run (None for a closed profile or on a master)."""
_search: CapacitySearch | None = None
"""Stops a ``stop_on_breach`` profile's run at its breaking point (master or local runner)."""


class _AnyProfile(list):
    """The shipped profile names, for the web UI's dropdown, that still let a path through.

    argparse checks ``value in choices``; surgegate checks the value itself
    (with a one-line error and a did-you-mean) when it loads the profile.
    """

    def __contains__(self, value: object) -> bool:
        return True


@events.init_command_line_parser.add_listener
def _add_options(parser, **_kwargs) -> None:
    # Locust has a free-text --profile label of its own; ours names the load profile. Drop
    # Locust's the way argparse's conflict_handler="resolve" would.
    locust_profile = parser._option_string_actions.get("--profile")
    if locust_profile is not None:
        parser._handle_conflict_resolve(None, [("--profile", locust_profile)])
    parser.add_argument("--profile", dest="surge_profile", default="july15", choices=_AnyProfile(shipped_profiles()),
                        help="load profile: a shipped name or a YAML file")
    parser.set_defaults(profile=None)  # Locust's label, still read by Locust
    parser.add_argument("--time-scale", type=str, default="", help="the fraction of real time the replay takes, "
                        "(0, 1]: 0.1 = ten times faster; empty = the profile's")
    parser.add_argument("--peak-multiplier", type=str, default="1",
                        help="multiply every stage's users (open profiles: arrival rates)")
    parser.add_argument("--max-in-flight", type=str, default="", help="open profiles: the pool of shoppers in "
                        "flight (arrivals finding it full are dropped); empty = the profile's")
    parser.add_argument("--adapter", default="stub", include_in_web_ui=False,
                        help=f"target adapter: {', '.join(ADAPTERS)}, or module:Class")
    parser.add_argument("--allow-target", action="append", default=[], include_in_web_ui=False,
                        help="allow load to this non-loopback host (repeatable)")
    run_setup.add_options(parser)
    server_scrape.add_options(parser)


def _fail(message: str, code: int) -> None:
    print(f"Error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


@events.init.add_listener
def _on_init(environment, **_kwargs) -> None:
    global _context
    options = environment.parsed_options
    if options is None:
        return
    if getattr(options, "worker", False):
        # A worker builds its context when the master's options arrive (test_start), and ships what it records.
        global _worker_recording
        _worker_recording = distributed.WorkerRecording(environment)
        return
    try:
        # In the web UI the host may still come from the form: it is checked when the swarm starts.
        context = build_context(options, environment.host, require_host=options.headless)
    except SurgegateError as exc:
        _fail(str(exc), exc.exit_code)
    _context = context
    environment.profile = context.profile.name
    if environment.shape_class is not None:
        environment.shape_class.profile = context.profile
        global _search
        _search = CapacitySearch(environment, lambda: _recording)
    environment.events.test_stop.add_listener(lambda **_: _recording and _recording.on_test_stop())
    environment.events.quitting.add_listener(lambda **_: _recording and _recording.on_quitting())
    if isinstance(environment.runner, locust.runners.MasterRunner):
        environment.events.worker_connect.add_listener(
            lambda client_id, **_: _recording and _recording.on_worker_connect(client_id))
        environment.events.worker_report.add_listener(
            lambda client_id, data, **_: _recording and _recording.on_worker_report(client_id, data))
        environment.runner.register_message(
            distributed.FINAL, lambda environment, msg, **kw: _recording and _recording.on_final_message(
                environment, msg, **kw))
    if options.headless:
        # Locust installs its SIGTERM handler only after a headless shape run has ended; until then SIGTERM
        # would kill the process with nothing written. Treat it as Ctrl-C, which Locust shuts down cleanly on;
        # a second one does not wait for anyone (see _on_signal).
        global _main_greenlet
        _main_greenlet = gevent.getcurrent()
        gevent.signal_handler(signal.SIGTERM, _on_signal)
        gevent.signal_handler(signal.SIGINT, _on_signal)
        try:
            _start_recording(environment, options, context, options.run_id)
        except SurgegateError as exc:
            _fail(str(exc), exc.exit_code)
        Progress(environment, lambda: _context)
    if environment.web_ui is not None:
        _guard_web_swarm(environment)
        LiveView(environment, lambda: _recording).install()


_signals_received = 0
_main_greenlet = None
"""Where a first signal is delivered as KeyboardInterrupt, as Locust expects of Ctrl-C."""


def _on_signal() -> None:
    """Ctrl-C or SIGTERM (in a greenlet of its own): the first stops the run cleanly, the second at once.

    The first is handed to Locust as the KeyboardInterrupt it expects of
    Ctrl-C, in its main greenlet (raised in gevent's hub, it would print a
    traceback). The second does not wait for shoppers to finish their
    requests nor for workers' final reports: what was recorded is written
    (atomically, so no torn file), judged, marked interrupted, and the
    process exits 4.
    """
    global _signals_received
    _signals_received += 1
    if _signals_received == 1:
        gevent.kill(_main_greenlet, KeyboardInterrupt)
        return
    code = _recording.abort() if _recording is not None else exit_codes.INTERRUPTED
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _start_recording(environment, options, context: RunContext, run_id: str = "") -> None:
    """Check the SLO file and the target, make the run's results folder and get ready to record into it.

    Raises:
        BadInput: the SLO file, the metrics options or the results folder (exit 2).
        TargetUnreachable: nothing answers at the target (exit 3), checked after every input, before any load.
            Not checked with ``--master`` alone: its workers, elsewhere, may reach what it cannot.
    """
    global _recording
    slo_path = run_setup.check_slo(options, context.profile, context.adapter)
    scraper = server_scrape.from_options(options, context.host, context.adapter)
    if not getattr(options, "master", False) or getattr(options, "processes", None):
        check_reachable(context.host)
    run_id = run_id or run_setup.default_run_id(context.profile.name)
    folder = ResultsFolder.create(options.results_dir, run_id)
    if folder.path.name != run_id:
        log.warning("surgegate: --run-id %r has characters a folder name cannot have: the run goes to %s",
                    run_id, folder.path)
    folder.write_text("slo.yaml", slo_path.read_text(encoding="utf-8"))  # judged by this copy, then and later
    manifest = run_setup.base_manifest(folder.path.name, context.profile, context.host, context.adapter.name)
    manifest["slo"] = {"source": str(slo_path), "copy": "slo.yaml"}
    manifest["endpoints"] = list(context.adapter.endpoint_names)  # what SLO patterns are checked against, later too
    manifest["server_metrics"] = scraper.describe() if scraper is not None else None
    _recording = recording.Recording(environment, folder, manifest, profile=context.profile,
                                     raw_samples=options.raw_samples,
                                     endpoint_names=context.adapter.endpoint_names, scraper=scraper)


def _guard_web_swarm(environment) -> None:
    """Check the web form's profile and host before Locust starts the swarm."""
    from flask import jsonify, request

    @environment.web_ui.app.before_request
    def _check_swarm():
        global _context
        if request.path != "/swarm" or request.method != "POST":
            return None
        if _recording is not None and _recording.recorder is not None:
            return jsonify({"success": False, "host": request.form.get("host") or environment.host,
                            "message": "a run is in progress: stop it before starting another"})
        options = environment.parsed_options
        form = request.form
        for key in ("surge_profile", "time_scale", "peak_multiplier", "max_in_flight"):
            if key in form:
                setattr(options, key, form[key])
        host = form.get("host") or environment.host
        try:
            context = build_context(options, host)
            _start_recording(environment, options, context)  # a new folder, named by time, for every swarm
        except SurgegateError as exc:
            log.error("surgegate: %s", exc)
            return jsonify({"success": False, "message": str(exc), "host": host})
        _context = context
        environment.profile = context.profile.name
        environment.shape_class.profile = context.profile
        return None


@events.test_start.add_listener
def _on_test_start(environment, **_kwargs) -> None:
    global _context
    options = environment.parsed_options
    if options is not None and getattr(options, "worker", False):
        try:
            _context = build_context(options, environment.host)
        except SurgegateError as exc:  # the master checked the same options: only a broken worker gets here
            log.error("surgegate: worker cannot run: %s", exc)
            environment.runner.quit()
            return
    if _context is not None:
        _context.restart_clock()
    if _recording is not None and not getattr(options, "worker", False):
        _recording.on_test_start()
        if _search is not None and _context is not None and _context.profile.stop_on_breach:
            _search.start()
    _start_scheduler(environment)


def _start_scheduler(environment) -> None:
    """Open model: start this process's share of the arrivals on the run's clock (the master's, on a worker)."""
    global _scheduler
    if _context is None or not _context.profile.is_open:
        return
    if isinstance(environment.runner, locust.runners.MasterRunner):
        return  # the workers' shoppers take the arrivals
    if _worker_recording is not None:
        started_at_s, share = _worker_recording.started_at_s, _worker_recording.share
        if share is None:  # joined after the start: the arrivals were shared out among the others
            log.warning("surgegate: this worker joined after the run started: it takes no arrivals")
            return
    elif _recording is not None and _recording.recorder is not None:
        started_at_s, share = _recording.recorder.started_at_s, (0, 1)
    else:
        return
    _scheduler = ArrivalScheduler(_context.profile, started_at_s or time.time(), share=share)
    _context.scheduler = _scheduler
    for side in (_recording, _worker_recording):
        if side is not None:
            side.arrivals = _scheduler
    _scheduler.start()


@events.test_stopping.add_listener
def _on_test_stopping(**_kwargs) -> None:
    """The run is ending: no arrival after this (before the shoppers are stopped, so none is handed to them)."""
    if _scheduler is not None:
        _scheduler.stop()


_shopper_numbers = itertools.count()


class FlashSaleShopper(FastHttpUser):
    """A shopper: one journey after another, chosen by the current stage's mix.

    The journeys (browser, abandoner, buyer, sniper) are in
    ``locustfiles/journeys.py``; between two journeys the shopper pauses for
    the profile's think time.

    In an open profile the shopper is one of the pool of ``max_in_flight``
    (``locustfiles.open_model``): it waits, idle, for the scheduler to hand it
    an arrival, acts out that arrival's journey, and waits again; each of its
    requests carries the time it was due by the schedule (``due_s``).
    """

    network_timeout = 30.0
    connection_timeout = 10.0

    def __init__(self, environment) -> None:
        super().__init__(environment)
        if _context is None:
            raise RuntimeError("surgegate: no run context; the profile or target was not accepted")
        self.number = next(_shopper_numbers)
        self.shared = _context
        self.journey = ""
        self.rng = _context.rng_for(self.number)
        self.think_s = _context.think_s
        """The profile's pause between steps, (min, max) seconds: read once, as it is asked at every step."""
        self.visit = Visit(client=self.client, adapter=_context.adapter, data=_context.data,
                           shopper=_context.data.shopper(self.number), rng=self.rng, pause=self._pause)
        self.scheduler = getattr(_context, "scheduler", None) if _context.profile.is_open else None
        self.due_s: float | None = None
        """Open model: epoch seconds at which the next request is due by the schedule."""

    def on_start(self) -> None:
        """Join the open model's pool."""
        if self.scheduler is not None:
            self.scheduler.join()

    def on_stop(self) -> None:
        """Leave the open model's pool."""
        if self.scheduler is not None:
            self.scheduler.leave()

    def wait_time(self) -> float:
        """The pause before the next journey: a sniper comes back quickly, a person thinks (open model: none)."""
        if self.scheduler is not None:
            return 0.0  # the next journey starts when the schedule says, in ``shop``
        low, high = SNIPER_RETRY_S if self.journey == "sniper" else self.think_s
        return self.rng.uniform(low, high)

    def _pause(self, bounds: tuple[float, float] | None) -> None:
        """Think between two steps, as Locust's own ``TaskSet.wait`` does.

        While thinking the shopper is "waiting", so a ramp-down or the end of
        the run can stop it at once, with no request in flight; one asked to
        stop during a request leaves at this pause, after the answer.
        """
        if self._state == LOCUST_STATE_STOPPING:
            raise StopUser()
        low, high = bounds or self.think_s
        if high <= 0:
            # No pause (think_time_s 0): skip the round trip through gevent's hub, which cost ~8% of a
            # zero-think run's CPU (py-spy, issue 10); the request before already yielded while it waited.
            return
        self._state = LOCUST_STATE_WAITING
        pause_s = self.rng.uniform(low, high)
        if self.due_s is not None:
            self.due_s += pause_s  # with instant answers, the next request would be sent this much later
        gevent.sleep(pause_s)
        if self._state == LOCUST_STATE_STOPPING:
            raise StopUser()
        self._state = LOCUST_STATE_RUNNING

    @task
    def shop(self) -> None:
        """Start the journey the mix of the moment picks (open model: the next arrival's), and act it out."""
        if self.scheduler is not None:
            self._shop_arrival()
            return
        names, weights = self.shared.journey_weights()
        self.journey = self.rng.choices(names, weights)[0]
        JOURNEYS[self.journey](self.visit)

    def _shop_arrival(self) -> None:
        """Wait, idle (so a stop takes effect at once), for an arrival; act out its journey."""
        self._state = LOCUST_STATE_WAITING
        arrival = self.scheduler.take()
        self._state = LOCUST_STATE_RUNNING
        self.journey, self.due_s = arrival.journey, self.scheduler.due_epoch_s(arrival)
        try:
            JOURNEYS[self.journey](self.visit)
        finally:
            self.due_s = None
            self.scheduler.done()

    def context(self) -> dict:
        """Locust's per-request context: which journey the request belongs to, and when it was due (open model)."""
        if self.due_s is None:
            return {"journey": self.journey}
        return {"journey": self.journey, "due_s": self.due_s}
