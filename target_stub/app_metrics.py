"""The app's Prometheus metrics, in a registry of its own.

The counters are the oracle the harness is checked against, so each is
incremented exactly once per event, where the event happens:

===========================================  =========  =============================================
metric                                       type       meaning
===========================================  =========  =============================================
shop_db_pool_size_connections                gauge      connections the pool keeps (``pool_size``)
shop_db_pool_max_overflow_connections        gauge      extra connections allowed (``max_overflow``)
shop_db_pool_checked_out_connections         gauge      connections in use now
shop_db_pool_overflow_connections            gauge      overflow connections open now
shop_db_pool_waiting_requests                gauge      requests in the pool's checkout now (waiting, or being
                                                        handed a free connection, which takes microseconds)
shop_db_pool_wait_seconds                    histogram  time to get a connection (timeouts included)
shop_db_pool_timeouts_total                  counter    requests that gave up waiting (``pool_timeout_s``)
shop_db_queries_total{kind}                  counter    queries run, ``kind`` = read | write
shop_app_worker_threads                      gauge      the app's worker threads (``app_workers``)
shop_app_worker_threads_busy                 gauge      worker threads running a request now
shop_app_worker_queue_requests               gauge      requests waiting for a worker thread now
shop_app_requests_total{endpoint,method,status}  counter  requests answered
shop_app_request_duration_seconds{endpoint,method}  histogram  time to answer
shop_app_requests_in_progress                gauge      requests being handled now
shop_payment_duration_seconds                histogram  time the payment provider took
===========================================  =========  =============================================
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import TimeoutError as SAPoolTimeout

__all__ = ["AppMetrics", "PoolTimeout", "LATENCY_BUCKETS_S"]

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                     2.0, 2.5, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0)
"""Buckets in seconds, with edges at the stub's own timeouts (2 s gateway, 5 s pool)."""


class PoolTimeout(Exception):
    """No connection came free within ``pool_timeout_s``."""


class AppMetrics:
    """The app's metrics and the instrumented way to take a pooled connection."""

    def __init__(self, engine: Engine, *, pool_size: int, max_overflow: int) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        pool = engine.pool
        self._engine = engine
        Gauge("shop_db_pool_size_connections", "Connections the pool keeps", registry=r).set(pool_size)
        Gauge("shop_db_pool_max_overflow_connections", "Extra connections allowed", registry=r).set(max_overflow)
        Gauge("shop_db_pool_checked_out_connections", "Connections in use", registry=r).set_function(
            pool.checkedout)
        Gauge("shop_db_pool_overflow_connections", "Overflow connections open", registry=r).set_function(
            lambda: max(0, pool.overflow()))
        self.pool_waiting = Gauge("shop_db_pool_waiting_requests", "Requests waiting for a connection", registry=r)
        self.pool_wait = Histogram("shop_db_pool_wait_seconds", "Time to get a connection",
                                   buckets=LATENCY_BUCKETS_S, registry=r)
        self.pool_timeouts = Counter("shop_db_pool_timeouts", "Requests that gave up waiting for a connection",
                                     registry=r)
        self.queries = Counter("shop_db_queries", "Queries run", ["kind"], registry=r)
        self.worker_threads = Gauge("shop_app_worker_threads", "Worker threads", registry=r)
        self.worker_threads_busy = Gauge("shop_app_worker_threads_busy", "Worker threads busy", registry=r)
        self.worker_queue = Gauge("shop_app_worker_queue_requests", "Requests waiting for a worker thread",
                                  registry=r)
        self.requests = Counter("shop_app_requests", "Requests answered", ["endpoint", "method", "status"],
                                registry=r)
        self.request_duration = Histogram("shop_app_request_duration_seconds", "Time to answer",
                                          ["endpoint", "method"], buckets=LATENCY_BUCKETS_S, registry=r)
        self.in_progress = Gauge("shop_app_requests_in_progress", "Requests being handled", registry=r)
        self.payment_duration = Histogram("shop_payment_duration_seconds", "Payment provider latency",
                                          buckets=LATENCY_BUCKETS_S, registry=r)

    def watch_threads(self, busy: Callable[[], float], total: Callable[[], float],
                      waiting: Callable[[], float]) -> None:
        """Read the worker pool's state at each scrape through these callables."""
        self.worker_threads_busy.set_function(busy)
        self.worker_threads.set_function(total)
        self.worker_queue.set_function(waiting)

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """Take a connection from the pool, counting the wait; give it back after.

        Raises:
            PoolTimeout: none came free within the pool's timeout.
        """
        self.pool_waiting.inc()
        started = time.perf_counter()
        try:
            conn = self._engine.connect()
        except SAPoolTimeout:
            self.pool_timeouts.inc()
            raise PoolTimeout() from None
        finally:
            self.pool_waiting.dec()
            self.pool_wait.observe(time.perf_counter() - started)
        try:
            yield conn
        finally:
            conn.close()
