"""Server-side metrics during a run: what the shop's own endpoints said, once per interval.

Sources (see ``build_scraper``): Prometheus endpoints (``--metrics-url``, or
the target adapter's ``metrics_paths`` on the target host; ``reports.prometheus_source``),
and optionally PostgreSQL's ``pg_stat_activity`` (``--pg-dsn``; ``reports.pg_activity``).
Every source is scraped at ``t = 0, interval, 2 x interval, ...`` after the run's start,
and once more when the run stops (unless its last scrape failed), so the first and last
rows of a counter bracket the run. What is kept is ``reports.keep_list``; what is written,
``server_metrics.jsonl`` and the ``scrape_gap`` events, is ``reports.server_rows``.

A failed scrape is never an exception: it is a gap, the run goes on, and a
source that keeps failing is logged once, then once more when it answers again.

Bounded time: a scrape gives up after ``timeout_s`` (0.8 x the interval, at
most 10 s). Each source runs in a loop of its own (``run``), so a slow one
delays no other, and a scrape that overruns skips the ticks it missed instead
of piling up.

Secrets: the DSN (which may hold a password) and URL passwords are never
written: ``describe()`` shows URLs with the password as ``***`` and the
database as host, port and dbname only; gap reasons are scrubbed too
(``reports.redaction``).

No locust or gevent here; ``locustfiles/server_scrape.py`` is the glue.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from reports.keep_list import DEFAULT_KEEP, KeepList, load_keep_list
from reports.pg_activity import PG_SOURCE, PgActivitySource, parse_dsn
from reports.prometheus_source import PrometheusSource
from reports.redaction import shown_url
from reports.server_rows import EVENTS_FILE, ROWS_FILE, ScrapeError, gap_event, one_line, scrape_rows
from surgegate.errors import BadInput

__all__ = ["ServerScraper", "build_scraper", "MIN_INTERVAL_S", "MAX_INTERVAL_S"]

log = logging.getLogger("surgegate")

MIN_INTERVAL_S, MAX_INTERVAL_S = 0.2, 60.0
_TIMEOUT_SHARE, _MAX_TIMEOUT_S = 0.8, 10.0
_POLL_S = 0.1  # how often a waiting loop checks whether to stop
_NAMED_URL = re.compile(r"([A-Za-z][A-Za-z0-9_.-]*)=(.*)", re.DOTALL)


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
            reason = one_line(f"{type(exc).__name__}: {exc}")
        duration_s = time.perf_counter() - started
        if reason is not None:
            for secret in source.secrets:
                reason = reason.replace(secret, "***")
            samples = []
        rows = scrape_rows(t, source.name, samples, up=reason is None, duration_s=duration_s)
        self._note(source.name, reason)
        return rows, [] if reason is None else [gap_event(t, source.name, reason)]

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
        sources.append(PrometheusSource(name, url, timeout_s))
    if pg_dsn:
        if PG_SOURCE in {name for name, _ in named}:
            raise BadInput(f"--metrics-url: the name {PG_SOURCE!r} is taken by --pg-dsn's rows; choose another")
        conninfo, params = parse_dsn(pg_dsn, host_ok)
        sources.append(PgActivitySource(conninfo, params, timeout_s))
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
            raise BadInput(f"--metrics-url: {example}, got {shown_url(given)!r}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadInput(f"--metrics-url: {example}, got {shown_url(given)!r}")
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
