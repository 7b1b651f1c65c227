"""Text from a run made safe to show: endpoint names, error texts and SLO names come from outside.

An adapter names requests, a shop writes error bodies, a user writes SLO names: any of
them may hold control characters (a terminal escape ``\\x1b[2J``, a NUL), characters XML
1.0 cannot carry at all (``\\x00``-``\\x08``, lone surrogates), bidirectional overrides that
make text read differently from what it is (U+202E), or simply 10 kB of it. Every
renderer passes such text through here first; each then escapes its own syntax
(XML entities, Markdown table pipes, nothing more for JSON, whose encoder escapes all).

``visible`` turns each unsafe character into a readable escape (``\\x1b``, ``\\u202e``),
so what was there stays visible and nothing is silently dropped.
"""

from __future__ import annotations

import re

__all__ = ["visible", "MAX_LABEL"]

MAX_LABEL = 200
"""Characters of a name or message shown in a table cell, a test name or a console line."""

_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]")
_UNSAFE_ONE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]")


def _escape(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: object, limit: int | None = MAX_LABEL, *, multiline: bool = False) -> str:
    """``text`` cut to ``limit`` characters (``...`` marks a cut), then its unsafe characters escaped.

    Args:
        text: anything; ``str()`` of it is used.
        limit: the longest result, or None for no limit.
        multiline: keep tab, newline and carriage return (for bodies); otherwise they are escaped
            too, so the result is one line.
    """
    raw = str(text)
    cut = limit is not None and len(raw) > limit
    if cut:
        raw = raw[: max(0, limit - 3)]
    safe = (_UNSAFE if multiline else _UNSAFE_ONE_LINE).sub(_escape, raw)
    if cut:
        safe += "..."
    return safe
