"""The server's connection pool over the run, from ``server_metrics.jsonl``: ``read_pool_series(folder)``.

Three gauges, by the names the stub exposes, or HikariCP's (Micrometer) for a JVM shop::

    in use     shop_db_pool_checked_out_connections    hikaricp_connections_active
    limit      shop_db_pool_size_connections           hikaricp_connections_max
               + shop_db_pool_max_overflow_connections
    waiting    shop_db_pool_waiting_requests           hikaricp_connections_pending

The limit is what the pool may hand out: its size plus the overflow it may open (the stub's
``fixed`` preset: 20 + 10 = 30). Samples of one scrape (same source, same ``t``) are summed over
their labels, so a shop with several pools is shown as one; the shop's names win over HikariCP's
when a folder has both.

Cost: the file is large (~73 kB a scrape for the stub: ~16 MB for the 198 s july15 replay, ~230 MB
for an hour), so it is searched as bytes for the names' first words, and only the lines found are
decoded: 0.4 s for an hour's 230 MB on the development machine. A line found that is not JSON (a
torn last line, damage) is counted in ``unreadable`` and skipped: this file is optional evidence,
never a reason to fail a report.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["PoolSeries", "read_pool_series", "POOL_METRICS", "FILE"]

FILE = "server_metrics.jsonl"
POOL_METRICS: dict[str, tuple[tuple[str, ...], ...]] = {
    "in_use": (("shop_db_pool_checked_out_connections",), ("hikaricp_connections_active",)),
    "limit": (("shop_db_pool_size_connections", "shop_db_pool_max_overflow_connections"),
              ("hikaricp_connections_max",)),
    "waiting": (("shop_db_pool_waiting_requests",), ("hikaricp_connections_pending",)),
}
"""Role -> naming schemes, in order of preference; a role's value is the sum of its scheme's metrics."""
_NAMES = {name for schemes in POOL_METRICS.values() for scheme in schemes for name in scheme}
_PREFIXES = tuple(sorted({"_".join(name.split("_")[:2]).encode() + b"_" for name in _NAMES}))
"""What to search the file for: ``shop_db_``, ``hikaricp_connections_`` (the names' first two words)."""
_CHUNK = 16 * 2**20


@dataclass(frozen=True)
class PoolSeries:
    """The pool's gauges per bin (the largest sample in each), on the x axis ``t_s`` (the bin's middle)."""

    t_s: np.ndarray
    in_use: np.ndarray
    limit: np.ndarray
    waiting: np.ndarray
    peak_in_use: float | None
    peak_limit: float | None
    peak_waiting: float | None
    unreadable: int
    """Lines naming a pool metric that were not JSON (a torn last line, damage) and were skipped."""


def _lines_naming(path: Path, prefixes: tuple[bytes, ...]):
    """Each whole line of the file holding one of ``prefixes``, once, read 16 MB at a time.

    ``bytes.find`` over a chunk runs at memory speed (0.2 s for 230 MB here), where testing every line
    in Python took 2.9 s: the file has ~440 lines a scrape and we want ~4 of them.
    """
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            chunk += f.readline()  # end on a whole line
            starts = set()
            for prefix in prefixes:
                found = chunk.find(prefix)
                while found >= 0:
                    starts.add(chunk.rfind(b"\n", 0, found) + 1)
                    found = chunk.find(prefix, found + 1)
            for start in sorted(starts):
                end = chunk.find(b"\n", start)
                yield chunk[start:] if end < 0 else chunk[start:end]


def _scan(path: Path) -> tuple[dict[str, dict[float, float]], int]:
    """metric name -> {t: value summed over labels and sources}, and the count of unreadable lines."""
    found: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    unreadable = 0
    for line in _lines_naming(path, _PREFIXES):
        try:
            row = json.loads(line)
            name, t, value = row["metric"], float(row["t"]), row["value"]
        except (ValueError, KeyError, TypeError):
            unreadable += 1
            continue
        if name in _NAMES and isinstance(value, (int, float)) and math.isfinite(value) and math.isfinite(t):
            found[name][t] += float(value)
    return found, unreadable


def _role(found: dict[str, dict[float, float]], role: str) -> dict[float, float]:
    for scheme in POOL_METRICS[role]:
        if scheme[0] in found:
            total: dict[float, float] = defaultdict(float)
            for name in scheme:
                for t, value in found.get(name, {}).items():
                    total[t] += value
            return total
    return {}


def _bin_of(t: float, bin_s: int) -> int:
    return int(max(t - 1e-9, 0.0) // bin_s)


def _binned(samples: dict[float, float], bin_s: int, keys: np.ndarray) -> np.ndarray:
    """The largest sample in each bin of ``keys`` (NaN where the bin has none)."""
    out = np.full(len(keys), np.nan)
    for t, value in samples.items():
        position = int(np.searchsorted(keys, _bin_of(t, bin_s)))
        out[position] = value if np.isnan(out[position]) else max(out[position], value)
    return out


def read_pool_series(folder: str | Path, *, bin_s: int = 1) -> PoolSeries | None:
    """The pool's gauges in ``folder/server_metrics.jsonl``, binned by ``bin_s`` seconds; None when there are none.

    Unreadable files (missing, no permission) are None too: the report then says no server metrics were recorded.
    """
    path = Path(folder) / FILE
    try:
        found, unreadable = _scan(path)
    except OSError:
        return None
    roles = {role: _role(found, role) for role in POOL_METRICS}
    if not roles["in_use"] and not roles["waiting"]:
        return None
    times = sorted({t for samples in roles.values() for t in samples})
    keys = np.unique(np.array([_bin_of(t, bin_s) for t in times], dtype=np.int64))
    series = {role: _binned(samples, bin_s, keys) for role, samples in roles.items()}

    def peak(role: str) -> float | None:
        return max(roles[role].values()) if roles[role] else None

    return PoolSeries(t_s=(keys + 0.5) * bin_s, in_use=series["in_use"], limit=series["limit"],
                      waiting=series["waiting"], peak_in_use=peak("in_use"), peak_limit=peak("limit"),
                      peak_waiting=peak("waiting"), unreadable=unreadable)
