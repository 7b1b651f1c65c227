"""The rows of ``server_metrics.jsonl`` and the gap events of ``events.jsonl``: how a scrape is written down.

``server_metrics.jsonl`` in the results folder, one JSON line per sample::

    {"t": 12.003, "source": "gateway", "metric": "shop_gateway_responses_total", "type": "counter",
     "labels": {"endpoint": "/checkout", "method": "POST", "status": "504"}, "value": 289.0}

    t        seconds since the run's start, when the scrape began (ms precision)
    source   the source's name: gateway, app, postgresql, or NAME of --metrics-url NAME=URL
    metric   the sample name as exposed (``_total``, ``_bucket``/``_sum``/``_count`` included)
    type     the family's declared type: counter, gauge, histogram, summary, unknown, ...
    labels   the sample's labels, strings (a histogram bucket's ``le`` included)
    value    a float; null for NaN or an infinity (JSON has neither)

Counters are cumulative as the server reports them (since *its* start, not
the run's): subtract the first row of the run to get what the run did.
Each scrape also writes two rows of its own, as Prometheus does, with empty
labels: ``up`` (1 = scraped, 0 = failed) and ``scrape_duration_seconds``.

A failed scrape (refused, timed out, HTTP error, a body that is not the
Prometheus text format, a database error) writes ``up`` = 0 and no samples,
and is a gap event for ``events.jsonl``::

    {"t": 12.003, "event": "scrape_gap", "source": "app", "reason": "connection refused"}

A source's ``collect`` returns samples (rows without ``t`` and ``source``), or
raises ``ScrapeError`` with the gap's reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

__all__ = ["ROWS_FILE", "EVENTS_FILE", "ScrapeError", "sample", "gauge", "scrape_rows", "gap_event", "one_line"]

ROWS_FILE = "server_metrics.jsonl"
EVENTS_FILE = "events.jsonl"


class ScrapeError(Exception):
    """A scrape failed; the message is the gap's reason, one short line without secrets."""


def sample(metric: str, type_: str, labels: dict[str, str], value: float) -> dict[str, Any]:
    """One sample as a source collects it: ``metric``, ``type``, ``labels``, ``value`` (None if not finite)."""
    value = float(value)
    return {"metric": metric, "type": type_, "labels": labels, "value": value if math.isfinite(value) else None}


def gauge(metric: str, labels: dict[str, str], value: float) -> dict[str, Any]:
    """A gauge sample (``pg_stat_activity_count``, ``up``, ...)."""
    return sample(metric, "gauge", labels, value)


def scrape_rows(t: float, source: str, samples: Iterable[dict[str, Any]], *, up: bool,
                duration_s: float) -> list[dict[str, Any]]:
    """The rows of one scrape of ``source`` begun at ``t``: its samples, then ``up`` and ``scrape_duration_seconds``."""
    own = (gauge("up", {}, 1.0 if up else 0.0), gauge("scrape_duration_seconds", {}, round(duration_s, 6)))
    return [{"t": t, "source": source, **row} for row in (*samples, *own)]


def gap_event(t: float, source: str, reason: str) -> dict[str, Any]:
    """The ``scrape_gap`` event of a failed scrape."""
    return {"t": t, "event": "scrape_gap", "source": source, "reason": reason}


def one_line(text: str, limit: int = 200) -> str:
    """``text`` on one line of at most ``limit`` characters: a gap's reason."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
