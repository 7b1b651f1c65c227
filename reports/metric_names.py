"""Which server metric is which signal: ``load_metric_names(path=None) -> MetricNames``.

Root-cause hints reason about a fixed set of signals (``SIGNALS``: the pool's connections in use,
its limit, requests waiting for a connection, the app's busy threads, the gateway's upstream
timeouts, ...). Shops name them differently; ``reports/metric_names.yaml`` (shipped) lists, for
each signal, candidate metric names: the target stub's, HikariCP's (Micrometer and its own
Prometheus tracker), OpenTelemetry's (old and new semantic conventions) and postgres_exporter's.
The first candidate with a row in the run's ``server_metrics.jsonl`` is used.

A file of one's own (``surgegate report DIR --metric-names FILE``) has the same grammar; its
candidates are tried before the shipped ones, unless it says ``include_defaults: false``::

    include_defaults: true          # optional, default true: the shipped candidates come after these
    signals:                        # required: signal -> list of candidates (see SIGNALS)
      pool_in_use:
        - metric: myapp_pool_active                     # a name, or a list of names added together
          labels: {pool: 'orders*', state: '!idle'}     # optional: label -> glob ('!glob': not matching)
      pool_wait:
        - {metric: myapp_pool_wait_ms, scale: 0.001}    # histograms only: to seconds
      app_latency:
        - {metric: myapp_request_seconds, route_label: path}   # the label holding the endpoint

Every key is checked: an unknown signal or key is an error with a "did you mean", and each error
is one line naming the file, the field, the rule and the value (``BadInput``, exit 2).
"""

from __future__ import annotations

import difflib
import fnmatch
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from surgegate.errors import BadInput
from surgegate.yaml_file import read_yaml

__all__ = ["MetricNames", "Candidate", "SIGNALS", "BUCKET_SIGNALS", "load_metric_names", "shipped_metric_names_path"]

SIGNALS: dict[str, str] = {
    "pool_in_use": "gauge", "pool_max": "gauge", "pool_pending": "gauge", "pool_wait": "histogram",
    "pool_timeouts": "counter",
    "workers_busy": "gauge", "workers_max": "gauge", "workers_queue": "gauge",
    "app_latency": "histogram", "downstream_latency": "histogram",
    "gateway_timeouts": "counter", "gateway_timeout_s": "gauge", "gateway_late_ok": "counter",
    "gateway_rate_limited": "counter",
    "db_connections": "gauge", "db_max_connections": "gauge",
}
"""Signal -> kind: a gauge (a value now), a counter (cumulative), a histogram or summary (``_sum``, ``_count``,
and ``_bucket`` when it has them)."""

BUCKET_SIGNALS: tuple[str, ...] = ("pool_wait", "downstream_latency")
"""The histograms whose buckets root-cause hints read: how many waits or payments outlasted the gateway's
timeout (``Histogram.over``). Of the others (``app_latency``) only ``_sum`` and ``_count`` are read."""

_TOP_KEYS = ("signals", "include_defaults")
_CANDIDATE_KEYS = ("metric", "labels", "scale", "route_label")
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


@dataclass(frozen=True)
class Candidate:
    """One way a signal may be exposed: metric names (added together), a label filter, a scale, the route label."""

    metrics: tuple[str, ...]
    labels: tuple[tuple[str, str], ...] = ()
    scale: float = 1.0
    route_label: str | None = None

    @property
    def text(self) -> str:
        """``shop_db_pool_size_connections + shop_db_pool_max_overflow_connections{state=used}``."""
        where = "{" + ",".join(f"{k}={v}" for k, v in self.labels) + "}" if self.labels else ""
        return " + ".join(self.metrics) + where

    def accepts(self, labels: Mapping[str, str]) -> bool:
        """Whether a sample with these labels is one of this candidate's (``le`` and ``quantile`` aside)."""
        for key, glob in self.labels:
            negate = glob.startswith("!")
            found = fnmatch.fnmatchcase(labels.get(key, ""), glob[1:] if negate else glob)
            if found == negate:
                return False
        return True


@dataclass(frozen=True)
class MetricNames:
    """Candidates for every signal, in the order they are tried, and where they came from."""

    signals: Mapping[str, tuple[Candidate, ...]]
    source: str

    def candidates(self, signal: str) -> tuple[Candidate, ...]:
        """The candidates of ``signal`` (none when no file names it)."""
        return self.signals.get(signal, ())

    @property
    def metric_names(self) -> frozenset[str]:
        """Every sample name a reader reads: counters and gauges as named, histograms' ``_sum`` and ``_count``,
        and ``_bucket`` of the ``BUCKET_SIGNALS``."""
        names = set()
        for signal, candidates in self.signals.items():
            suffixes = ("_sum", "_count", "_bucket") if signal in BUCKET_SIGNALS else ("_sum", "_count")
            for candidate in candidates:
                for metric in candidate.metrics:
                    names.add(metric)
                    if SIGNALS[signal] == "histogram":
                        names.update(f"{metric}{suffix}" for suffix in suffixes)
        return frozenset(names)


def shipped_metric_names_path() -> Path:
    """``reports/metric_names.yaml``: the stub's, HikariCP's, OpenTelemetry's and postgres_exporter's names."""
    return Path(__file__).resolve().with_name("metric_names.yaml")


def load_metric_names(path: str | Path | None = None) -> MetricNames:
    """The shipped names, or ``path``'s candidates before them (``include_defaults: false``: instead of them).

    Raises:
        BadInput: ``--metric-names FILE: signals.pool_in_use[0].scale: must be a number > 0, got 'x'``.
    """
    shipped, _ = _parse(read_yaml(shipped_metric_names_path(), "metric_names.yaml (shipped)"),
                        "metric_names.yaml (shipped)")
    if path is None:
        return MetricNames(shipped, "metric_names.yaml (shipped with surgegate)")
    where = f"--metric-names {path}"
    own, include_defaults = _parse(read_yaml(Path(path), where), where)
    merged = {signal: own.get(signal, ()) + (shipped.get(signal, ()) if include_defaults else ())
              for signal in SIGNALS}
    return MetricNames({k: v for k, v in merged.items() if v}, str(path))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _unknown(where: str, field: str, key: Any, allowed) -> BadInput:
    close = difflib.get_close_matches(str(key), list(allowed), n=1)
    hint = f", did you mean {close[0]!r}?" if close else f"; expected one of: {', '.join(allowed)}"
    return BadInput(f"{where}: {field}{key}: unknown key{hint}")


def _parse(document: Any, where: str) -> tuple[dict[str, tuple[Candidate, ...]], bool]:
    if not isinstance(document, dict):
        raise BadInput(f"{where}: (top level): must be a mapping with a 'signals' mapping, got {_show(document)}")
    for key in document:
        if key not in _TOP_KEYS:
            raise _unknown(where, "", key, _TOP_KEYS)
    include_defaults = document.get("include_defaults", True)
    if not isinstance(include_defaults, bool):
        raise BadInput(f"{where}: include_defaults: must be true or false, got {_show(include_defaults)}")
    signals = document.get("signals")
    if not isinstance(signals, dict) or not signals:
        raise BadInput(f"{where}: signals: must be a mapping of signal names to candidate lists, got {_show(signals)}")
    parsed = {}
    for signal, candidates in signals.items():
        if signal not in SIGNALS:
            raise _unknown(where, "signals.", signal, SIGNALS)
        if not isinstance(candidates, list) or not candidates:
            raise BadInput(f"{where}: signals.{signal}: must be a list of candidates, got {_show(candidates)}")
        parsed[signal] = tuple(_candidate(where, f"signals.{signal}[{i}]", signal, c)
                               for i, c in enumerate(candidates))
    return parsed, include_defaults


def _candidate(where: str, field: str, signal: str, raw: Any) -> Candidate:
    if not isinstance(raw, dict):
        raise BadInput(f"{where}: {field}: must be a mapping with a 'metric', got {_show(raw)}")
    for key in raw:
        if key not in _CANDIDATE_KEYS:
            raise _unknown(where, f"{field}.", key, _CANDIDATE_KEYS)
    metric = raw.get("metric")
    metrics = metric if isinstance(metric, list) else [metric]
    if not metrics or not all(isinstance(m, str) and _NAME.fullmatch(m) for m in metrics):
        raise BadInput(f"{where}: {field}.metric: must be a metric name or a list of them "
                       f"(letters, digits, '_', ':'), got {_show(metric)}")
    labels = raw.get("labels", {})
    if not isinstance(labels, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise BadInput(f"{where}: {field}.labels: must map label names to globs (strings), got {_show(labels)}")
    scale = raw.get("scale", 1.0)
    if SIGNALS[signal] != "histogram" and "scale" in raw:
        raise BadInput(f"{where}: {field}.scale: only histograms have a scale ({signal} is a {SIGNALS[signal]}), "
                       f"got {_show(scale)}")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
        raise BadInput(f"{where}: {field}.scale: must be a number > 0, got {_show(scale)}")
    route_label = raw.get("route_label")
    if route_label is not None and not (isinstance(route_label, str) and _NAME.fullmatch(route_label)):
        raise BadInput(f"{where}: {field}.route_label: must be a label name, got {_show(route_label)}")
    return Candidate(tuple(metrics), tuple(sorted(labels.items())), float(scale), route_label)
