r"""From requests to journeys: which funnel step a URL is, and which journey mix explains the steps.

Steps. An adapter's ``url_patterns`` maps each step (``STEPS``) to a regular
expression searched in the request target as logged, path and query string
(``/products?page=2``); steps are tried in the order the adapter lists them
and the first match wins, so a pattern that needs the query string (the
example adapter's search) can come before a broader one. A request that
matches no step (``/metrics``, ``/favicon.ico``) is counted as unmatched and
left out of both the mix and the arrival rate.

Journey starts. Every journey of ``locustfiles/journeys.py`` makes exactly one
request to an entry step (``ENTRY_STEPS``): ``browser``, ``abandoner`` and
``buyer`` open with one catalogue page, ``sniper`` with one look at the sale.
So a journey start is a request to an entry step, and the log's entry-step
requests per second are the arrival rate that replays the same entry traffic.
(No session stitching by client IP: behind a NAT or a CDN one IP is many
shoppers, and the replay's journeys are short visits, not whole sessions.)

The mix: non-negative least squares. ``JOURNEY_STEPS`` is the expected
number of requests each journey makes to each step (from journeys.py; a test
plays the real journeys to keep it true). With ``A`` that 6 x 4 matrix and
``c`` the log's requests per step, the fit is the journey counts ``n >= 0``
that minimise ``|A n - c|^2``, solved exactly by trying every subset of
journeys (15 least-squares problems of at most 4 unknowns) and keeping the
best one whose solution is non-negative. The mix is ``n`` in whole percent
(largest remainders, so the weights add up to 100).

Worked example: 100 browse, 40 search, 160 product, 20 sale, 220 cart and
40 checkout requests are fitted exactly by 40 browsers, 40 abandoners,
20 buyers and 20 snipers (product: 40 x 2.5 + 40 + 20 = 160; cart:
40 x 3 + 20 x 3 + 20 x 2 = 220), a mix of 33/33/17/17 percent.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from profiles._model import JOURNEYS
from surgegate.errors import BadInput

__all__ = ["STEPS", "ENTRY_STEPS", "JOURNEY_STEPS", "StepMatcher", "MixFit", "fit_mix", "whole_percent"]

STEPS: tuple[str, ...] = ("browse", "search", "product", "sale", "cart", "checkout")
"""Funnel steps, as adapters name them in ``url_patterns``."""

ENTRY_STEPS: tuple[str, ...] = ("browse", "sale")
"""The steps a journey opens with, once each: one such request is one journey start."""

JOURNEY_STEPS: Mapping[str, Mapping[str, float]] = {
    "browser": {"browse": 1, "search": 1, "product": 2.5},  # 2 or 3 products, evenly
    "abandoner": {"browse": 1, "product": 1, "cart": 3},  # new cart, add, view
    "buyer": {"browse": 1, "product": 1, "cart": 3, "checkout": 1},
    "sniper": {"sale": 1, "cart": 2, "checkout": 1},  # new cart, add
}
"""Expected requests per journey and step, when every step succeeds."""


class StepMatcher:
    """An adapter's ``url_patterns``, compiled and checked; ``step_of(target)`` names the step."""

    def __init__(self, patterns: Mapping[str, str], source: str) -> None:
        """Compile *patterns*; *source* (``--adapter stub``) starts every error.

        Raises:
            BadInput: an unknown step, a pattern that is not a valid regular expression,
                or no entry step at all (nothing could count as a journey start).
        """
        self._compiled: list[tuple[str, re.Pattern[str]]] = []
        for step, pattern in patterns.items():
            if step not in STEPS:
                raise BadInput(f"{source}: url_patterns: unknown step {step!r}; steps are {', '.join(STEPS)}")
            try:
                self._compiled.append((step, re.compile(pattern)))
            except (re.error, TypeError) as error:
                raise BadInput(f"{source}: url_patterns.{step}: not a regular expression ({error}), "
                               f"got {pattern!r}") from None
        if not any(step in patterns for step in ENTRY_STEPS):
            raise BadInput(f"{source}: url_patterns: needs an entry step ({' or '.join(ENTRY_STEPS)}), "
                           f"got {', '.join(patterns) or 'none'}")

    def step_of(self, target: str) -> str | None:
        """The first step whose pattern is found in *target*, or None."""
        for step, pattern in self._compiled:
            if pattern.search(target):
                return step
        return None


@dataclass(frozen=True)
class MixFit:
    """The fitted journey counts, and the step counts they predict (to show how good the fit is)."""

    journeys: Mapping[str, float]
    predicted: Mapping[str, float]

    @property
    def weights(self) -> dict[str, int]:
        """The mix in whole percent, adding up to 100."""
        return whole_percent(self.journeys)


def fit_mix(step_counts: Mapping[str, int]) -> MixFit:
    """The journey counts ``n >= 0`` whose expected step counts best match *step_counts* (least squares).

    Raises:
        ValueError: no step has a request (nothing to fit).
    """
    if not any(step_counts.get(step, 0) for step in STEPS):
        raise ValueError("no request to a funnel step")
    matrix = np.array([[JOURNEY_STEPS[journey].get(step, 0.0) for journey in JOURNEYS] for step in STEPS])
    counts = np.array([float(step_counts.get(step, 0)) for step in STEPS])
    best, best_residual = np.zeros(len(JOURNEYS)), float(counts @ counts)
    for size in range(1, len(JOURNEYS) + 1):
        for subset in itertools.combinations(range(len(JOURNEYS)), size):
            solution, *_ = np.linalg.lstsq(matrix[:, subset], counts, rcond=None)
            if (solution < -1e-9).any():
                continue
            full = np.zeros(len(JOURNEYS))
            full[list(subset)] = np.clip(solution, 0, None)
            residual = float(np.sum((matrix @ full - counts) ** 2))
            if residual < best_residual - 1e-9:
                best, best_residual = full, residual
    predicted = matrix @ best
    return MixFit(journeys={journey: float(best[i]) for i, journey in enumerate(JOURNEYS)},
                  predicted={step: float(predicted[i]) for i, step in enumerate(STEPS)})


def whole_percent(amounts: Mapping[str, float]) -> dict[str, int]:
    """*amounts* as whole percentages adding up to 100, by largest remainder (ties: first listed)."""
    total = sum(amounts.values())
    if total <= 0:
        raise ValueError("nothing to share out")
    exact = {key: 100 * value / total for key, value in amounts.items()}
    shares = {key: int(value) for key, value in exact.items()}
    order = sorted(exact, key=lambda key: -(exact[key] - shares[key]))
    for key in order[: 100 - sum(shares.values())]:
        shares[key] += 1
    return shares
