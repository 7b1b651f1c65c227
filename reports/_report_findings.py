"""The report's capacity and root-cause sections, from the findings' ``to_json()`` (as verdict.json shows them).

``capacity_section(document)`` and ``diagnosis_section(document)`` turn ``reports.capacity.Capacity`` and
``reports.diagnosis.Diagnosis`` documents into rows of safe text for ``templates/report.html.j2``.
They read the documents with ``.get`` and defaults, so a field added or missing later changes a cell,
never breaks the page; every text goes through ``safe_text.visible`` (autoescape does the rest).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reports.objectives import format_value
from reports.safe_text import visible

__all__ = ["capacity_section", "diagnosis_section", "CONFIDENCE_LABELS"]

CONFIDENCE_LABELS = {"high": "high", "medium": "medium", "low": "low", "not_indicated": "not indicated",
                     "no_data": "not measured"}
_LONG = 1000


def _t(value: Any, limit: int = _LONG) -> str:
    return "" if value is None else visible(value, limit)


def _number(value: Any, unit: str) -> str:
    return format_value(float(value), unit) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else "-"


def _ratio(value: Any) -> str:
    return f"{value:.2f}x" if isinstance(value, (int, float)) and not isinstance(value, bool) else "-"


def _sentences(value: Any) -> list[str]:
    return [_t(value)] if isinstance(value, str) else [_t(v) for v in value or [] if v]


def _against(headroom: Mapping) -> str:
    """What the run is measured against: ``16.2 req/s of POST /checkout``, ``300 users``, ``32.4 arrivals/s``."""
    expected, unit = headroom.get("expected"), headroom.get("unit")
    if not isinstance(expected, (int, float)) or isinstance(expected, bool):
        return _t(unit)
    if unit == "rps":
        return _t(f"{expected:g} req/s" + (f" of {headroom['endpoint']}" if headroom.get("endpoint") else ""))
    if unit == "arrivals":
        return _t(f"{expected:g} arrivals/s")
    return _t(f"{expected:g} {unit}")


def capacity_section(document: Mapping | None) -> dict[str, Any] | None:
    """Summary sentences, the headroom against the expected peak, and the load levels; None without a document."""
    if not document:
        return None
    expected = document.get("expected_peak") or {}
    headroom = [{"against": _against(h), "held": _ratio(h.get("held_ratio")), "reached": _ratio(h.get("reached_ratio")),
                 "broke": _ratio(h.get("broke_ratio")), "outcome": _t(str(h.get("outcome", "")).replace("_", " ")),
                 "text": _t(h.get("text"))}
                for h in document.get("headroom") or [] if isinstance(h, Mapping)]
    levels = [{"name": _t(lv.get("name"), 200), "stage": _t(lv.get("stage"), 200),
               "span": f"{lv.get('first_s', '-')}\u2013{lv.get('stop_s', '-')} s", "users": _t(lv.get("users") if lv.get("arrival_rate") is None
                                                                     else f"{lv['arrival_rate']:g}"),
               "rps": _number(lv.get("requests_per_s"), "req/s"), "ok": _number(lv.get("ok_per_s"), "req/s"),
               "errors": _number(lv.get("error_rate_pct"), "%"), "p95": _number(lv.get("p95_ms"), "ms"),
               "status": _t(str(lv.get("status", "")).replace("_", " ")) +
               (" (after the failure)" if lv.get("after_failure") else ""),
               "failed": _t(", ".join(str(name) for name in lv.get("failed") or []))}
              for lv in document.get("levels") or [] if isinstance(lv, Mapping)]
    return {"summary": _sentences(document.get("summary")), "headroom": headroom, "levels": levels,
            "expected": _t(expected.get("name")), "expected_source": _t(expected.get("source"))}


def diagnosis_section(document: Mapping | None) -> dict[str, Any] | None:
    """The summary, the suspects ranked, what failed and what stayed healthy, the metrics used; None without one."""
    if not document:
        return None
    symptoms = document.get("symptoms") or {}
    suspects = [{"name": _t(s.get("name"), 200),
                 "confidence": s.get("confidence") if s.get("confidence") in CONFIDENCE_LABELS else "other",
                 "confidence_text": CONFIDENCE_LABELS.get(s.get("confidence"), _t(s.get("confidence"), 40)),
                 "why": _t(s.get("why")), "lead": _t(s.get("lead")),
                 "evidence": [_t(e) for e in s.get("evidence") or []],
                 "likely": s.get("key") is not None and s.get("key") == document.get("most_likely")}
                for s in document.get("suspects") or [] if isinstance(s, Mapping)]
    failing = [_t(f.get("text") or f) for f in symptoms.get("failing") or [] if f]
    return {"summary": _sentences(document.get("summary")), "status": _t(document.get("status"), 40),
            "suspects": suspects, "failing": failing,
            "healthy": [_t(name, 200) for name in symptoms.get("healthy") or []],
            "signals": [(_t(k, 80), _t(v, 300)) for k, v in (document.get("signals") or {}).items()],
            "notes": [_t(note) for note in document.get("notes") or []]}
