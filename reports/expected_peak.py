r"""The load a run's capacity is compared with: the July 15 peak, or ``--expected-peak``.

Grammar of ``--expected-peak`` (one measure; case and spaces as written below)::

    expected := NUMBER 'users'                       concurrent shoppers of the run's profile
              | NUMBER ('rps' | 'req/s') [ENDPOINT]  requests per second answered, of ENDPOINT
                                                     ('POST /checkout', or '/checkout' for any
                                                     method) or of every request without one
              | NUMBER ('arrivals/s' | 'arrivals')   shoppers arriving (journeys started) per
                                                     second: open-model runs, which record them
                                                     (a closed-model run is not comparable)

The July 15 peak (``JULY15_PEAK``), from ``profiles/july15.yaml`` alone: its peak stage holds 300
shoppers, mix browser 35 / abandoner 15 / buyer 15 / sniper 35, think time 1-5 s (mean 3 s); the
journeys (``locustfiles/journeys.py``) pause 3.5, 3, 4 and 2 times (snipers 50-300 ms, mean 0.175 s)
and wait 3 s (snipers 1 s) before the next, so with instant answers a cycle lasts::

    browser 13.5 s (4.5 requests)   abandoner 12 s (5)   buyer 15 s (6, 1 checkout)   sniper 1.35 s (4, 1 checkout)
    mean cycle = 0.35 x 13.5 + 0.15 x 12 + 0.15 x 15 + 0.35 x 1.35 = 9.2475 s, 0.5 checkouts, 4.625 requests
    300 shoppers x 0.5 / 9.2475 s = 16.2 checkouts/s (and 150 requests/s)

In arrivals (journeys started per second, the open model): 300 / 9.2475 s = 32.4/s, which
``profiles/july15-open.yaml`` rounds to 32/s at its peak.

That is what the profile offers a shop that answers instantly: the most it can offer, so headroom
against it is never flattering. Measured against the stub's ``fixed`` preset (2026-11-25, 2-core
machine, the whole 138 s peak stage): 15.2 checkouts/s and 147 requests/s, answers taking time.
Users compare only runs of the same profile (300 users of ``step``, 70% browsers, offer ~2.3
checkouts/s); requests per second of checkout compare any run against the same shop.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from surgegate.errors import BadInput

__all__ = ["ExpectedPeak", "Measure", "JULY15_PEAK", "parse_expected_peak", "check_expected_peak"]

_GRAMMAR = ("must be 'N users', 'N rps [ENDPOINT]' or 'N arrivals/s' (e.g. '300 users', '20 rps POST /checkout', "
            "'32 arrivals/s')")
_PATTERN = re.compile(r"\s*(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>users|rps|req/s|arrivals/s|arrivals)"
                      r"(?:\s+(?P<endpoint>\S.*?))?\s*")


@dataclass(frozen=True)
class Measure:
    """One way to size load: ``users``, ``rps`` of an endpoint (None: of every request), or ``arrivals``
    (journeys started per second, open model)."""

    unit: str
    value: float
    endpoint: str | None = None

    @property
    def text(self) -> str:
        """``300 users``, ``16.2 req/s of POST /checkout``, ``150 req/s``."""
        if self.unit == "users":
            return f"{self.value:g} users"
        if self.unit == "arrivals":
            return f"{self.value:g} arrivals/s"
        return f"{self.value:g} req/s" + (f" of {self.endpoint}" if self.endpoint else "")


@dataclass(frozen=True)
class ExpectedPeak:
    """The peak a run is compared with: its name, its measures (the first is the headline) and their origin."""

    name: str
    measures: tuple[Measure, ...]
    profile: str | None = None
    """A ``users`` measure counts shoppers of this profile only (None: of any profile, the user said so)."""
    source: str = ""

    def to_json(self) -> dict:
        """The expected peak for ``verdict.json``."""
        return {"name": self.name, "profile": self.profile, "source": self.source,
                "measures": [{"unit": m.unit, "value": m.value, "endpoint": m.endpoint, "text": m.text}
                             for m in self.measures]}


JULY15_PEAK = ExpectedPeak(
    name="the July 15 peak",
    measures=(Measure("rps", 16.2, "POST /checkout"), Measure("users", 300.0), Measure("arrivals", 32.4)),
    profile="july15",
    source="profiles/july15.yaml's peak stage with instant answers: 300 shoppers x 0.5 checkouts per "
           "9.25 s journey cycle, 32.4 journeys/s (reports/expected_peak.py); measured against the fixed stub: 15.2/s")


def parse_expected_peak(text: str) -> ExpectedPeak:
    """``--expected-peak``'s value as an ``ExpectedPeak`` (grammar in the module docstring).

    Raises:
        BadInput: ``--expected-peak: must be 'N users' or 'N rps [ENDPOINT]' (...), got 'lots'``.
    """
    found = _PATTERN.fullmatch(text)
    if found is None:
        raise BadInput(f"--expected-peak: {_GRAMMAR}, got {text!r}")
    value = float(found["value"])
    if value <= 0:
        raise BadInput(f"--expected-peak: the number must be > 0, got {text!r}")
    unit = {"users": "users", "arrivals/s": "arrivals", "arrivals": "arrivals"}.get(found["unit"], "rps")
    endpoint = found["endpoint"]
    if unit in ("users", "arrivals") and endpoint:
        raise BadInput(f"--expected-peak: {unit} are counted for the whole run, not per endpoint, got {text!r}")
    if endpoint and not re.fullmatch(r"(?:[A-Z]+ )?/\S*", endpoint):
        raise BadInput(f"--expected-peak: the endpoint must be '[METHOD] /name' as the run names it "
                       f"('POST /checkout'), got {endpoint!r}")
    return ExpectedPeak("the expected peak", (Measure(unit, value, endpoint),), None, f"--expected-peak {text}")


def check_expected_peak(expected: ExpectedPeak, endpoints: Sequence[str]) -> None:
    """Every endpoint the peak names is one of the run's (``METHOD name``, or a name under any method).

    Raises:
        BadInput: ``--expected-peak: no endpoint 'POST /chekout' in the run, did you mean 'POST /checkout'?``.
    """
    names = {e.split(" ", 1)[1] for e in endpoints}
    for measure in expected.measures:
        if measure.endpoint is None or measure.endpoint in endpoints or measure.endpoint in names:
            continue
        close = difflib.get_close_matches(measure.endpoint, list(endpoints), n=1)
        hint = f", did you mean {close[0]!r}?" if close else f" (it has: {', '.join(endpoints) or 'none'})"
        raise BadInput(f"{expected.source}: no endpoint {measure.endpoint!r} in the run{hint}")
