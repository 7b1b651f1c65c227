"""Server-side metrics in a Locust run: the options, the scraper built from them, and its greenlet.

    --metrics-url [NAME=]URL   a Prometheus endpoint to scrape (repeatable); ``none`` for none.
                               Default: the adapter's ``metrics_paths`` on the target host
                               (the stub: gateway=/metrics, app=/metrics/app)
    --metrics-interval SECONDS seconds between scrapes, 0.2 to 60 (default 1)
    --metrics-config FILE      a YAML keep-list (see ``reports.keep_list.load_keep_list``)
    --pg-dsn DSN               also record pg_stat_activity; or SURGEGATE_PG_DSN in the environment,
                               which keeps a password off the command line (and out of ``ps``)

The scraping is in ``reports/server_metrics.py``, the file formats in ``reports/server_rows.py``;
this module only adapts them to Locust. The wiring, on the master or local
runner only (workers do not scrape)::

    scraper = server_scrape.from_options(options, context.host, context.adapter)   # init: BadInput before load
    manifest["server_metrics"] = scraper.describe() if scraper else None
    loop = server_scrape.ScrapeLoop(scraper, started_at_s, folder.append_lines,    # test_start
                                    on_write_error=...)
    loop.stop()                                                                       # test_stop, before the
                                                                                      # final manifest

and ``reports.redaction.redact_argv(sys.argv)`` for the manifest's command line, since
``--pg-dsn`` may hold a password.

psycopg under gevent (checked with psycopg 3.3 and gevent 26): psycopg
chooses its wait function when it is imported; imported after gevent's
``patch_all`` (Locust does that at ``import locust``), it sees ``select``
patched and waits with the cooperative ``poll`` instead of its C loop, and
its connect waits on gevent's selector. A query, a connect to a silent
port (2 s, libpq's minimum timeout) and the name lookup all let the other
greenlets run: inside Locust, a 20 ms ticker greenlet paused at most 0.05 s
while queries waited 0.8 s on a lock (``tests/test_server_metrics.py``).
Imported before the patch, every database scrape would block every shopper
for its duration: ``from_options`` warns if that happened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import gevent
from gevent import monkey

from locustfiles.targets import host_allowed, normalise_hosts
from reports.server_metrics import ServerScraper, build_scraper

__all__ = ["add_options", "from_options", "ScrapeLoop"]

log = logging.getLogger("surgegate")


def add_options(parser) -> None:
    """The server-metrics options (on Locust's argument parser; none in the web UI's form)."""
    parser.add_argument("--metrics-url", action="append", default=[], include_in_web_ui=False,
                        metavar="[NAME=]URL",
                        help="a Prometheus endpoint to scrape during the run (repeatable; 'none' for none); "
                             "default: the adapter's, on the target host")
    parser.add_argument("--metrics-interval", default="1", include_in_web_ui=False, metavar="SECONDS",
                        help="seconds between two scrapes, 0.2 to 60 (default: 1)")
    parser.add_argument("--metrics-config", default="", include_in_web_ui=False, metavar="FILE",
                        help="YAML file naming the metrics to keep (default: the stub's, HikariCP, OpenTelemetry)")
    parser.add_argument("--pg-dsn", default="", include_in_web_ui=False, env_var="SURGEGATE_PG_DSN", metavar="DSN",
                        help="also record PostgreSQL connections by state (pg_stat_activity); "
                             "better given as SURGEGATE_PG_DSN in the environment")


def from_options(options, host: str, adapter) -> ServerScraper | None:
    """The run's scraper, or None when there is nothing to scrape.

    Args:
        options: Locust's parsed options, with ``add_options``'s.
        host: the checked target URL (``RunContext.host``); empty when not known yet.
        adapter: the run's ``ShopAdapter``: its ``metrics_paths`` give the default
            sources, its ``allowed_hosts`` (``--allow-target``) the hosts besides loopback.

    Raises:
        BadInput: a bad option; nothing was sent.
    """
    allowed = getattr(adapter, "allowed_hosts", None)
    if allowed is None:
        allowed = normalise_hosts(getattr(options, "allow_target", None) or [])
    paths = getattr(adapter, "metrics_paths", None) or {}
    defaults = {name: host.rstrip("/") + path for name, path in paths.items()} if host else {}
    pg_dsn = (getattr(options, "pg_dsn", "") or "").strip()
    scraper = build_scraper(getattr(options, "metrics_url", None) or [], default_sources=defaults,
                            interval=getattr(options, "metrics_interval", 1.0),
                            config=getattr(options, "metrics_config", "") or "", pg_dsn=pg_dsn,
                            host_ok=lambda name: host_allowed(name, allowed))
    if pg_dsn:
        _check_psycopg_cooperates()
    return scraper


def _check_psycopg_cooperates() -> None:
    from psycopg import waiting

    if monkey.is_module_patched("select") and getattr(waiting, "wait", None) is getattr(waiting, "wait_c", object()):
        log.warning("surgegate: psycopg was imported before gevent patched the standard library; each "
                    "pg_stat_activity scrape will pause every shopper while it waits (import locust first)")


class ScrapeLoop:
    """``ServerScraper.run`` in a greenlet of its own, from ``test_start`` until ``stop()``.

    ``append`` is ``ResultsFolder.append_lines``; ``on_write_error(exc)`` is
    called (in the loop's greenlet) when it raised ``OSError``: scraping has
    stopped, and the caller decides what becomes of the run. Without it the
    error is logged in one line.
    """

    def __init__(self, scraper: ServerScraper, started_at_s: float, append: Callable[[str, list[dict]], object],
                 on_write_error: Callable[[OSError], None] | None = None) -> None:
        self.scraper = scraper
        self._stopping = False
        self._on_write_error = on_write_error
        self._greenlet = gevent.spawn(self._run, started_at_s, append)

    def _run(self, started_at_s: float, append) -> None:
        try:
            self.scraper.run(started_at_s, append, lambda: self._stopping)
        except OSError as exc:
            if self._on_write_error is not None:
                self._on_write_error(exc)
            else:
                log.error("surgegate: server metrics stopped: cannot write them: %s", exc.strerror or exc)

    def stop(self) -> None:
        """Scrape each source once more, wait for that (at most ``stop_grace_s``), close the connections."""
        self._stopping = True
        self._greenlet.join(timeout=self.scraper.stop_grace_s)
        if not self._greenlet.dead:
            log.warning("surgegate: server metrics: the last scrape took over %.1f s; cut short",
                        self.scraper.stop_grace_s)
            self._greenlet.kill(block=True, timeout=1.0)
        self.scraper.close()
