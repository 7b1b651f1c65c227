"""Check a profile's YAML data field by field and build the frozen ``Profile``.

Every error is one ``BadInput`` line: ``<source>: <field path>: <rule>, got <value>``,
with the field path as in JSON (``stages[2].users``, 0-based as in the file),
for example ``profiles/spike.yaml: stages[2].users: must be >= 0, got -5``.
Only the first problem is reported, in schema order (the order of the
``profiles`` docstring, stages one by one). In each mapping, unknown keys are
checked first, because a typo (``uesrs``) better explains a missing key than
"users is missing" does.

Field rules live here; the rules that need the whole effective plan (the
ramp rule, one peak, unique names) live in ``profiles._build``.

A profile is *closed* (every stage gives ``users`` and ``spawn_rate``) or
*open* (every stage gives ``arrival_rate``); a stage of the other kind is an
error at its first field that gives it away (``stages[3].arrival_rate: ...``),
and so are the open-only top-level keys (``arrivals``, ``seed``,
``max_in_flight``) in a closed profile.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from profiles._durations import parse_duration
from profiles._model import JOURNEYS, Mix, ThinkTime
from surgegate.errors import BadInput

__all__ = ["RawStage", "Fields", "show", "ARRIVALS", "MAX_ARRIVAL_RATE"]

_TOP_KEYS = ("name", "description", "time_scale", "mix", "think_time_s", "arrivals", "seed", "max_in_flight",
             "stages")
_OPEN_TOP_KEYS = ("arrivals", "seed", "max_in_flight")
_STAGE_KEYS = ("name", "duration", "users", "spawn_rate", "arrival_rate", "mix", "peak")
_CLOSED_STAGE_KEYS = ("users", "spawn_rate")
ARRIVALS = ("poisson", "uniform")
"""How an open profile's arrivals are spread inside a stage (see ``profiles.schedule``)."""
MAX_ARRIVAL_RATE = 100_000.0
"""Journeys per second a file may ask of one stage: far beyond one load generator, so 1e9 is a typo, not a test."""
_THINK_KEYS = ("min", "max")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def show(value: object) -> str:
    """Render a value from the file the way YAML spells it, cut to 60 characters."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class RawStage:
    """A stage with each field checked, before time_scale and peak_multiplier.

    ``mix`` is None when the stage inherits the profile's.
    """

    name: str
    real_duration_s: float
    users: int | None
    """None in an open stage."""
    spawn_rate: float | None
    """None in an open stage."""
    arrival_rate: float | None
    """Journeys started per second; None in a closed stage."""
    mix: Mix | None
    peak: bool

    @property
    def is_open(self) -> bool:
        """Whether the stage gives an arrival rate rather than users."""
        return self.arrival_rate is not None


class Fields:
    """Field checks bound to one source file, so every error starts with it."""

    def __init__(self, source: str) -> None:
        """Remember *source*, the file as the user gave it."""
        self.source = source

    def fail(self, field: str, rule: str, value: object = ...) -> NoReturn:
        """Raise the one-line ``BadInput`` for *field*; ``...`` means no ``got`` part."""
        got = "" if value is ... else f", got {show(value)}"
        raise BadInput(f"{self.source}: {field or '(top level)'}: {rule}{got}")

    def mapping(
        self, field: str, value: object, allowed: tuple[str, ...], required: tuple[str, ...]
    ) -> Mapping[str, Any]:
        """Check *value* is a mapping with only *allowed* keys and every *required* one."""
        if not isinstance(value, Mapping):
            self.fail(field, "must be a mapping", value)
        for key in value:
            if key not in allowed:
                self.fail(_join(field, key), "unknown key" + _hint(key, allowed, "expected one of"))
        for key in required:
            if key not in value:
                self.fail(_join(field, key), "required key is missing")
        return value

    def name(self, field: str, value: object) -> str:
        """A name SLOs and reports can quote: letters, digits, '-' and '_'."""
        if not isinstance(value, str) or not _NAME.fullmatch(value):
            self.fail(field, "must be letters, digits, '-' or '_', starting with a letter or digit", value)
        return value

    def integer(self, field: str, value: object, *, minimum: int) -> int:
        """A whole number >= *minimum* (``40.0`` and ``'40'`` are refused)."""
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(field, "must be a whole number", value)
        if value < minimum:
            self.fail(field, f"must be >= {minimum}", value)
        return value

    def positive(self, field: str, value: object, *, maximum: float | None = None) -> float:
        """A finite number > 0, and <= *maximum* when given."""
        rule = "must be > 0" if maximum is None else f"must be > 0 and <= {maximum:g}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(field, "must be a number", value)
        if not math.isfinite(value) or value <= 0 or (maximum is not None and value > maximum):
            self.fail(field, rule, value)
        return float(value)

    def duration(self, field: str, value: object) -> float:
        """A duration in the ``_durations`` grammar, in seconds."""
        try:
            return parse_duration(value)  # type: ignore[arg-type]  # parse_duration checks the type
        except ValueError as error:
            self.fail(field, str(error))

    def mix(self, field: str, value: object) -> Mix:
        """Journey weights: keys from ``JOURNEYS``, whole numbers >= 0, at least one > 0."""
        if not isinstance(value, Mapping):
            self.fail(field, "must be a mapping of journey to weight", value)
        for key in value:
            if key not in JOURNEYS:
                self.fail(_join(field, key), "unknown journey" + _hint(key, JOURNEYS, "journeys are"))
        weights = {key: self.integer(_join(field, key), weight, minimum=0) for key, weight in value.items()}
        if not any(weights.values()):
            self.fail(field, "needs at least one weight > 0", value)
        return Mix(**weights)

    def think_time(self, field: str, value: object) -> ThinkTime:
        """``{min, max}`` seconds, 0 <= min <= max."""
        fields = self.mapping(field, value, _THINK_KEYS, _THINK_KEYS)
        low, high = (self.non_negative(_join(field, key), fields[key]) for key in _THINK_KEYS)
        if high < low:
            self.fail(_join(field, "max"), f"must be >= min ({low:g})", fields["max"])
        return ThinkTime(min_s=low, max_s=high)

    def non_negative(self, field: str, value: object) -> float:
        """A finite number >= 0."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.fail(field, "must be a number", value)
        if value < 0:
            self.fail(field, "must be >= 0", value)
        return float(value)

    def stage(self, field: str, value: object) -> RawStage:
        """One entry of ``stages``: closed (``users``, ``spawn_rate``) or open (``arrival_rate``)."""
        is_open = isinstance(value, Mapping) and "arrival_rate" in value
        required = ("name", "duration", "arrival_rate") if is_open else ("name", "duration", *_CLOSED_STAGE_KEYS)
        fields = self.mapping(field, value, _STAGE_KEYS, required)
        if is_open:
            for key in _CLOSED_STAGE_KEYS:
                if key in fields:
                    self.fail(_join(field, key), "a stage gives arrival_rate (open model) or users and spawn_rate"
                              " (closed model), not both", fields[key])
        name = self.name(_join(field, "name"), fields["name"])
        real_duration_s = self.duration(_join(field, "duration"), fields["duration"])
        users = spawn_rate = arrival_rate = None
        if is_open:
            arrival_rate = self.non_negative(_join(field, "arrival_rate"), fields["arrival_rate"])
            if arrival_rate > MAX_ARRIVAL_RATE:
                self.fail(_join(field, "arrival_rate"), f"must be <= {MAX_ARRIVAL_RATE:g} journeys/s", arrival_rate)
        else:
            users = self.integer(_join(field, "users"), fields["users"], minimum=0)
            spawn_rate = self.positive(_join(field, "spawn_rate"), fields["spawn_rate"])
        mix = self.mix(_join(field, "mix"), fields["mix"]) if "mix" in fields else None
        peak = fields.get("peak", False)
        if not isinstance(peak, bool):
            self.fail(_join(field, "peak"), "must be true or false", peak)
        return RawStage(name, real_duration_s, users, spawn_rate, arrival_rate, mix, peak)

    def same_model(self, stages: list[RawStage], documents: list[Any]) -> bool:
        """Check every stage is of the first one's model; return whether the profile is open."""
        first = stages[0]
        first_says = "arrival_rate" if first.is_open else "users"
        for index, stage in enumerate(stages[1:], 1):
            if stage.is_open != first.is_open:
                key = "arrival_rate" if stage.is_open else next(k for k in _CLOSED_STAGE_KEYS if k in documents[index])
                self.fail(f"stages[{index}].{key}", "a profile is all closed (users, spawn_rate) or all open"
                          f" (arrival_rate), and stages[0] gives {first_says}")
        return first.is_open

    def open_options(self, fields: Mapping[str, Any], is_open: bool) -> dict[str, Any]:
        """``arrivals``, ``seed`` and ``max_in_flight``: checked in an open profile, refused in a closed one."""
        if not is_open:
            for key in _OPEN_TOP_KEYS:
                if key in fields:
                    self.fail(key, "only for open profiles (stages with arrival_rate); this one's stages give users",
                              fields[key])
            return {"arrivals": None, "seed": None, "max_in_flight": None}
        arrivals = fields.get("arrivals", ARRIVALS[0])
        if arrivals not in ARRIVALS:
            self.fail("arrivals", f"must be one of {', '.join(ARRIVALS)}", arrivals)
        seed = self.integer("seed", fields["seed"], minimum=0) if "seed" in fields else None
        max_in_flight = self.integer("max_in_flight", fields["max_in_flight"], minimum=1) \
            if "max_in_flight" in fields else None
        return {"arrivals": arrivals, "seed": seed, "max_in_flight": max_in_flight}

    def top(self, value: object) -> dict[str, Any]:
        """The whole document: checked fields by key, stages as ``RawStage``s."""
        if value is None:
            self.fail("", "the file is empty; a profile needs at least name, mix and stages")
        fields = self.mapping("", value, _TOP_KEYS, ("name", "mix", "stages"))
        name = self.name("name", fields["name"])
        description = fields.get("description", "")
        if not isinstance(description, str):
            self.fail("description", "must be text", description)
        time_scale = self.positive("time_scale", fields.get("time_scale", 1.0), maximum=1.0)
        mix = self.mix("mix", fields["mix"])
        think_time = self.think_time("think_time_s", fields["think_time_s"]) if "think_time_s" in fields else None
        stages = fields["stages"]
        if not isinstance(stages, list) or not stages:
            self.fail("stages", "must list at least one stage", stages)
        checked = [self.stage(f"stages[{index}]", stage) for index, stage in enumerate(stages)]
        is_open = self.same_model(checked, stages)
        return {
            "name": name,
            "description": description.strip(),
            "time_scale": time_scale,
            "mix": mix,
            "think_time_s": think_time,
            **self.open_options(fields, is_open),
            "stages": checked,
        }


def _join(field: str, key: object) -> str:
    """Extend a JSON-like field path with a mapping key."""
    key = str(key) if len(str(key)) <= 40 else str(key)[:40] + "..."  # never echo a whole line of a wrong file
    return f"{field}.{key}" if field else key


def _hint(key: object, options: tuple[str, ...], listing: str) -> str:
    """``, did you mean 'users'?`` when a close option exists, else the list of options."""
    close = difflib.get_close_matches(str(key), options, n=1)
    if close:
        return f", did you mean {close[0]!r}?"
    return f"; {listing}: {', '.join(sorted(options))}"
