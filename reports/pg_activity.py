"""PostgreSQL's ``pg_stat_activity`` as a source of server metrics (``--pg-dsn``): ``PgActivitySource``.

Rows (``source`` = ``postgresql``), named as postgres_exporter names them so that analysis can
read either: ``pg_stat_activity_count`` and ``pg_stat_activity_max_tx_duration`` (seconds) per
``datname`` and ``state`` (client connections only, this scraper's own excluded; every usual
state is written, zeros included, for each database seen and the DSN's own), and
``pg_settings_max_connections``. A role without ``pg_read_all_stats`` sees other roles'
connections with state ``unknown``.

Bounded time: a query gives up after ``timeout_s`` (``statement_timeout``, set at connect), a
connect after libpq's minimum of 2 s.

Secrets: the DSN may hold a password; ``describe()`` shows host, port and dbname only, and
``secrets`` lists what a gap reason must not show.

psycopg is imported only when a DSN is given, and must be imported after gevent has patched
the standard library: psycopg picks its wait function at import, and only then picks one that
yields to other greenlets.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from reports.keep_list import KeepList
from reports.server_rows import ScrapeError, gauge, one_line
from surgegate.errors import BadInput

__all__ = ["PgActivitySource", "parse_dsn", "PG_SOURCE"]

PG_SOURCE = "postgresql"
"""The ``source`` of the rows, a name no ``--metrics-url`` may take."""
_PG_MIN_CONNECT_S = 2  # libpq treats any connect_timeout below 2 s as 2 s
_PG_STATES = ("active", "idle", "idle in transaction", "idle in transaction (aborted)")


class PgActivitySource:
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
        self.name = PG_SOURCE
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
            raise ScrapeError(one_line(str(exc) or type(exc).__name__)) from None
        counts = {(db, state): (count, age) for db, state, count, age in activity}
        rows = [gauge("pg_settings_max_connections", {}, max_connections)]
        for db in sorted({db for db, _ in counts} | {current_db}):
            for state in sorted(set(_PG_STATES) | {s for d, s in counts if d == db}):
                count, age = counts.get((db, state), (0, 0.0))
                labels = {"datname": db, "state": state}
                rows += [gauge("pg_stat_activity_count", labels, count),
                         gauge("pg_stat_activity_max_tx_duration", labels, age)]
        return rows

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - a broken connection may fail to close; it is dropped anyway
                pass


def parse_dsn(dsn: str, host_ok: Callable[[str], bool]) -> tuple[str, dict[str, str]]:
    """The libpq connection string and its parameters; the loopback check on every host it names."""
    from psycopg import Error as PsycopgError
    from psycopg.conninfo import conninfo_to_dict

    conninfo = re.sub(r"^postgres(?:ql)?\+\w+://", "postgresql://", dsn.strip())
    try:
        params = {k: str(v) for k, v in conninfo_to_dict(conninfo).items() if v is not None}
    except PsycopgError as exc:
        # libpq quotes pieces of the string, which may be the password: show its words, not the quotes
        said = re.sub(r'"[^"]*"', '"..."', one_line(str(exc)))
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
