"""Which server metrics a run keeps: ``KeepList``, ``DEFAULT_KEEP``, and ``load_keep_list`` (``--metrics-config``).

A shop's ``/metrics`` holds far more than root-cause hints read (a JVM app exposes ~1 MB: GC, threads,
buffers, ...); only samples whose name or family matches the keep-list are written to
``server_metrics.jsonl`` (``reports.server_rows``).
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass

from surgegate.errors import BadInput
from surgegate.yaml_file import read_yaml

__all__ = ["KeepList", "DEFAULT_KEEP", "load_keep_list"]

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
    # but not the buckets of per-endpoint request latency: root-cause hints read the app's time per endpoint
    # from _sum and _count (app_latency in metric_names.yaml), and the gateway's not at all; a bucket row per
    # endpoint x method x status x le, they were three quarters of every scrape of the stub
    "!shop_app_request_duration_seconds_bucket", "!shop_gateway_request_duration_seconds_bucket",
    "!http_server_*_bucket",
)
"""The metric names or globs kept when no ``--metrics-config`` is given; the last that matches decides.

Histogram buckets that root-cause hints read (``reports.metric_names.BUCKET_SIGNALS``: the pool's wait and
the downstream's latency, compared with the gateway's timeout) are kept."""

_GLOB = re.compile(r"[A-Za-z0-9_:*?\[\]!-]+")
_CONFIG_KEYS = ("include_defaults", "keep")


@dataclass(frozen=True)
class KeepList:
    """Metric names or globs (``fnmatch``: ``*``, ``?``, ``[...]``) to keep or drop, and where they came from.

    A pattern matches a sample's name (``shop_gateway_responses_total``,
    ``shop_db_pool_wait_seconds_bucket``) or its family's
    (``shop_db_pool_wait_seconds`` keeps the histogram's ``_bucket``, ``_sum``
    and ``_count``). A pattern starting with ``!`` drops what it matches. As in
    ``.gitignore``, the last pattern that matches decides, so
    ``shop_app_*, !shop_app_*_bucket`` keeps the app's histograms without their
    buckets. ``_created`` samples (series creation times) are never kept.
    """

    patterns: tuple[str, ...]
    origin: str = "default"

    def __post_init__(self) -> None:
        # One regex of every glob, the last pattern first: the alternative that matches is the deciding pattern.
        alternatives = [f"(?P<p{i}>{fnmatch.translate(p.removeprefix('!'))})" for i, p in enumerate(self.patterns)]
        object.__setattr__(self, "_regex", re.compile("|".join(reversed(alternatives)) or r"(?!)"))
        object.__setattr__(self, "_drops", tuple(p.startswith("!") for p in self.patterns))

    def keeps(self, family: str, sample: str) -> bool:
        """Whether a sample of ``family`` named ``sample`` is kept."""
        if sample.endswith("_created"):
            return False
        deciding = max(self._last(sample), self._last(family))
        return deciding >= 0 and not self._drops[deciding]  # type: ignore[attr-defined]

    def _last(self, name: str) -> int:
        """The index of the last pattern matching ``name``; -1 for none."""
        found = self._regex.match(name)  # type: ignore[attr-defined]
        return -1 if found is None else int(found.lastgroup[1:])


def load_keep_list(path: str) -> KeepList:
    """The keep-list of a ``--metrics-config`` YAML file.

    The file (unknown keys are refused)::

        keep:                    # required: metric names or globs, at least one to keep
          - shop_db_pool_*
          - hikaricp_connections_pending
          - '!shop_db_pool_wait_seconds_bucket'   # '!' drops (quoted: YAML reads a bare ! as a tag)
        include_defaults: false  # optional: DEFAULT_KEEP first, then these (so they can override it)

    The last pattern that matches a sample decides (see ``KeepList``).

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
    for index, pattern in enumerate(keep):
        if not isinstance(pattern, str):
            raise BadInput(f"{where}: keep[{index}]: must be a metric name or glob (a string), got {_show(pattern)}")
        if not _GLOB.fullmatch(pattern.removeprefix("!")):
            raise BadInput(f"{where}: keep[{index}]: must be letters, digits, '_', ':' and the glob characters "
                           f"* ? [ ] ! -, after an optional '!' (drop), got {_show(pattern)}")
    if not include_defaults and all(pattern.startswith("!") for pattern in keep):
        raise BadInput(f"{where}: keep: must name at least one metric to keep (or set include_defaults: true), "
                       f"got {_show(keep)}")
    patterns = [*(DEFAULT_KEEP if include_defaults else ()), *keep]
    return KeepList(tuple(p for i, p in enumerate(patterns) if p not in patterns[i + 1:]), origin=path)


def _show(value: object, *, quote: bool = True) -> str:
    """A value from a file as YAML spells it, at most 60 characters."""
    text = "null" if value is None else ("true" if value else "false") if isinstance(value, bool) else (
        repr(value) if quote else str(value))
    return text if len(text) <= 60 else text[:57] + "..."
