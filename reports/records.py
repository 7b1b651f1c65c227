"""One request as the recorder keeps it: ``RequestRecord``, built from Locust's ``request`` event.

Locust's listeners get keyword arguments that grow over versions; the
recorder turns them at once into a frozen record with units in the names
and one failure ``kind``:

==================  =================================================================
kind                when
==================  =================================================================
``ok``              no exception
``status``          the shop answered with an error status (kept in ``status``)
``rate_limited``    429, reported by the adapter as ``RateLimited``
``check_failed``    an expected status without what the shopper needed (``CheckFailed``)
``refused_target``  not sent, or redirect not followed (``RefusedTarget``)
``cancelled``       the shopper was stopped mid-request (``Cancelled``): the shop may have seen it
``timeout``         no answer within the client's timeout (``status`` 0)
``connection_error``  the connection failed (refused, reset, closed; ``status`` 0)
==================  =================================================================

The adapter's exception classes are matched by name so that this module
does not import the load side (data flows one way).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

__all__ = ["RequestRecord", "KINDS", "record_from_event", "classify"]

KINDS = ("ok", "status", "rate_limited", "check_failed", "refused_target", "cancelled", "timeout",
         "connection_error")

_BY_EXCEPTION_NAME = {"RateLimited": "rate_limited", "CheckFailed": "check_failed", "RefusedTarget": "refused_target",
                      "Cancelled": "cancelled"}


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request: when it started, what it was, how it ended, how long it took."""

    start_time_s: float
    """Epoch seconds at which the request was sent."""
    name: str
    """The endpoint template, e.g. ``/products/[id]``."""
    method: str
    status: int
    """HTTP status; 0 when there was no answer."""
    kind: str
    """One of ``KINDS``."""
    response_time_us: int
    response_bytes: int
    journey: str = ""
    due_time_s: float | None = None
    """Open model: epoch seconds at which the request was due by the arrival schedule (None: closed model)."""

    @property
    def from_due_us(self) -> int | None:
        """Open model: microseconds from when the request was due to its answer, corrected for coordinated
        omission; never less than the response time (a request is never sent before it is due). None when closed."""
        if self.due_time_s is None:
            return None
        completed_s = self.start_time_s + self.response_time_us / 1e6
        return max(self.response_time_us, round((completed_s - self.due_time_s) * 1e6))


def _is_timeout(exc: BaseException) -> bool:
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return True
    return type(exc).__name__ == "Timeout"  # gevent.Timeout, without importing gevent here


def classify(exception: BaseException | None, status: int) -> str:
    """The failure kind of a request that ended with ``exception`` and ``status``."""
    if exception is None:
        return "ok"
    named = _BY_EXCEPTION_NAME.get(type(exception).__name__)
    if named is not None:
        return named
    if status:
        return "status"
    return "timeout" if _is_timeout(exception) else "connection_error"


def record_from_event(*, request_type: str, name: str, response_time: float, response_length: int | None,
                      exception: BaseException | None = None, response: Any = None, context: dict | None = None,
                      start_time: float | None = None, **_ignored: Any) -> RequestRecord:
    """A record from the keyword arguments of Locust's ``request`` event.

    ``response_time`` is in milliseconds (a float from ``perf_counter``); it
    is kept in whole microseconds, rounded, so nothing coarser than Locust's
    own clock is lost. ``context["due_s"]`` (open model) is when the request
    was due by the schedule, in epoch seconds.
    """
    status = int(getattr(response, "status_code", 0) or 0)
    due = (context or {}).get("due_s")
    return RequestRecord(
        start_time_s=float(start_time or 0.0),
        name=name,
        method=request_type,
        status=status,
        kind=classify(exception, status),
        response_time_us=max(0, round(float(response_time or 0.0) * 1000)),
        response_bytes=int(response_length or 0),
        journey=str((context or {}).get("journey", "")),
        due_time_s=float(due) if isinstance(due, (int, float)) else None,
    )
