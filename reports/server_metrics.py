"""Server-side metrics during a run: what the shop's own endpoints said, once per interval.

Sources (see ``build_scraper``): Prometheus endpoints (``--metrics-url``, or
the target adapter's ``metrics_paths`` on the target host), and optionally
PostgreSQL's ``pg_stat_activity`` (``--pg-dsn``). Every source is scraped at
``t = 0, interval, 2 x interval, ...`` after the run's start, and once more
when the run stops (unless its last scrape failed), so the first and last
rows of a counter bracket the run.

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

It is never an exception: the run goes on, and a source that keeps failing
is logged once, then once more when it answers again.

PostgreSQL rows (``source`` = ``postgresql``), named as postgres_exporter
names them so that analysis can read either: ``pg_stat_activity_count``
and ``pg_stat_activity_max_tx_duration`` (seconds) per ``datname`` and
``state`` (client connections only, this scraper's own excluded; every
usual state is written, zeros included, for each database seen and the
DSN's own), and ``pg_settings_max_connections``. A role without
``pg_read_all_stats`` sees other roles' connections with state ``unknown``.

Bounded time: a Prometheus scrape gives up after ``timeout_s`` (0.8 x the
interval, at most 10 s) for the whole answer, body included; a database
query after ``timeout_s`` (``statement_timeout``), a database connect after
libpq's minimum of 2 s. Each source runs in a loop of its own (``run``), so a
slow one delays no other, and a scrape that overruns skips the ticks it
missed instead of piling up.

Secrets: the DSN (which may hold a password) and URL passwords are never
written: ``describe()`` shows URLs with the password as ``***`` and the
database as host, port and dbname only; gap reasons are scrubbed too.

psycopg is imported only when a DSN is given, and must be imported after
gevent has patched the standard library: psycopg picks its wait function at
import, and only then picks one that yields to other greenlets.

No locust or gevent here; ``locustfiles/server_scrape.py`` is the glue.
"""

from __future__ import annotations

import difflib
import fnmatch
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from prometheus_client.parser import text_string_to_metric_families

from surgegate.errors import BadInput
from surgegate.yaml_file import read_yaml

__all__ = [
    "ServerScraper", "KeepList", "ScrapeError", "build_scraper", "load_keep_list", "parse_exposition", "redact_argv",
    "DEFAULT_KEEP", "ROWS_FILE", "EVENTS_FILE", "MIN_INTERVAL_S", "MAX_INTERVAL_S",
]

log = logging.getLogger("surgegate")

ROWS_FILE = "server_metrics.jsonl"
EVENTS_FILE = "events.jsonl"
MIN_INTERVAL_S, MAX_INTERVAL_S = 0.2, 60.0
_TIMEOUT_SHARE, _MAX_TIMEOUT_S = 0.8, 10.0
_PG_MIN_CONNECT_S = 2  # libpq treats any connect_timeout below 2 s as 2 s
_MAX_BODY_BYTES = 16 * 2**20  # a large JVM app exposes ~1 MB; 16 MB means something is wrong
_POLL_S = 0.1  # how often a waiting loop checks whether to stop
_ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"  # the Prometheus text format, not OpenMetrics
_PG_SOURCE = "postgresql"
_PG_STATES = ("active", "idle", "idle in transaction", "idle in transaction (aborted)")

DEFAULT_KEEP: tuple[str, ...] = (
    # the stub: pool, queries, workers and requests of the app; the payment provider; the gateway
    "shop_db_*", "shop_app_*", "shop_payment_*", "shop_gateway_*",
    # HikariCP, by Micrometer (hikaricp_connections_active, _pending, _max, _timeout_total, _acquire_seconds)
    # and by the Prometheus simpleclient tracker (hikaricp_active_connections, hikaricp_pending_threads)
    "hikaricp_*",
    # OpenTelemetry semantic conventions in Prometheus form: database client pools, old and new names
    # (db_client_connections_usage, _max, _pending_requests; db_client_connection_count, ...), and HTTP
    "db_client_connection*", "http_server_*", "http_client_*",
    # postgres_exporter, if one is scraped; the same names as the --pg-dsn rows
    "pg_stat_activity_*", "pg_settings_max_connections",
)
"""The metric names or globs kept when no ``--metrics-config`` is given."""

_GLOB = re.compile(r"[A-Za-z0-9_:*?\[\]!-]+")
_CONFIG_KEYS = ("include_defaults", "keep")
_NAMED_URL = re.compile(r"([A-Za-z][A-Za-z0-9_.-]*)=(.*)", re.DOTALL)


class ScrapeError(Exception):
    """A scrape failed; the message is the gap's reason, one short line without secrets."""


# -- what to keep -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeepList:
    """Metric names or globs (``fnmatch``: ``*``, ``?``, ``[...]``) to keep, and where they came from.

    A pattern matches a sample's name (``shop_gateway_responses_total``,
    ``shop_db_pool_wait_seconds_bucket``) or its family's
    (``shop_db_pool_wait_seconds`` keeps the histogram's ``_bucket``, ``_sum``
    and ``_count``). ``_created`` samples (series creation times) are never kept.
    """

    patterns: tuple[str, ...]
    origin: str = "default"

    def __post_init__(self) -> None:
        regex = "|".join(fnmatch.translate(p) for p in self.patterns) or r"(?!)"
        object.__setattr__(self, "_regex", re.compile(regex))

    def keeps(self, family: str, sample: str) -> bool:
        """Whether a sample of ``family`` named ``sample`` is kept."""
        if sample.endswith("_created"):
            return False
        match = self._regex.match  # type: ignore[attr-defined]
        return bool(match(sample) or match(family))


def load_keep_list(path: str) -> KeepList:
    """The keep-list of a ``--metrics-config`` YAML file.

    The file (unknown keys are refused)::

        keep:                    # required: metric names or globs, at least one
          - shop_db_pool_*
          - hikaricp_connections_pending
        include_defaults: false  # optional: also keep DEFAULT_KEEP

    Raises:
        BadInput: ``--metrics-config FILE: <field>: <rule>, got <value>``, 0-based indexes (``keep[1]``).
    """
    where = f"--metrics-config {path}"
    data = read_yaml(path, where)
    if not isinstance(data, Mapping):
        raise BadInput(f"{where}: (top level): must be a mapping with a 'keep' list, got {_show(data)}")
    for key in data:
        if key not in _CONFIG_KEYS:
            close = difflib.get_close_matches(str(key), _CONFIG_KEYS, n=1)
            hint = f", did you mean {close[0]!r}?" if close else f"; expected one of: {', '.join(_CONFIG_KEYS)}"
            raise BadInput(f"{where}: {_show(key, quote=False)}: unknown key{hint}")
    if "keep" not in data:
        raise BadInput(f"{where}: keep: required key is missing")
    include_defaults = data.get("include_defaults", False)
    if not isinstance(include_defaults, bool):
        raise BadInput(f"{where}: include_defaults: must be true or false, got {_show(include_defaults)}")
    keep = data["keep"]
    if not isinstance(keep, list):
        raise BadInput(f"{where}: keep: must be a list of metric names or globs, got {_show(keep)}")
    if not keep and not include_defaults:
        raise BadInput(f"{where}: keep: must name at least one metric (or set include_defaults: true)")
    for index, pattern in enumerate(keep):
        if not isinstance(pattern, str):
            raise BadInput(f"{where}: keep[{index}]: must be a metric name or glob (a string), got {_show(pattern)}")
        if not _GLOB.fullmatch(pattern):
            raise BadInput(f"{where}: keep[{index}]: must be letters, digits, '_', ':' and the glob characters "
                           f"* ? [ ] ! -, got {_show(pattern)}")
    patterns = tuple(dict.fromkeys([*keep, *(DEFAULT_KEEP if include_defaults else ())]))
    return KeepList(patterns, origin=path)


def _show(value: object, *, quote: bool = True) -> str:
    """A value from a file as YAML spells it, at most 60 characters."""
    text = "null" if value is None else ("true" if value else "false") if isinstance(value, bool) else (
        repr(value) if quote else str(value))
    return text if len(text) <= 60 else text[:57] + "..."


# -- the Prometheus text format -----------------------------------------------------------------------------------


def parse_exposition(text: str, keep: KeepList) -> list[dict[str, Any]]:
    """The kept samples of a Prometheus text exposition: ``metric``, ``type``, ``labels``, ``value``.

    Raises:
        ScrapeError: the text is not in the Prometheus format (all or nothing: no half scrape).
    """
    rows: list[dict[str, Any]] = []
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if keep.keeps(family.name, sample.name):
                    rows.append({"metric": sample.name, "type": family.type, "labels": dict(sample.labels),
                                 "value": _finite(sample.value)})
    except Exception as exc:  # noqa: BLE001 - the parser raises ValueError, IndexError, ... on garbage
        raise ScrapeError(f"unparseable body: {_one_line(str(exc) or type(exc).__name__)}") from None
    return rows


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


# -- sources --------------------------------------------------------------------------------------------------------


class _PrometheusSource:
    """A ``/metrics`` endpoint over HTTP, through one keep-alive session, never through a proxy."""

    kind = "prometheus"

    def __init__(self, name: str, url: str, timeout_s: float) -> None:
        self.name, self.url, self.timeout_s = name, url, timeout_s
        parts = urlsplit(url)
        self.secrets = tuple(s for s in (parts.password,) if s)
        self.worst_case_s = timeout_s
        self._session: requests.Session | None = None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "url": _shown_url(self.url)}

    def collect(self, keep: KeepList) -> list[dict[str, Any]]:
        """The kept samples now; ``ScrapeError`` with a short reason when there are none to have."""
        if self._session is None:
            self._session = requests.Session()
            self._session.trust_env = False  # no proxy from the environment: loopback stays loopback
        deadline = time.monotonic() + self.timeout_s
        try:
            with self._session.get(self.url, timeout=self.timeout_s, stream=True, allow_redirects=False,
                                   headers={"Accept": _ACCEPT}) as response:
                if response.status_code != 200:
                    redirect = " (redirects are not followed)" if 300 <= response.status_code < 400 else ""
                    raise ScrapeError(f"HTTP {response.status_code}{redirect}")
                body = bytearray()
                # read1 returns what has arrived (iter_content would wait for 64 kB or the end, so a server
                # dripping its body would hold the scrape far past the deadline checked between reads).
                while chunk := response.raw.read1(65536, decode_content=True):
                    body += chunk
                    if len(body) > _MAX_BODY_BYTES:
                        raise ScrapeError(f"body over {_MAX_BODY_BYTES // 2**20} MB")
                    if time.monotonic() > deadline:  # requests' timeout is per read, not for the whole body
                        raise ScrapeError(f"timed out after {self.timeout_s:g} s")
        except requests.RequestException as exc:
            raise ScrapeError(_network_reason(exc, self.timeout_s)) from None
        return parse_exposition(body.decode("utf-8", errors="replace"), keep)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


class _PgActivitySource:
    """``pg_stat_activity`` counts by database and state, on one connection kept open and remade on failure."""

    kind = "pg_stat_activity"
    _ACTIVITY = """
        SELECT coalesce(datname, ''), coalesce(state, 'unknown'), count(*),
               coalesce(max(extract(epoch FROM clock_timestamp() - xact_start)), 0)::float8
          FROM pg_stat_activity
         WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
         GROUP BY 1, 2"""
    _SETTINGS = "SELECT current_setting('max_connections')::float8, current_database()"

    def __init__(self, conninfo: str, params: Mapping[str, str], timeout_s: float) -> None:
        self.name = _PG_SOURCE
        self.timeout_s = timeout_s
        self._conninfo = conninfo
        self._shown = {key: params.get(key) for key in ("host", "port", "dbname")}
        self.secrets = tuple(s for s in (params.get("password"), conninfo) if s)
        self._connect_s = max(_PG_MIN_CONNECT_S, math.ceil(timeout_s))
        # set at connect, with the DSN's own options kept: a query can never outlast the scrape's timeout
        statement_timeout = f"-c statement_timeout={max(1, round(timeout_s * 1000))}"
        self._options = f"{params.get('options', '')} {statement_timeout}".strip()
        self.worst_case_s = 2 * self._connect_s + 2 * timeout_s  # localhost may be two addresses
        self._conn = None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, **self._shown}

    def collect(self, keep: KeepList) -> list[dict[str, Any]]:
        import psycopg  # here, not at the top: see the module docstring

        try:
            if self._conn is None:
                self._conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=self._connect_s,
                                             options=self._options, application_name="surgegate-server-metrics",
                                             tcp_user_timeout=self._connect_s * 1000)
            activity = self._conn.execute(self._ACTIVITY).fetchall()
            max_connections, current_db = self._conn.execute(self._SETTINGS).fetchone()
        except psycopg.Error as exc:
            if self._conn is not None and (self._conn.closed or self._conn.broken):
                self.close()  # remade at the next scrape; a statement timeout leaves it usable
            raise ScrapeError(_one_line(str(exc) or type(exc).__name__)) from None
        counts = {(db, state): (count, age) for db, state, count, age in activity}
        rows = [_gauge("pg_settings_max_connections", {}, max_connections)]
        for db in sorted({db for db, _ in counts} | {current_db}):
            for state in sorted(set(_PG_STATES) | {s for d, s in counts if d == db}):
                count, age = counts.get((db, state), (0, 0.0))
                labels = {"datname": db, "state": state}
                rows += [_gauge("pg_stat_activity_count", labels, count),
                         _gauge("pg_stat_activity_max_tx_duration", labels, age)]
        return rows

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - a broken connection may fail to close; it is dropped anyway
                pass


def _gauge(metric: str, labels: dict[str, str], value: float) -> dict[str, Any]:
    return {"metric": metric, "type": "gauge", "labels": labels, "value": _finite(value)}


# -- the scraper ---------------------------------------------------------------------------------------------------


class ServerScraper:
    """Scrapes its sources at a fixed interval into rows and gap events (see the module docstring).

    Attributes:
        sources: what is scraped, each with a ``name``.
        keep: the metric names or globs kept from Prometheus sources.
        interval_s: seconds between two scrapes of a source.
        timeout_s: the most a Prometheus scrape or a database query may take.
    """

    def __init__(self, sources: Sequence[Any], keep: KeepList, interval_s: float) -> None:
        self.sources = tuple(sources)
        self.keep = keep
        self.interval_s = interval_s
        self.timeout_s = _timeout_for(interval_s)
        self._failing: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def stop_grace_s(self) -> float:
        """How long ``run`` may take to return once ``stop()`` is true: one last scrape of the slowest source."""
        return max((s.worst_case_s for s in self.sources), default=0.0) + 2 * _POLL_S

    def describe(self) -> dict[str, Any]:
        """What is scraped, for the manifest: no passwords, no DSN."""
        return {"file": ROWS_FILE, "interval_s": self.interval_s, "timeout_s": self.timeout_s,
                "sources": [s.describe() for s in self.sources],
                "keep": list(self.keep.patterns), "keep_from": self.keep.origin}

    def scrape_once(self, elapsed_s: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Scrape every source once, one after the other: (rows, gap events), both stamped ``t = elapsed_s``."""
        rows: list[dict[str, Any]] = []
        gaps: list[dict[str, Any]] = []
        for source in self.sources:
            got, gap = self._scrape(source, elapsed_s)
            rows += got
            gaps += gap
        return rows, gaps

    def run(self, started_at_s: float, append: Callable[[str, list[dict]], object], stop: Callable[[], bool],
            *, final_scrape: bool = True) -> None:
        """Scrape every source at each interval since ``started_at_s`` until ``stop()``; then once more
        (each source whose last scrape succeeded), so the last rows hold the counters at the end.

        Each source has a loop (a thread; a greenlet once gevent has patched
        ``threading``) that waits with ``time.sleep`` in steps of 0.1 s,
        checking ``stop()``, so it returns within ``stop_grace_s`` of it.
        ``append(file, rows)`` (``ResultsFolder.append_lines``) is called
        with ``ROWS_FILE`` and, for gaps, ``EVENTS_FILE``, one call at a
        time, never concurrently.

        Raises:
            Exception: what ``append`` raised (an ``OSError`` when the folder
                cannot be written); scraping stops at once.
        """
        halt = threading.Event()
        write_lock = threading.Lock()
        failures: list[BaseException] = []

        def write(rows: list[dict], gaps: list[dict]) -> None:
            with write_lock:
                if halt.is_set():  # run's caller is gone (killed) or a write failed: write nothing more
                    return
                append(ROWS_FILE, rows)
                if gaps:
                    append(EVENTS_FILE, gaps)

        def loop(source) -> None:
            # the nearest tick, even if just past: the scrape at t = 0 is the baseline counters are read from
            tick = max(0, math.floor((time.time() - started_at_s) / self.interval_s + 0.5))
            try:
                while _sleep_until(started_at_s + tick * self.interval_s, stop, halt):
                    write(*self._scrape(source, time.time() - started_at_s))
                    tick = max(tick + 1, int((time.time() - started_at_s) // self.interval_s) + 1)
                if final_scrape and not halt.is_set() and not self._failing.get(source.name):
                    write(*self._scrape(source, time.time() - started_at_s))  # not again for one that failed
            except Exception as exc:  # noqa: BLE001 - handed to run's caller, in its own thread
                failures.append(exc)
                halt.set()

        threads = [threading.Thread(target=loop, args=(s,), name=f"surgegate-scrape-{s.name}", daemon=True)
                   for s in self.sources]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            halt.set()  # also when run's own caller is killed: no loop outlives it
        if failures:
            raise failures[0]

    def close(self) -> None:
        """Close connections and sessions; the scraper can still be used, and reconnects."""
        for source in self.sources:
            source.close()

    def __enter__(self) -> ServerScraper:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _scrape(self, source, elapsed_s: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """One scrape of one source: its rows (``up`` and ``scrape_duration_seconds`` included) and gaps."""
        t = round(elapsed_s, 3)
        started = time.perf_counter()
        reason = None
        try:
            samples = source.collect(self.keep)
        except ScrapeError as exc:
            reason = str(exc)
        except Exception as exc:  # noqa: BLE001 - a surprise from a source is a gap, never a crashed run
            reason = _one_line(f"{type(exc).__name__}: {exc}")
        duration_s = time.perf_counter() - started
        if reason is not None:
            for secret in source.secrets:
                reason = reason.replace(secret, "***")
            samples = []
        own = [_gauge("up", {}, 0.0 if reason else 1.0), _gauge("scrape_duration_seconds", {}, round(duration_s, 6))]
        rows = [{"t": t, "source": source.name, **row} for row in (*samples, *own)]
        self._note(source.name, reason)
        gaps = [] if reason is None else [{"t": t, "event": "scrape_gap", "source": source.name, "reason": reason}]
        return rows, gaps

    def _note(self, name: str, reason: str | None) -> None:
        """Log the first failure of a streak and the recovery, not every failed scrape."""
        with self._lock:
            failed = self._failing.get(name, 0)
            self._failing[name] = 0 if reason is None else failed + 1
        if reason is not None and failed == 0:
            log.warning("surgegate: server metrics: cannot scrape %s (%s); recording gaps until it answers",
                        name, reason)
        elif reason is None and failed:
            log.info("surgegate: server metrics: %s answers again after %d failed scrape%s",
                     name, failed, "" if failed == 1 else "s")


def _sleep_until(deadline_s: float, stop: Callable[[], bool], halt: threading.Event) -> bool:
    """Sleep until ``deadline_s`` (epoch); False as soon as ``stop()`` or ``halt`` says to stop instead."""
    while not (halt.is_set() or stop()):
        remaining = deadline_s - time.time()
        if remaining <= 0:
            return True
        time.sleep(min(remaining, _POLL_S))
    return False


def _timeout_for(interval_s: float) -> float:
    return round(min(_TIMEOUT_SHARE * interval_s, _MAX_TIMEOUT_S), 3)


# -- building it from the options --------------------------------------------------------------------------------


def build_scraper(urls: Sequence[str], *, default_sources: Mapping[str, str] | None = None,
                  interval: str | float = 1.0, config: str = "", pg_dsn: str = "",
                  host_ok: Callable[[str], bool]) -> ServerScraper | None:
    """The scraper the options ask for; None when there is nothing to scrape.

    Args:
        urls: ``--metrics-url`` values: ``URL`` or ``NAME=URL``, or the one
            value ``none`` for no Prometheus source at all. Unnamed, a source
            is named ``host:port`` (plus the path, if that name is taken).
        default_sources: name -> URL, used when ``urls`` is empty (the
            adapter's ``metrics_paths`` on the target host).
        interval: ``--metrics-interval``, seconds, 0.2 to 60.
        config: ``--metrics-config``, a YAML file (see ``load_keep_list``); empty for ``DEFAULT_KEEP``.
        pg_dsn: ``--pg-dsn``, a libpq URL or ``key=value`` string (``postgresql+psycopg://``
            is accepted too); empty for none.
        host_ok: whether a host may be scraped (the load's loopback policy, with ``--allow-target``).

    Raises:
        BadInput: one line naming the option and what was wrong; never the DSN itself.
    """
    interval_s = _parse_interval(interval)
    keep = load_keep_list(config) if config else KeepList(DEFAULT_KEEP)
    timeout_s = _timeout_for(interval_s)
    sources: list[Any] = []
    if list(urls) == ["none"]:
        named: list[tuple[str, str]] = []
    elif urls:
        named = _named_urls(urls, host_ok)
    else:
        named = list((default_sources or {}).items())
    for name, url in named:
        sources.append(_PrometheusSource(name, url, timeout_s))
    if pg_dsn:
        if _PG_SOURCE in {name for name, _ in named}:
            raise BadInput(f"--metrics-url: the name {_PG_SOURCE!r} is taken by --pg-dsn's rows; choose another")
        conninfo, params = _parse_dsn(pg_dsn, host_ok)
        sources.append(_PgActivitySource(conninfo, params, timeout_s))
    return ServerScraper(sources, keep, interval_s) if sources else None


def _parse_interval(value: str | float) -> float:
    try:
        interval_s = float(value)
    except (TypeError, ValueError):
        raise BadInput(f"--metrics-interval: must be a number of seconds, got {value!r}") from None
    if not MIN_INTERVAL_S <= interval_s <= MAX_INTERVAL_S:  # NaN fails this too
        raise BadInput(f"--metrics-interval: must be >= {MIN_INTERVAL_S:g} and <= {MAX_INTERVAL_S:g} seconds, "
                       f"got {interval_s:g}")
    return interval_s


def _named_urls(values: Iterable[str], host_ok: Callable[[str], bool]) -> list[tuple[str, str]]:
    out: dict[str, str] = {}
    example = "must be an http(s) URL such as http://127.0.0.1:8000/metrics, or NAME=URL"
    for given in values:
        value = given.strip()
        if value == "none":
            raise BadInput("--metrics-url: 'none' turns scraping off and cannot be given with URLs")
        m = _NAMED_URL.fullmatch(value)
        name, url = (m.group(1), m.group(2).strip()) if m and "://" not in m.group(1) else (None, value)
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise BadInput(f"--metrics-url: {example}, got {_shown_url(given)!r}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadInput(f"--metrics-url: {example}, got {_shown_url(given)!r}")
        if not host_ok(parts.hostname):
            raise BadInput(f"--metrics-url: {parts.hostname} is not a loopback address; surgegate scrapes only "
                           f"loopback unless told otherwise: add --allow-target {parts.hostname}")
        if name is None:
            host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
            name = f"{host}:{port or (443 if parts.scheme == 'https' else 80)}"
            if name in out:
                name += parts.path or "/"
        if name in out:
            raise BadInput(f"--metrics-url: the name {name!r} is given twice")
        out[name] = url
    return list(out.items())


def _parse_dsn(dsn: str, host_ok: Callable[[str], bool]) -> tuple[str, dict[str, str]]:
    """The libpq connection string and its parameters; the loopback check on every host it names."""
    from psycopg import Error as PsycopgError
    from psycopg.conninfo import conninfo_to_dict

    conninfo = re.sub(r"^postgres(?:ql)?\+\w+://", "postgresql://", dsn.strip())
    try:
        params = {k: str(v) for k, v in conninfo_to_dict(conninfo).items() if v is not None}
    except PsycopgError as exc:
        # libpq quotes pieces of the string, which may be the password: show its words, not the quotes
        said = re.sub(r'"[^"]*"', '"..."', _one_line(str(exc)))
        raise BadInput(f"--pg-dsn: not a PostgreSQL connection string ({said}); e.g. "
                       "postgresql://user@127.0.0.1:5432/shop (the string is not shown: it may hold a password)"
                       ) from None
    for port in params.get("port", "").split(","):
        if port.strip() and not (port.strip().isdigit() and 0 < int(port) < 65536):
            raise BadInput(f"--pg-dsn: port must be a number in 1..65535, got {port.strip()!r}")
    # Without host/hostaddr, libpq reads PGHOST/PGHOSTADDR, and else uses a local socket.
    hosts = [params.get("hostaddr") or os.environ.get("PGHOSTADDR", ""),
             params.get("host") or os.environ.get("PGHOST", "")]
    for host in (h.strip() for entry in hosts for h in entry.split(",")):
        if host and not host.startswith(("/", "@")) and not host_ok(host):
            raise BadInput(f"--pg-dsn: {host} is not a loopback address; surgegate connects only to loopback "
                           f"unless told otherwise: add --allow-target {host}")
    return conninfo, params


# -- reasons and secrets ---------------------------------------------------------------------------------------------


_SECRET_OPTIONS = ("--pg-dsn",)
_URL_OPTIONS = ("--metrics-url",)


def redact_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` fit for a manifest or a log: ``--pg-dsn``'s value as ``***``, URL passwords as ``***``.

    Abbreviations argparse accepts (``--pg-d``) are recognised too.
    """
    out: list[str] = []
    pending = None
    for arg in argv:
        if pending is not None:
            out.append("***" if pending in _SECRET_OPTIONS else _hide_password(arg))
            pending = None
            continue
        given, eq, value = arg.partition("=")
        option = _option(given)
        if option is None:
            out.append(arg)
        elif eq:
            out.append(f"{given}={'***' if option in _SECRET_OPTIONS else _hide_password(value)}")
        else:
            out.append(arg)
            pending = option
    return out


def _option(given: str) -> str | None:
    """The secret-bearing option ``given`` names, in full or abbreviated, if any."""
    if len(given) < 4 or not given.startswith("--"):
        return None
    return next((o for o in _SECRET_OPTIONS + _URL_OPTIONS if o.startswith(given)), None)


def _hide_password(value: str) -> str:
    return re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", value)


def _shown_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        userinfo = f"{parts.username or ''}:***@"
        return parts._replace(netloc=userinfo + parts.netloc.rpartition("@")[2]).geturl()
    except ValueError:
        return re.sub(r"//[^/@]*@", "//***@", url)


def _network_reason(exc: BaseException, timeout_s: float) -> str:
    """A short reason for a requests failure: the innermost cause, not urllib3's retry wrapping."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        error = todo.pop(0)
        if id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, TimeoutError) or "Timeout" in type(error).__name__:
            return f"timed out after {timeout_s:g} s"
        if isinstance(error, ConnectionRefusedError):
            return "connection refused"
        if isinstance(error, ConnectionResetError):
            return "connection reset by the server"
        if isinstance(error, OSError) and error.strerror:
            return _one_line(error.strerror.lower())
        todo += [e for e in (error.__cause__, error.__context__, getattr(error, "reason", None), *error.args)
                 if isinstance(e, BaseException)]
    return _one_line(f"{type(exc).__name__}")


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
