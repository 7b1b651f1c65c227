"""Field checks of an SLO file: YAML data in, ``SloSet`` out, or one ``BadInput`` line naming file and field.

Only the first problem is reported, in the order of the grammar (``reports.slo``); in each mapping,
unknown keys are checked first, because a typo (``boud``) better explains a missing key than
"bound is missing" does.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Collection
from fractions import Fraction
from typing import Any, NoReturn

from profiles import parse_duration
from reports._slo_model import (HTTP_METHODS, LATENCY_METRICS, METRICS, Bound, EndpointPattern, Generator,
                                Objective, Recovery, Scope, SloSet, StatusMatch)
from surgegate.errors import BadInput

__all__ = ["check_document", "check_patterns"]

_TOP_KEYS = ("generator", "objectives")
_GENERATOR_KEYS = ("max_cpu_percent", "sustained")
_OBJECTIVE_KEYS = ("name", "endpoint", "metric", "status", "bound", "scope", "recovery", "per_endpoint",
                   "min_requests")
_SCOPE_KEYS = ("stage", "window")
_RECOVERY_KEYS = ("after", "within", "window")
_NUMBER = r"(\d+(?:\.\d+)?)"
_UNITS = {"latency": ("ms or s", re.compile(rf"{_NUMBER}\s*(ms|s)")),
          "rate": ("%", re.compile(rf"{_NUMBER}\s*(%)")),
          "throughput": ("/s", re.compile(rf"{_NUMBER}\s*(/s|req/s)"))}


def check_document(document: Any, source: str) -> SloSet:
    """The checked SLO set of a parsed YAML ``document`` from ``source``."""
    return _Checker(source).document(document)


def check_patterns(slos: SloSet, endpoint_names: Collection[str]) -> None:
    known = []
    for entry in endpoint_names:
        method, _, name = entry.partition(" ")
        known.append((method, name) if method in HTTP_METHODS and name else (None, entry))
    for objective in slos.objectives:
        for index, pattern in enumerate(objective.endpoints):
            if pattern.matches_everything or any(pattern.matches(m, n) for m, n in known):
                continue
            field = f"{objective.field}.endpoint" + (f"[{index}]" if len(objective.endpoints) > 1 else "")
            labels = sorted({f"{m} {n}" if m else n for m, n in known})
            close = difflib.get_close_matches(pattern.text, labels, n=1)
            hint = f", did you mean {close[0]!r}?" if close else f"; the adapter's endpoints: {', '.join(labels)}"
            raise BadInput(f"{slos.source}: {field}: {pattern.text!r} matches no endpoint of the adapter{hint}")


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Checker:
    """Field checks bound to one file, so every error starts with it."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, field: str, message: str) -> NoReturn:
        raise BadInput(f"{self.source}: {field or '(top level)'}: {message}")

    def mapping(self, field: str, value: Any, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict:
        if not isinstance(value, dict):
            self.fail(field, f"must be a mapping, got {_show(value)}")
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f", did you mean {close[0]!r}?" if close else f"; expected one of {', '.join(allowed)}"
                self.fail(_join(field, key), f"unknown key{hint}")
        for key in required:
            if key not in value:
                self.fail(_join(field, key), "required key is missing")
        return value

    def document(self, value: Any) -> SloSet:
        if value is None:
            self.fail("", "the file is empty; an SLO file needs at least one objective")
        fields = self.mapping("", value, _TOP_KEYS, ("objectives",))
        generator = self.generator("generator", fields["generator"]) if "generator" in fields else Generator()
        entries = fields["objectives"]
        if not isinstance(entries, list) or not entries:
            self.fail("objectives", f"must list at least one objective, got {_show(entries)}")
        objectives = []
        seen: dict[str, str] = {}
        for index, entry in enumerate(entries):
            objective = self.objective(f"objectives[{index}]", entry)
            if objective.name in seen and "name" in entry:
                self.fail(f"{objective.field}.name",
                          f"{objective.name!r} is already the name of {seen[objective.name]}")
            if objective.name in seen:  # a made-up name: made unique, since compare matches objectives by name
                objective = dataclasses.replace(objective, name=f"{objective.name} ({objective.field})")
            seen[objective.name] = objective.field
            objectives.append(objective)
        return SloSet(self.source, tuple(objectives), generator)

    def generator(self, field: str, value: Any) -> Generator:
        fields = self.mapping(field, value, _GENERATOR_KEYS)
        cpu = fields.get("max_cpu_percent", 90)
        if isinstance(cpu, bool) or not isinstance(cpu, (int, float)) or not 0 < cpu <= 100:
            self.fail(f"{field}.max_cpu_percent", f"must be a number in (0, 100], got {_show(cpu)}")
        sustained = self.duration(f"{field}.sustained", fields.get("sustained", "5s"))
        return Generator(float(cpu), sustained)

    def duration(self, field: str, value: Any) -> float:
        try:
            return parse_duration(value)
        except ValueError as error:
            self.fail(field, str(error))

    def window(self, field: str, value: Any) -> int:
        seconds = self.duration(field, value)
        if seconds != int(seconds):
            self.fail(field, f"must be a whole number of seconds (windows are 1 s), got {_show(value)}")
        return int(seconds)

    def stage(self, field: str, value: Any) -> str:
        if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", value):
            self.fail(field, f"must be a stage name (letters, digits, '-', '_'), got {_show(value)}")
        return value

    def objective(self, field: str, value: Any) -> Objective:
        fields = self.mapping(field, value, _OBJECTIVE_KEYS, ("metric", "bound"))
        metric = self.metric(f"{field}.metric", fields["metric"])
        endpoints = self.endpoints(f"{field}.endpoint", fields.get("endpoint", "*"))
        statuses: tuple[StatusMatch, ...] = ()
        if metric == "status_rate":
            if "status" not in fields:
                self.fail(f"{field}.status", "required key is missing (status_rate needs a status, e.g. 504 or '5xx')")
            statuses = self.statuses(f"{field}.status", fields["status"])
        elif "status" in fields:
            self.fail(f"{field}.status", f"only status_rate takes a status (metric is {metric})")
        bound = self.bound(f"{field}.bound", fields["bound"], metric)
        if "scope" in fields and "recovery" in fields:
            self.fail(f"{field}.recovery", "an objective has a scope or a recovery, not both")
        scope = self.scope(f"{field}.scope", fields.get("scope", "run"))
        recovery = None
        if "recovery" in fields:
            if metric not in ("error_rate", "status_rate"):
                self.fail(f"{field}.recovery", f"recovery judges error_rate or status_rate, not {metric}")
            recovery = self.recovery(f"{field}.recovery", fields["recovery"])
        per_endpoint = fields.get("per_endpoint", False)
        if not isinstance(per_endpoint, bool):
            self.fail(f"{field}.per_endpoint", f"must be true or false, got {_show(per_endpoint)}")
        min_requests = fields.get("min_requests", 1)
        if isinstance(min_requests, bool) or not isinstance(min_requests, int) or min_requests < 1:
            self.fail(f"{field}.min_requests", f"must be a whole number >= 1, got {_show(min_requests)}")
        objective = Objective("", field, endpoints, metric, bound, statuses, scope, recovery, per_endpoint,
                              min_requests)
        name = fields.get("name")
        if name is None and recovery is not None:
            name = f"{objective.endpoint_label} {objective.metric_label} back under {bound.text} within " \
                   f"{recovery.within_s:g} s after stage {recovery.after}"
        elif name is None:
            name = f"{objective.endpoint_label} {objective.metric_label} {objective.comparison} {bound.text}, " \
                   f"{objective.where_label}"
        elif not isinstance(name, str) or not name.strip() or len(name) > 200 or \
                any(ord(c) < 32 or ord(c) == 127 for c in name):
            self.fail(f"{field}.name", f"must be text of 1 to 200 printable characters, got {_show(name)}")
        return Objective(name, field, endpoints, metric, bound, statuses, scope, recovery, per_endpoint,
                         min_requests)

    def metric(self, field: str, value: Any) -> str:
        if value in METRICS:
            return value
        text = str(value)
        match = re.fullmatch(r"p(\d+(?:\.\d+)?)", text)
        if match and not 0 < float(match.group(1)) < 100:
            self.fail(field, f"percentile out of range: must be above p0 and below p100 (use max for the "
                             f"slowest), got {_show(value)}")
        if match:
            self.fail(field, f"percentile {text} is not reported; use one of {', '.join(LATENCY_METRICS)}")
        close = difflib.get_close_matches(text, METRICS, n=1)
        hint = f", did you mean {close[0]!r}?" if close else f"; metrics: {', '.join(METRICS)}"
        self.fail(field, f"unknown metric {_show(value)}{hint}")

    def endpoints(self, field: str, value: Any) -> tuple[EndpointPattern, ...]:
        values = value if isinstance(value, list) else [value]
        if not values:
            self.fail(field, "must name at least one endpoint pattern, or be '*'")
        patterns = []
        for index, text in enumerate(values):
            place = f"{field}[{index}]" if isinstance(value, list) else field
            if not isinstance(text, str) or not text.strip():
                self.fail(place, f"must be an endpoint pattern like 'POST /checkout' or '/carts*', got {_show(text)}")
            method, _, name = text.strip().partition(" ")
            if method in HTTP_METHODS and name.strip():
                patterns.append(EndpointPattern(text.strip(), method, name.strip()))
            elif method.upper() in HTTP_METHODS and name.strip():
                self.fail(place, f"methods are upper case: {method.upper()!r}, got {_show(text)}")
            else:
                patterns.append(EndpointPattern(text.strip(), None, text.strip()))
        if any(p.matches_everything for p in patterns):
            return ()
        return tuple(patterns)

    def statuses(self, field: str, value: Any) -> tuple[StatusMatch, ...]:
        values = value if isinstance(value, list) and value else [value]
        matches = []
        for item in values:
            text = str(item) if not isinstance(item, bool) else ""
            if not (re.fullmatch(r"[1-5]\d\d", text) or re.fullmatch(r"[1-5]xx", text)):
                self.fail(field, f"must be a status code (100-599) or class ('5xx'), got {_show(item)}")
            matches.append(StatusMatch(text))
        return tuple(matches)

    def bound(self, field: str, value: Any, metric: str) -> Bound:
        kind = "latency" if metric in LATENCY_METRICS else {"error_rate": "rate", "status_rate": "rate"}.get(
            metric, metric)
        if kind == "dropped_arrivals":
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                return Bound(str(value), Fraction(value))
            kind = "rate"
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.fail(field, f"must be a number with a unit, got {_show(value)}")
        units, pattern = _UNITS[kind]
        text = str(value).strip()
        match = pattern.fullmatch(text)
        if match is None:
            if re.fullmatch(r"-\s*\d.*", text):
                self.fail(field, f"must be >= 0, got {_show(value)}")
            if re.fullmatch(r"\d+(?:\.\d+)?", text):
                self.fail(field, f'"{text}" has no unit (use {units})')
            self.fail(field, f'"{text}" is not a number with a unit (use {units})')
        number = Fraction(match.group(1))
        if kind == "latency":
            return Bound(text, number * (1000 if match.group(2) == "ms" else 1_000_000))
        if kind == "rate":
            if number > 100:
                self.fail(field, f'"{text}" is over 100%')
            return Bound(text, number / 100, is_fraction=True)
        return Bound(text, number)

    def scope(self, field: str, value: Any) -> Scope:
        if value == "run":
            return Scope()
        if isinstance(value, str):
            self.fail(field, f"must be 'run' or a mapping like {{stage: peak, window: 30s}}, got {_show(value)}")
        fields = self.mapping(field, value, _SCOPE_KEYS)
        if not fields:
            self.fail(field, "must name a stage, a window, or both (or be 'run')")
        stage = self.stage(f"{field}.stage", fields["stage"]) if "stage" in fields else None
        window = self.window(f"{field}.window", fields["window"]) if "window" in fields else None
        return Scope(stage, window)

    def recovery(self, field: str, value: Any) -> Recovery:
        fields = self.mapping(field, value, _RECOVERY_KEYS, ("after", "within"))
        after = self.stage(f"{field}.after", fields["after"])
        within = self.duration(f"{field}.within", fields["within"])
        window = self.window(f"{field}.window", fields.get("window", "10s"))
        return Recovery(after, within, window)


def _join(field: str, key: Any) -> str:
    key = str(key) if len(str(key)) <= 40 else str(key)[:40] + "..."
    return f"{field}.{key}" if field else key
