"""The stub's knobs, its presets, and their validation.

A preset (``presets.yaml`` beside this module) gives every knob; any knob can
be overridden on the command line. Both go through the same checks, so a bad
value is reported the same way wherever it came from::

    --pool-size: must be >= 1, got -5
    target_stub/presets.yaml: incident.pool_siez: unknown knob (did you mean 'pool_size'?)
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from surgegate.errors import BadInput
from surgegate.yaml_file import read_yaml

__all__ = ["KNOBS", "Knob", "StubConfig", "PRESETS_PATH", "load_presets", "build_config"]

PRESETS_PATH = Path(__file__).with_name("presets.yaml")


@dataclass(frozen=True)
class Knob:
    """One tunable of the stub: its type, lower bound and meaning."""

    name: str
    type: type
    minimum: float
    maximum: float
    help: str
    exclusive_minimum: bool = False

    @property
    def option(self) -> str:
        """The command-line option, e.g. ``--pool-size``."""
        return "--" + self.name.replace("_", "-")


KNOBS: tuple[Knob, ...] = (
    Knob("pool_size", int, 1, 10_000, "database connections kept in the pool"),
    Knob("max_overflow", int, 0, 10_000, "extra connections the pool may open above pool_size"),
    Knob("pool_timeout_s", float, 0, 3600, "seconds a request waits for a connection before a pool timeout",
         exclusive_minimum=True),
    Knob("queries_per_checkout", int, 4, 10_000, "queries one checkout runs on its connection (>= 1 read + 3 writes)"),
    Knob("query_time_ms", float, 0, 60_000, "milliseconds each read query keeps its connection busy"),
    Knob("app_workers", int, 1, 10_000, "the app's worker threads (requests that need the database run on them)"),
    Knob("payment_latency_ms", float, 0, 60_000, "added latency of the payment provider on every checkout"),
    Knob("gateway_timeout_s", float, 0, 3600, "the gateway's upstream read timeout; past it, the gateway answers 504",
         exclusive_minimum=True),
    Knob("rate_limit_checkout_rps", float, 0, 1_000_000, "token-bucket rate limit on checkout at the gateway (0 = off)"),
    Knob("rate_limit_checkout_burst", int, 0, 1_000_000, "bucket size of the checkout rate limit"),
)
_KNOB_BY_NAME = {k.name: k for k in KNOBS}


@dataclass(frozen=True)
class StubConfig:
    """Everything the stub's processes need, validated.

    Frozen: past ``build_config`` the values are trusted as they are.
    """

    preset: str
    pool_size: int
    max_overflow: int
    pool_timeout_s: float
    queries_per_checkout: int
    query_time_ms: float
    app_workers: int
    payment_latency_ms: float
    gateway_timeout_s: float
    rate_limit_checkout_rps: float
    rate_limit_checkout_burst: int
    db_url: str
    catalogue_size: int = 3000
    seed: int = 20240715

    def to_json_dict(self) -> dict[str, Any]:
        """The config as plain data, to hand to the app process."""
        return dataclasses.asdict(self)

    @property
    def rate_limited(self) -> bool:
        """Whether the gateway rate-limits checkout."""
        return self.rate_limit_checkout_rps > 0


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_knob(knob: Knob, value: Any, where: str) -> int | float:
    """Return ``value`` as the knob's type, or raise ``BadInput`` naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadInput(f"{where}: must be a number, got {value!r}")
    try:
        number = knob.type(value) if knob.type is float else _as_int(value)
    except ValueError:
        kind = "an integer" if knob.type is int else "a number"
        raise BadInput(f"{where}: must be {kind}, got {value!r}") from None
    if knob.type is float and not math.isfinite(number):
        raise BadInput(f"{where}: must be a finite number, got {value!r}")
    if knob.exclusive_minimum and not number > knob.minimum:
        raise BadInput(f"{where}: must be > {knob.minimum:g}, got {value}")
    if not number >= knob.minimum:
        raise BadInput(f"{where}: must be >= {knob.minimum:g}, got {value}")
    if number > knob.maximum:
        raise BadInput(f"{where}: must be <= {knob.maximum:g}, got {value}")
    return number


def _as_int(value: int | float | str) -> int:
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(value)
        return int(value)
    return int(value)


def load_presets(path: Path = PRESETS_PATH) -> dict[str, dict[str, int | float]]:
    """Read and check the presets file: every preset gives every knob, validly."""
    raw = read_yaml(path, str(path))
    if not isinstance(raw, dict) or not raw:
        raise BadInput(f"{path}: must map preset names to knobs")
    presets: dict[str, dict[str, int | float]] = {}
    for name, knobs in raw.items():
        if not isinstance(knobs, dict):
            raise BadInput(f"{path}: {name}: must map knob names to values, got {knobs!r}")
        checked: dict[str, int | float] = {}
        for key, value in knobs.items():
            knob = _KNOB_BY_NAME.get(key)
            if knob is None:
                raise BadInput(f"{path}: {name}.{key}: unknown knob{_did_you_mean(str(key), list(_KNOB_BY_NAME))}")
            checked[key] = check_knob(knob, value, f"{path}: {name}.{key}")
        missing = [k for k in _KNOB_BY_NAME if k not in checked]
        if missing:
            raise BadInput(f"{path}: {name}: missing knobs: {', '.join(missing)}")
        presets[name] = checked
    return presets


def build_config(
    preset: str,
    overrides: dict[str, Any],
    db_url: str,
    *,
    catalogue_size: int = 3000,
    presets_path: Path = PRESETS_PATH,
) -> StubConfig:
    """The preset with the command line's overrides applied, checked.

    Args:
        preset: a preset name from the presets file.
        overrides: knob name -> value given on the command line (``None`` = not given).
        db_url: the SQLAlchemy URL of the database.
        catalogue_size: products generated at start.
        presets_path: the presets file.

    Raises:
        BadInput: unknown preset, or a knob out of range.
    """
    presets = load_presets(presets_path)
    if preset not in presets:
        raise BadInput(
            f"--preset: unknown preset {preset!r}{_did_you_mean(preset, list(presets))}; "
            f"choose from: {', '.join(presets)}"
        )
    values = dict(presets[preset])
    for name, value in overrides.items():
        if value is not None:
            knob = _KNOB_BY_NAME[name]
            values[name] = check_knob(knob, value, knob.option)
    if values["rate_limit_checkout_rps"] > 0 and values["rate_limit_checkout_burst"] < 1:
        raise BadInput("--rate-limit-checkout-burst: must be >= 1 when the checkout rate limit is on, "
                       f"got {values['rate_limit_checkout_burst']}")
    if catalogue_size < 10:
        raise BadInput(f"--catalogue-size: must be >= 10, got {catalogue_size}")
    return StubConfig(preset=preset, db_url=db_url, catalogue_size=catalogue_size, **values)
