"""The open model at run time: start each planned journey on time, from a bounded pool of shoppers.

    scheduler greenlet (one per process)              pool of max_in_flight shoppers (Locust users)
      for each arrival of profiles.schedule:            loop:
        sleep until it is due                              idle: wait for an arrival       <-- take()
        a shopper idle?  hand it over (started) -------->  act out its journey
        none idle?       dropped (counted, by second)      done(): idle again
        pool still starting? wait for the next shopper

Why a fixed pool of Locust users fed by one scheduler greenlet, rather than a
greenlet spawned per arrival: the pool is what Locust already sizes, splits
among workers, stops (at once when idle, at the next pause otherwise, as
``--stop-timeout`` says) and counts (``user_count``), and each shopper keeps
its own connection, data and random generator. The bound is the pool itself:
an arrival due while every shopper is busy cannot start on time, so it is
counted as dropped in the second and stage it was due in, never queued
(queueing would start it late and hide the shop's slowness in the schedule)
and never silently skipped. Only while the pool is still being started (the
first fraction of a second) does an arrival wait for a shopper: it then
starts late, and its lateness is in its corrected latency.

Coordinated omission: each shopper knows when its journey was due (the
arrival's time) and moves that forward by every pause it takes, so each of
its requests carries the time it was due had every answer been instant
(``due_s`` in the request's context). The recorder keeps, besides the
response time, the time from that due moment to the answer: a stall of the
shop then shows in every later request of the journey, as the shopper lived it.

Contract: everything here runs in the load generator's event loop; ``take``
blocks only the shopper calling it, ``flush`` is called about once a second
by the recording side (``locustfiles.recording`` or, on a worker,
``locustfiles.distributed``), which writes or ships the rows.

``arrivals.jsonl`` (one line per second and stage with any arrival; lines for
the same second and stage, from several workers, add up)::

    {"t": second since the start, "stage": name, "planned": n, "started": n, "dropped": n}

``t`` is the second the arrivals were *due* in; planned = started + dropped.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

import gevent
from gevent.event import AsyncResult, Event

from profiles import Profile
from profiles.schedule import Arrival, arrivals

__all__ = ["ArrivalLog", "ArrivalScheduler"]


class ArrivalLog:
    """Planned, started and dropped arrivals per (second, stage) of one process; closed seconds as rows."""

    def __init__(self, stage_names: tuple[str, ...]) -> None:
        self.stage_names = stage_names
        self._open: dict[tuple[int, int], list[int]] = {}
        self.totals = {"planned": 0, "started": 0, "dropped": 0}

    def count(self, arrival: Arrival, started: bool) -> None:
        """One planned arrival, started or dropped."""
        cell = self._open.setdefault((math.floor(arrival.due_s), arrival.stage_index), [0, 0, 0])
        cell[0] += 1
        cell[1 if started else 2] += 1
        self.totals["planned"] += 1
        self.totals["started" if started else "dropped"] += 1

    def flush(self, before_s: float | None = None) -> list[dict]:
        """Rows of the seconds before *before_s* (replay seconds; None = all), removed from memory."""
        keys = sorted(k for k in self._open if before_s is None or k[0] < math.floor(before_s))
        rows = []
        for second, stage in keys:
            planned, started, dropped = self._open.pop((second, stage))
            rows.append({"t": second, "stage": self.stage_names[stage], "planned": planned, "started": started,
                         "dropped": dropped})
        return rows


class ArrivalScheduler:
    """Hand each arrival of this process's share to an idle shopper when it is due; count what happens."""

    def __init__(self, profile: Profile, started_at_s: float, *, share: tuple[int, int] = (0, 1),
                 clock: Callable[[], float] = time.time) -> None:
        """Plan the run of *profile* from *started_at_s* (epoch seconds) for process ``share[0]`` of ``share[1]``."""
        self.profile = profile
        self.started_at_s = started_at_s
        self.share = share
        self.clock = clock
        self.log = ArrivalLog(tuple(stage.name for stage in profile.stages))
        self.pool_target = max(1, (profile.max_in_flight or 1) // share[1])
        """Shoppers this process waits for before dropping: its even share of the pool, rounded down."""
        self.alive = 0
        self.in_flight = 0
        self.in_flight_max = 0
        """The most shoppers in flight since the last ``load_sample``."""
        self._idle: deque[AsyncResult] = deque()
        self._idle_again = Event()
        self._greenlet = None

    # -- the scheduler's side ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the scheduler greenlet."""
        self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        """Stop scheduling (the run ends); arrivals not yet due are not counted as planned."""
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None

    def _run(self) -> None:
        for arrival in arrivals(self.profile, share=self.share):
            delay = self.started_at_s + arrival.due_s - self.clock()
            if delay > 0:
                gevent.sleep(delay)
            while not self._idle and self.alive < self.pool_target:
                self._idle_again.clear()  # the pool is still starting: this arrival waits for a shopper
                self._idle_again.wait(0.05)
            if self._idle:
                self.in_flight += 1
                self.in_flight_max = max(self.in_flight_max, self.in_flight)
                self._idle.popleft().set(arrival)
                self.log.count(arrival, started=True)
            else:
                self.log.count(arrival, started=False)

    # -- the shoppers' side --------------------------------------------------------------------------------

    def join(self) -> None:
        """A shopper of the pool has started."""
        self.alive += 1

    def leave(self) -> None:
        """A shopper of the pool has stopped."""
        self.alive -= 1

    def take(self) -> Arrival:
        """Wait, idle, for the next arrival handed to this shopper (first come, first served)."""
        slot = AsyncResult()
        self._idle.append(slot)
        self._idle_again.set()
        try:
            return slot.get()
        finally:
            if not slot.ready():  # stopped while idle
                self._idle.remove(slot)

    def done(self) -> None:
        """The shopper's journey is over (or was cut short)."""
        self.in_flight -= 1

    # -- for the recording side ----------------------------------------------------------------------------

    def due_epoch_s(self, arrival: Arrival) -> float:
        """When *arrival* was due, in epoch seconds."""
        return self.started_at_s + arrival.due_s

    def load_sample(self) -> dict:
        """This process's pool now, for ``load.jsonl``: in flight (now and the most since the last sample)."""
        sample = {"in_flight": self.in_flight, "in_flight_max": self.in_flight_max, "pool": self.alive}
        self.in_flight_max = self.in_flight
        return sample

    def flush(self, now_s: float | None) -> list[dict]:
        """Rows of ``arrivals.jsonl`` for the seconds ended by *now_s* (epoch; None = all)."""
        return self.log.flush(None if now_s is None else now_s - self.started_at_s)
