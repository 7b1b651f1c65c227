"""Durations as people write them in profiles: ``90s``, ``5m``, ``1h30m``, or seconds.

Grammar (units in this order, each at most once, at least one present)::

    duration := number                       # plain seconds: 90, 2.5
              | [number "h"] [number "m"] [number "s"]
    number   := digits ["." digits]

So ``1h30m`` is 5400 s, ``2m30s`` is 150 s and ``0.5s`` is 0.5 s.
``1m30`` (no unit on the last part), ``5 min`` and ``-5s`` are rejected
rather than guessed at: a profile replays a timeline, and a minute read
as a second would quietly compress it 60 times.
"""

from __future__ import annotations

import math
import re

__all__ = ["parse_duration", "DURATION_RULE"]

DURATION_RULE = "must be a duration like '90s', '5m', '1h30m' or a number of seconds"
"""The rule quoted in errors, so callers can name the field in front of it."""

_NUMBER = r"\d+(?:\.\d+)?"
_PATTERN = re.compile(rf"(?:(?P<h>{_NUMBER})h)?(?:(?P<m>{_NUMBER})m)?(?:(?P<s>{_NUMBER})s)?")
_SECONDS_PER_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(value: str | int | float) -> float:
    """Return the number of seconds *value* stands for.

    Args:
        value: ``'90s'``, ``'5m'``, ``'1h30m'``, ``'90'`` or a number of seconds
            (``90``, ``2.5``). Booleans are refused even though Python counts them
            as integers: YAML reads ``yes`` as ``True``.

    Returns:
        The duration in seconds, always > 0 and finite.

    Raises:
        ValueError: the text is not a duration or the duration is not > 0. The
            message is the rule and the value (``must be ... , got '5 min'``),
            without a field name, so the caller can put its own in front.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"{DURATION_RULE}, got {value!r}")
    if isinstance(value, str):
        seconds = _parse_text(value)
    else:
        seconds = float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"must be > 0, got {value!r}")
    return seconds


def _parse_text(text: str) -> float:
    """Parse the string form; see the module docstring for the grammar."""
    stripped = text.strip()
    if re.fullmatch(_NUMBER, stripped):
        return float(stripped)
    match = _PATTERN.fullmatch(stripped)
    if not stripped or match is None:
        raise ValueError(f"{DURATION_RULE}, got {text!r}")
    return sum(
        float(amount) * _SECONDS_PER_UNIT[unit]
        for unit, amount in match.groupdict().items()
        if amount is not None
    )
