"""``summary.md``: the verdict for a CI job summary, ``render_markdown(verdict, analysis) -> str``.

Layout: a heading with the verdict and exit code, the run in one line, why (the reasons), a table
of objectives (result, name, endpoint, metric, scope, observed, bound, where it first failed), the
run's validity checks, and a table of endpoints over the whole run (requests, failures, error rate,
429s, p50/p95/p99/max, throughput; open-model runs add p95 and p99 from when each request was due,
corrected for coordinated omission, and closed-model runs say their latency is not corrected), and for
open-model runs the arrivals: planned, started and dropped, over the run and per stage. Then, informing only: capacity (its summary lines, a table of load
levels: users, req/s, ok/s, p95, error rate, result, objectives failed, and the requests per second
of each endpoint at the sustainable and the first failed level) and the root-cause hints
(the summary, a table of suspects by confidence, notes, the metric names used). GitHub renders it as is
(``$GITHUB_STEP_SUMMARY``).

Every text from the run or the SLO file is a cell, escaped by ``cell``: unsafe characters become
visible escapes (``safe_text.visible``), ``&``, ``<`` and ``>`` become entities (no HTML gets
through), the characters that mean something inside a line get a backslash (``|`` cannot split a row,
``[x](y)`` cannot become a link, backticks cannot open code, ``*``, ``_`` and ``~`` cannot
emphasise), a leading ``#``, ``-``, ``+``, ``=`` or ``1.`` cannot open a heading or a list
inside a list item, and the text is cut to 200 characters.
"""

from __future__ import annotations

import re

from reports.analysis import Analysis
from reports.capacity import Capacity
from reports.diagnosis import Diagnosis
from reports.objectives import ObjectiveResult, format_value
from reports.safe_text import visible
from reports.verdict import Verdict

__all__ = ["render_markdown", "cell", "LATENCY_NOTE"]

LATENCY_NOTE = {
    True: "Latency from the actual send (p50 to max) and, corrected for coordinated omission, from when each "
          "request was due by the arrival schedule (from due).",
    False: "Latency from the actual send, not corrected for coordinated omission (closed model: a shopper "
           "waiting for an answer sends nothing meanwhile).",
}
"""How each kind of run's latency is to be read, said under every endpoint table."""

_MARKDOWN = re.compile(r"([\\`*_\[\]|~])")
_LEADING = re.compile(r"^(\s*)([#=]|[-+*](?=\s|$)|\d{1,9}(?=[.)](?:\s|$)))")
_HEADLINE = {"READY": "READY", "NOT_READY": "NOT READY", "INCONCLUSIVE": "INCONCLUSIVE", "INTERRUPTED": "INTERRUPTED"}
_RESULT = {"pass": "pass", "fail": "**FAIL**", "no_data": "**NO DATA**"}
_PROSE = 4000
"""Sentences surgegate wrote itself (capacity, root-cause hints) are cut later than names: they carry numbers."""


def cell(text: object, limit: int = 200) -> str:
    """``text`` as one safe Markdown table cell (or inline text), cut to ``limit`` characters."""
    safe = visible(text, limit).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    safe = _MARKDOWN.sub(r"\\\1", safe)
    return _LEADING.sub(_escape_leading, safe)


def _escape_leading(match: re.Match) -> str:
    """'# x', '- x', '1. x' would open a heading or a list inside a list item: '\\# x', '\\- x', '1\\. x'."""
    indent, marker = match.groups()
    return f"{indent}{marker}\\" if marker[0].isdigit() else f"{indent}\\{marker}"


def _row(values: list[str]) -> str:
    return "| " + " | ".join(values) + " |"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows)]


def _where(result: ObjectiveResult) -> str:
    point = result.first_failure
    if point is None:
        return ""
    load = f", {point.users} users" if point.users is not None else ""
    rps = f", {point.rps:g} req/s" if point.rps is not None else ""
    return cell(f"{point.t_s} s, stage {point.stage or '-'}{load}{rps}")


def _ms(latency: dict | None, key: str) -> str:
    return "" if latency is None else cell(format_value(latency[key], "ms"))


def _arrivals(analysis: Analysis) -> list[str]:
    """Open model: planned, started and dropped arrivals over the run and per stage (nothing when closed)."""
    run = analysis.arrival_stats(0, analysis.window_count)
    if run is None:
        return []
    rows = [[cell(name), str(stats["planned"]), str(stats["started"]), str(stats["dropped"]),
             cell(format_value(stats["dropped_pct"], "%")), cell(format_value(stats["planned_per_s"], "/s")),
             cell(format_value(stats["started_per_s"], "/s"))]
            for name, stats in [("whole run", run), *((stage.name, analysis.arrival_stats(
                stage.first_window, stage.stop_window)) for stage in analysis.stages)]]
    return ["", "### Arrivals (open model)", "",
            *_table(["scope", "planned", "started", "dropped", "dropped %", "planned/s", "started/s"], rows)]


def _capacity(capacity: Capacity) -> list[str]:
    lines = ["", "### Capacity (informs; the verdict does not depend on it)", ""]
    lines += [f"- {cell(line, _PROSE)}" for line in capacity.summary]
    lines += [f"- {cell(h.text, _PROSE)}" for h in capacity.headroom if h.text not in capacity.summary]
    if capacity.levels:
        rows = [[cell(lv.name), str(lv.users), cell(f"{lv.requests_per_s:.3g}"), cell(f"{lv.ok_per_s:.3g}"),
                 cell(format_value(lv.p95_ms, "ms")), cell(format_value(lv.error_rate_pct, "%")),
                 cell(lv.status.replace("_", " ") + (" (after a failure)" if lv.after_failure else "")),
                 cell(", ".join(lv.failed))] for lv in capacity.levels]
        lines += ["", *_table(["level", "users", "req/s", "ok/s", "p95", "error rate", "result", "failed"], rows)]
    shown = [(f"{lv.name} ({what})", lv) for what, lv in (("held", capacity.sustainable), ("broke", capacity.broke_at))
             if lv is not None]
    if shown:
        rows = [[cell(endpoint), *(cell(f"{lv.endpoints[endpoint]['requests_per_s']:.3g}") for _, lv in shown)]
                for endpoint in shown[0][1].endpoints]
        lines += ["", *_table(["requests/s by endpoint", *(cell(title) for title, _ in shown)], rows)]
    return lines


def _diagnosis(diagnosis: Diagnosis) -> list[str]:
    lines = ["", "### Root-cause hints (informs; the verdict does not depend on it)", "",
             cell(diagnosis.summary, _PROSE)]
    if diagnosis.suspects:
        rows = [[cell(s.name), cell(s.confidence.replace("_", " ")), cell(s.why, _PROSE),
                 cell("; ".join(s.evidence), _PROSE)] for s in diagnosis.suspects]
        lines += ["", *_table(["suspect", "confidence", "why", "evidence"], rows)]
    lines += ["", *(f"- note: {cell(note)}" for note in diagnosis.notes)] if diagnosis.notes else []
    if diagnosis.signals:
        used = ", ".join(f"{signal}: {metric}" for signal, metric in diagnosis.signals.items())
        lines += ["", f"Server metrics used: {cell(used, _PROSE)}"]
    return lines


def render_markdown(verdict: Verdict, analysis: Analysis, *, capacity: Capacity | None = None,
                    diagnosis: Diagnosis | None = None) -> str:
    """``summary.md``'s text, ending in a newline."""
    info = analysis.info
    overall = analysis.summary["overall"]["run"]
    lines = [f"## surgegate: {_HEADLINE[verdict.verdict]} (exit {verdict.exit_code})", "",
             f"Run {cell(info.run_id)}: profile {cell(info.profile_name or '-')}, {analysis.window_count} s, "
             f"{overall['requests']} requests, status {cell(info.status)}, target {cell(info.target or '-')}, "
             f"SLOs from {cell(verdict.slo_source)}", ""]
    lines += [f"- {cell(reason)}" for reason in verdict.reasons] + [""]
    lines += ["### Objectives", ""]
    lines += _table(["result", "objective", "endpoint", "metric", "scope", "observed", "bound", "first failed"],
                    [[_RESULT[r.status], cell(r.name), cell(r.endpoint), cell(r.metric), cell(r.scope),
                      cell(r.observed_text), cell(f"{r.comparison} {r.bound_text}"), _where(r)]
                     for r in verdict.objectives])
    lines += ["", "### Run checks", ""]
    lines += _table(["check", "ok", "detail"],
                    [[cell(c.name), "yes" if c.ok else "**no**", cell(c.detail)] for c in verdict.checks])
    if verdict.warnings:
        lines += ["", *(f"- warning: {cell(w)}" for w in verdict.warnings)]
    lines += _arrivals(analysis)
    lines += ["", "### Endpoints (whole run)", "", LATENCY_NOTE[analysis.latency_corrected], ""]
    rows = []
    corrected = analysis.latency_corrected
    for entry in analysis.summary["endpoints"]:
        stats = entry["run"]
        due = [_ms(stats.get("latency_from_due_ms"), "p95"), _ms(stats.get("latency_from_due_ms"), "p99")] \
            if corrected else []
        rows.append([cell(entry["endpoint"]), str(stats["requests"]), str(stats["failures"]),
                     cell(format_value(stats["error_rate_pct"], "%")), str(stats["rate_limited"]),
                     _ms(stats["latency_ms"], "p50"), _ms(stats["latency_ms"], "p95"),
                     _ms(stats["latency_ms"], "p99"), _ms(stats["latency_ms"], "max"), *due,
                     cell(format_value(stats["throughput_rps"], "req/s"))])
    lines += _table(["endpoint", "requests", "failures", "error rate", "429", "p50", "p95", "p99", "max",
                     *(["p95 from due", "p99 from due"] if corrected else []), "ok/s"], rows)
    lines += _capacity(capacity) if capacity is not None else []
    lines += _diagnosis(diagnosis) if diagnosis is not None else []
    return "\n".join(lines) + "\n"
