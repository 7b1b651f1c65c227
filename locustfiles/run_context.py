"""What every shopper of one run shares: profile, adapter, shopper data, clock.

Built once per process from the parsed options: at ``init`` on the master
or local runner (so that bad input stops the run before any request), and at
``test_start`` on a worker, once the master's options have arrived. The
journey mix of the moment is a pure function of the profile and the time
since the run started, so workers need no message from the master to follow
the stages.
"""

from __future__ import annotations

import importlib
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from locustfiles.adapter import ShopAdapter, StubShopAdapter
from locustfiles.shoppers import ShopperData
from locustfiles.targets import check_target, normalise_hosts
from profiles import Profile, load_profile
from surgegate.errors import BadInput

__all__ = ["RunContext", "build_context", "adapter_class", "load_adapter", "ADAPTERS", "DEFAULT_THINK_S"]

ADAPTERS: dict[str, str] = {
    "stub": "locustfiles.adapter:StubShopAdapter",
    "example": "locustfiles.example_adapter:ExampleRestAdapter",
}
"""Adapters known by a short name; any other is given as ``module:Class``."""

DEFAULT_THINK_S = (1.0, 5.0)
"""Think time between steps when the profile sets none: a person reading a page."""


def adapter_class(spec: str) -> type[ShopAdapter]:
    """The adapter class named ``spec`` (a short name or ``module:Class``), not constructed (no secret needed).

    Raises:
        BadInput: unknown name, unimportable module, or not a ``ShopAdapter``.
    """
    target = ADAPTERS.get(spec, spec)
    module_name, _, class_name = target.partition(":")
    if not class_name:
        raise BadInput(f"--adapter: unknown adapter {spec!r}; use {', '.join(ADAPTERS)} or module:Class")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except Exception as exc:  # noqa: BLE001 - any failure of user code is the user's input
        raise BadInput(f"--adapter: cannot load {target!r}: {type(exc).__name__}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, ShopAdapter)):
        raise BadInput(f"--adapter: {target!r} is not a ShopAdapter subclass")
    return cls


def load_adapter(spec: str, allowed_hosts: frozenset[str], environ: Mapping[str, str] | None = None) -> ShopAdapter:
    """The adapter named ``spec`` (a short name or ``module:Class``), constructed.

    Raises:
        BadInput: unknown name, unimportable module, not a ``ShopAdapter``, or a
            missing secret environment variable.
    """
    cls = adapter_class(spec)
    target = ADAPTERS.get(spec, spec)
    kwargs: dict[str, Any] = {"allowed_hosts": allowed_hosts}
    if environ is not None:
        kwargs["environ"] = environ
    try:
        return cls(**kwargs)
    except BadInput:
        raise
    except Exception as exc:  # noqa: BLE001
        raise BadInput(f"--adapter: {target!r} failed to start: {type(exc).__name__}: {exc}") from None


@dataclass
class RunContext:
    """Shared by the shoppers of one process for one run."""

    profile: Profile
    adapter: ShopAdapter
    data: ShopperData
    host: str
    started_at: float = field(default_factory=time.monotonic)
    seed: int = 20240715
    scheduler: Any = None
    """Open model: this process's ``locustfiles.open_model.ArrivalScheduler`` once the run started."""
    _weights: tuple[float, float, tuple[list[str], list[int]]] | None = field(default=None, init=False, repr=False)
    """``journey_weights``' last answer, and the replay seconds ``[from, to)`` it holds for (its stage's)."""

    @property
    def think_s(self) -> tuple[float, float]:
        """The pause between steps: the profile's, or ``DEFAULT_THINK_S``."""
        think = self.profile.think_time_s
        return (think.min_s, think.max_s) if think is not None else DEFAULT_THINK_S

    def restart_clock(self) -> None:
        """The run starts now (called at ``test_start``)."""
        self.started_at = time.monotonic()

    def journey_weights(self) -> tuple[list[str], list[int]]:
        """The journeys and their weights in the stage running now (the last stage's after the end).

        Asked before every journey (with zero think time, every five requests
        or so): the stage is looked up and its lists made when the stage
        changes, not on every call (issue 10).
        """
        elapsed_s = time.monotonic() - self.started_at
        cached = self._weights
        if cached is not None and cached[0] <= elapsed_s < cached[1]:
            return cached[2]
        stage = self.profile.stage_at(min(max(0.0, elapsed_s), self.profile.total_s - 1e-6))
        if stage is None:
            stage = self.profile.stages[-1]
        names = [name for name in stage.mix if stage.mix[name] > 0]
        last = stage is self.profile.stages[-1]
        self._weights = (stage.start_s if stage.index else -math.inf, math.inf if last else stage.end_s,
                         (names, [stage.mix[name] for name in names]))
        return self._weights[2]

    def rng_for(self, index: int) -> random.Random:
        """A random generator of one shopper: same seed and index, same choices."""
        return random.Random(self.seed * 1_000_003 + index)


def build_context(options: Any, host: str | None, *, require_host: bool = True) -> RunContext:
    """The run's context from Locust's parsed options; ``BadInput`` for anything wrong.

    ``require_host=False`` accepts a missing host (the web UI asks for it in its form).
    """
    allowed = normalise_hosts(getattr(options, "allow_target", None) or [])
    target = check_target(host, allowed) if host or require_host else ""
    profile_arg = getattr(options, "surge_profile", None) or "july15"
    time_scale, multiplier = _number(options, "time_scale", None), _number(options, "peak_multiplier", 1.0)
    if time_scale is not None and not 0 < time_scale <= 1:
        raise BadInput(f"--time-scale: must be > 0 and <= 1 (0.1 = ten times faster than real time), got {time_scale:g}")
    if not 0 < multiplier <= 100:
        raise BadInput(f"--peak-multiplier: must be > 0 and <= 100, got {multiplier:g}")
    max_in_flight = _whole(options, "max_in_flight")
    try:
        profile = load_profile(profile_arg, time_scale=time_scale, peak_multiplier=multiplier,
                               max_in_flight=max_in_flight)
    except BadInput as exc:
        if max_in_flight is not None and "max_in_flight override" in str(exc):
            raise BadInput(f"--max-in-flight: only for open profiles (stages with arrival_rate); "
                           f"profile {profile_arg!r} gives users") from None
        message = str(exc)
        raise BadInput(message if message.startswith(("profiles/", profile_arg)) else f"--profile: {message}") from None
    adapter = load_adapter(getattr(options, "adapter", None) or "stub", allowed)
    return RunContext(profile=profile, adapter=adapter, data=ShopperData.generate(), host=target)


def _whole(options: Any, name: str) -> int | None:
    """An optional whole-number option >= 1 (None when not given)."""
    value = getattr(options, name, None)
    if value in (None, ""):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        raise BadInput(f"--{name.replace('_', '-')}: must be a whole number >= 1, got {value!r}") from None
    if number < 1:
        raise BadInput(f"--{name.replace('_', '-')}: must be a whole number >= 1, got {number}")
    return number


def _number(options: Any, name: str, default: float | None) -> float | None:
    value = getattr(options, name, None)
    if value in (None, ""):
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise BadInput(f"--{name.replace('_', '-')}: must be a number, got {value!r}") from None


_ = StubShopAdapter  # the default adapter, imported so that a typo in its module fails at import
