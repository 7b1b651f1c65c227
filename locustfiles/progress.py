"""Progress of a headless run, as it goes: a line at each stage change and every 10 s.

    surgegate: stage 3/6 'surge' begins at 3 s of 198 s: 150 users (spawn 33/s)
    surgegate: [peak 4/6, peak stage] 60 s elapsed, 138 s left; 150 users running, target 150; 41.5 req/s

Open profiles say the stage's arrival rate and the shoppers in flight instead:

    surgegate: stage 4/6 'peak', the peak begins at 6 s of 198 s: 32 arrivals/s (pool of 600 shoppers)
    surgegate: [peak 4/6] 60 s elapsed, 138 s left; 32 arrivals/s planned, 230 of 600 shoppers in flight; 148.2 req/s

Runs as a greenlet on the master or local runner; reads the plan (pure) and
the runner's user count and Locust's current request rate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import gevent

from profiles import plan_at

__all__ = ["Progress", "stage_line", "status_line"]

log = logging.getLogger("surgegate")


def stage_line(tick, stage_count: int) -> str:
    """The line printed when a stage begins."""
    peak = ", the peak" if tick.is_peak else ""
    load = (f"{tick.users} users (spawn {tick.spawn_rate:g}/s)" if tick.arrival_rate is None
            else f"{tick.arrival_rate:g} arrivals/s (pool of {tick.users} shoppers)")
    return (f"surgegate: stage {tick.stage_index + 1}/{stage_count} {tick.stage_name!r}{peak} begins at "
            f"{tick.elapsed_s:.0f} s of {tick.total_s:.0f} s: {load}")


def status_line(tick, stage_count: int, running_users: int, rps: float, in_flight: int | None = None) -> str:
    """The periodic line: where the run is and the load now (open model: with the shoppers in flight)."""
    load = (f"{running_users} users running, target {tick.users}" if tick.arrival_rate is None
            else f"{tick.arrival_rate:g} arrivals/s planned, "
                 f"{'?' if in_flight is None else in_flight} of {tick.users} shoppers in flight")
    return (f"surgegate: [{tick.stage_name} {tick.stage_index + 1}/{stage_count}] {tick.elapsed_s:.0f} s elapsed, "
            f"{tick.remaining_s:.0f} s left; {load}; {rps:.1f} req/s")


class Progress:
    """Log the stage changes and a status line every ``every_s`` while the run lasts."""

    def __init__(self, environment, context: Callable, every_s: float = 10.0) -> None:
        self.environment = environment
        self.context = context
        self.every_s = every_s
        self._greenlet = None
        self._started = 0.0
        environment.events.test_start.add_listener(lambda **_: self._begin())
        environment.events.test_stop.add_listener(lambda **_: self._end())

    def _begin(self) -> None:
        if self._greenlet is None:
            self._started = time.monotonic()
            self._greenlet = gevent.spawn(self._loop)

    def _end(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None
            context = self.context()
            if context is not None:
                elapsed = time.monotonic() - self._started
                how = "at its end" if elapsed >= context.profile.total_s - 1.0 else "before its end"
                log.info("surgegate: profile %r stopped %s, after %.0f s of %.0f s", context.profile.name, how,
                         elapsed, context.profile.total_s)

    def _loop(self) -> None:
        started = self._started
        last_stage, last_status = None, started
        while True:
            context = self.context()
            if context is None:
                return
            tick = plan_at(context.profile, time.monotonic() - started)
            if tick is None:
                return
            count = len(context.profile.stages)
            if tick.stage_index != last_stage:
                log.info(stage_line(tick, count))
                last_stage = tick.stage_index
            if time.monotonic() - last_status >= self.every_s:
                runner = self.environment.runner
                rps = runner.stats.total.current_rps if runner is not None else 0.0
                scheduler = getattr(context, "scheduler", None)
                log.info(status_line(tick, count, runner.user_count if runner else 0, rps,
                                     scheduler.in_flight if scheduler is not None else None))
                last_status = time.monotonic()
            gevent.sleep(0.5)
