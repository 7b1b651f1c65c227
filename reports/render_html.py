"""``report.html``: the pre-sale readiness report, ``render_html(verdict, analysis, **findings) -> str``.

One self-contained page, in this order: the verdict and its reasons; headroom and capacity; the
breaking point (and the root-cause hints, when the verdict has them); charts over time; the
objectives; every endpoint; every stage; the run's validity checks; and, given a ``baseline``,
before -> after (objectives, endpoints and the charts side by side, from ``reports.compare``).

Self-contained means a reader's browser fetches nothing: no script at all, styles inline, charts
as inline SVG (``reports.charts``), the system's own fonts, and a Content-Security-Policy of
``default-src 'none'`` that would block anything else. The page prints (A4, print CSS) and reads
offline. It names no path and no time of rendering, so the same folder, copied anywhere, rebuilds
the same bytes (``tests/test_gate_outputs.py`` checks every output for that).

Text from the run (endpoint, stage and SLO names, reasons, error texts) goes through
``safe_text.visible`` (control characters and bidirectional overrides shown as escapes, names cut
to 200 characters), then Jinja2's autoescape turns ``<``, ``>``, ``&`` and quotes into entities:
no name can open an element or an attribute. The template is ``templates/report.html.j2``.

Numbers are the analysis's and the verdict's, formatted with ``objectives.format_value``; the only
arithmetic here is a status's share of an endpoint's requests (``statuses["504"] / requests``).
Headroom and capacity (``reports.capacity``) and root-cause hints (``reports.diagnosis``) are shown
when the gate passes them, from their ``to_json()`` as verdict.json has them (``reports._report_findings``);
without them the sections are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any, Protocol

import jinja2
from markupsafe import Markup

import surgegate
from reports._report_findings import capacity_section, diagnosis_section
from reports.analysis import Analysis
from reports.charts import draw_charts
from reports.compare import FLOORS, Change, compare_runs
from reports.objectives import ObjectiveResult, format_value
from reports.render_markdown import LATENCY_NOTE
from reports.safe_text import visible
from reports.timeline import Timeline, build_timeline
from reports.verdict import Verdict

__all__ = ["render_html", "Finding", "HEADLINES"]

HEADLINES = {"READY": "READY", "NOT_READY": "NOT READY", "INCONCLUSIVE": "INCONCLUSIVE", "INTERRUPTED": "INTERRUPTED"}
_LONG = 1000
"""Characters of a reason, detail or warning shown (names: ``safe_text.MAX_LABEL``)."""


class Finding(Protocol):
    """A later stage's result shown by the report (``reports.capacity.Capacity``, ``reports.diagnosis.Diagnosis``)."""

    def to_json(self) -> dict: ...


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("reports", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True)


def _text(value: object, limit: int | None = None) -> str:
    return visible(value) if limit is None else visible(value, limit)


def _ms(latency: Mapping | None, key: str) -> str:
    return "-" if latency is None else format_value(latency[key], "ms")


def _share(stats: Mapping, status: str) -> str:
    requests = stats["requests"]
    return format_value(100 * stats["statuses"].get(status, 0) / requests, "%") if requests else "-"


def _stats_row(stats: Mapping) -> dict[str, Any]:
    latency = stats["latency_ms"]
    due = stats.get("latency_from_due_ms")
    return {"requests": f"{stats['requests']:,}", "failures": f"{stats['failures']:,}",
            "error_rate": format_value(stats["error_rate_pct"], "%"), "rate_504": _share(stats, "504"),
            "rate_limited": f"{stats['rate_limited']:,}", "ok_per_s": format_value(stats["throughput_rps"], "req/s"),
            **{key: _ms(latency, key) for key in ("p50", "p90", "p95", "p99", "p99.9", "max")},
            "due_p95": _ms(due, "p95"), "due_p99": _ms(due, "p99")}


def _model_row(analysis: Analysis) -> tuple[str, str]:
    """The run block's line on the load model: open with its arrivals, or closed (latency not corrected)."""
    arrivals = analysis.arrival_stats(0, analysis.window_count)
    if arrivals is None:
        return ("load model", "closed (users); latency not corrected for coordinated omission")
    return ("load model", f"open (arrivals): {arrivals['planned']:,} planned, {arrivals['started']:,} started, "
                          f"{arrivals['dropped']:,} dropped; latency also from when each request was due")


def _where(result: ObjectiveResult) -> str:
    point = result.first_failure
    if point is None:
        return ""
    parts = [f"{point.t_s} s", f"stage {_text(point.stage or '-')}"]
    if point.users is not None:
        parts.append(f"{point.users} users" + (f" (planned {point.target_users})"
                                               if point.target_users not in (None, point.users) else ""))
    if point.rps is not None:
        parts.append(f"{point.rps:g} req/s")
    return ", ".join(parts)


def _objective_row(result: ObjectiveResult) -> dict[str, Any]:
    windows = "" if result.windows_judged is None else f"{result.windows_failed or 0} of {result.windows_judged}"
    return {"status": result.status, "name": _text(result.name), "endpoint": _text(result.endpoint),
            "metric": _text(result.metric), "scope": _text(result.scope),
            "observed": _text(result.observed_text, _LONG), "bound": f"{result.comparison} {_text(result.bound_text)}",
            "where": _where(result), "windows": windows,
            "detail": _text(result.detail, _LONG) if result.status != "pass" else ""}


def _breaking_point(verdict: Verdict, timeline: Timeline, point: Mapping | None) -> dict[str, Any] | None:
    """The headline (the capacity's breaking point when given, else the verdict's first breach), the breached
    objectives by the second each first breached, and the server's pool then."""
    failed = sorted((r for r in verdict.objectives if r.status == "fail" and r.first_failure is not None),
                    key=lambda r: (r.first_failure.t_s, r.name))
    if not failed and not point:
        return None
    lines = [f"{_text(r.name)}: {_text(r.metric)} {_text(r.first_failure.observed_text, _LONG)} in "
             f"{r.first_failure.window_start_s}\u2013{r.first_failure.window_end_s} s, its first failing range "
             f"(bound {r.comparison} {_text(r.bound_text)}); first breaching second: {_where(r)}" for r in failed]
    if point:
        parts = [f"stage {_text(point.get('stage') or '-')}"]
        parts += [f"{point['users']} users"] if point.get("users") is not None else []
        parts += [f"{point['rps']:g} req/s"] if isinstance(point.get("rps"), (int, float)) else []
        what = " ".join(_text(point[key]) for key in ("objective", "metric", "observed_text") if point.get(key))
        t_s, where = int(point["t_s"]), ", ".join(parts) + (f"; {what}" if what else "")
    else:
        t_s, where = failed[0].first_failure.t_s, _where(failed[0]).split(", ", 1)[1]  # the headline gives the time
    return {"t_s": t_s, "where": where, "lines": lines, "pool": _pool_at(timeline, t_s)}


def _pool_at(timeline: Timeline, second: int) -> str | None:
    """The pool's gauges in the bin nearest to ``second``, said with the bin it came from."""
    pool = timeline.pool
    if pool is None or not len(pool.t_s):
        return None
    position = int(abs(pool.t_s - (second + 0.5)).argmin())
    start = pool.t_s[position] - 0.5 * timeline.bin_s
    if abs(start - second) > timeline.bin_s:
        return None

    def shown(value: float) -> str:
        return "-" if value != value else f"{value:g}"

    when = f"second {start:g}" if timeline.bin_s == 1 else f"seconds {start:g} to {start + timeline.bin_s:g}"
    return (f"the server's pool ({when}, its nearest scrape): {shown(pool.in_use[position])} of "
            f"{shown(pool.limit[position])} connections in use, {shown(pool.waiting[position])} requests waiting")


def _delta(change: Change) -> str:
    if change.delta is None:
        return ""
    if change.delta == 0:
        return "0"
    size = format_value(abs(change.delta), change.unit)
    text = ("-" if change.delta < 0 else "+") + (f"{size[:-1]} pp" if change.unit == "%" else size)
    if change.before:
        text += f" ({100 * change.delta / abs(change.before):+.0f}%)"
    return text


def _better(change: Change, tolerance_pct: float) -> bool:
    """The mirror of ``compare``'s worse: moved the right way past the tolerance and the floor, or fail -> pass."""
    if change.note.endswith("-> pass"):
        return True
    if change.delta is None or change.worse:
        return False
    moved = -change.delta if change.better == "lower" else change.delta
    return moved > max(abs(change.before) * tolerance_pct / 100, FLOORS.get(change.unit, 0.0))


def _change_cell(change: Change, tolerance_pct: float) -> dict[str, Any]:
    return {"subject": _text(change.subject), "metric": _text(change.metric),
            "before": format_value(change.before, change.unit), "after": format_value(change.after, change.unit),
            "delta": _delta(change), "note": _text(change.note),
            "mark": "worse" if change.worse else "better" if _better(change, tolerance_pct) else ""}


def _endpoint_changes(changes: tuple[Change, ...], tolerance_pct: float) -> tuple[list[str], list[dict]]:
    """One row per endpoint, one cell per metric: (metrics, rows)."""
    metrics = list(dict.fromkeys(c.metric for c in changes if c.note != "only in base"))
    rows: dict[str, dict[str, Any]] = {}
    for change in changes:
        row = rows.setdefault(change.subject, {"subject": _text(change.subject), "cells": {}, "note": ""})
        row["cells"][change.metric] = _change_cell(change, tolerance_pct)
        row["note"] = row["note"] or _text(change.note)
    return [_text(m) for m in metrics], list(rows.values())


def _comparison(baseline: tuple[Analysis, Verdict], analysis: Analysis, verdict: Verdict, timeline: Timeline,
                tolerance_pct: float) -> dict[str, Any]:
    base_analysis, base_verdict = baseline
    comparison = compare_runs(baseline, (analysis, verdict), tolerance_pct)
    base_timeline = build_timeline(base_analysis, base_verdict)
    titles = [f"before: {base_analysis.info.run_id} ({HEADLINES[base_verdict.verdict]})",
              f"after: {analysis.info.run_id} ({HEADLINES[verdict.verdict]})"]
    metrics, endpoints = _endpoint_changes(comparison.endpoints, tolerance_pct)
    return {"base_id": _text(base_analysis.info.run_id), "base_verdict": HEADLINES[base_verdict.verdict],
            "tolerance": f"{tolerance_pct:g}%", "notes": [_text(n, _LONG) for n in comparison.notes],
            "worse": len(comparison.worse),
            "objectives": [_change_cell(c, tolerance_pct) for c in comparison.objectives],
            "endpoint_metrics": metrics, "endpoints": endpoints,
            "charts": draw_charts([base_timeline, timeline], titles)}


def render_html(verdict: Verdict, analysis: Analysis, *, capacity: Finding | None = None,
                diagnosis: Finding | None = None, baseline: tuple[Analysis, Verdict] | None = None,
                tolerance_pct: float = 10.0) -> str:
    """The report's HTML, ending in a newline.

    Args:
        verdict, analysis: the run, as the gate judged it; charts also read its folder's
            ``server_metrics.jsonl`` (``reports.pool_metrics``).
        capacity, diagnosis: headroom and capacity, and the root-cause hints, when the gate has them; their
            ``to_json()`` is shown. A capacity's ``breaking_point`` (``{"t_s", ...}``) is the one marked on
            the charts; without it, the verdict's first breach is.
        baseline: a run to compare with, judged by the same SLOs, as ``compare_runs`` takes it.
        tolerance_pct: how much worse than the baseline a metric may get before it is flagged.
    """
    info = analysis.info
    overall = analysis.summary["overall"]
    point = getattr(capacity, "breaking_point", None)
    point = point if isinstance(point, Mapping) and isinstance(point.get("t_s"), int) else None
    timeline = build_timeline(analysis, verdict, breach_s=None if point is None else point["t_s"])
    stages = [{"name": _text(stage.name), "span": f"{stage.start_s:g}\u2013{stage.end_s:g} s", "users": stage.users,
               "peak": stage.peak, **_stats_row(overall["stages"][stage.name])}
              for stage in analysis.stages if stage.name in overall["stages"]]
    context = {
        "headline": HEADLINES[verdict.verdict], "verdict_class": verdict.verdict.lower().replace("_", "-"),
        "exit_code": verdict.exit_code, "reasons": [_text(r, _LONG) for r in verdict.reasons],
        "run": [("run", _text(info.run_id)), ("profile", _text(info.profile_name or "-")),
                ("time scale", "-" if info.time_scale is None else f"{info.time_scale:g}"),
                ("peak multiplier", "-" if info.peak_multiplier is None else f"{info.peak_multiplier:g}"),
                ("target", _text(info.target or "-")), ("adapter", _text(info.adapter or "-")),
                ("started", _text(info.started_at or "-")), ("ended", _text(info.ended_at or "-")),
                ("status", _text(info.status)), ("seconds", f"{analysis.window_count:,}"),
                ("requests", f"{overall['run']['requests']:,}"), _model_row(analysis),
                ("SLOs", _text(verdict.slo_source))],
        "latency_corrected": analysis.latency_corrected,
        "latency_note": LATENCY_NOTE[analysis.latency_corrected],
        "counts": {status: verdict.count(status) for status in ("pass", "fail", "no_data")},
        "capacity": capacity_section(None if capacity is None else capacity.to_json()),
        "diagnosis": diagnosis_section(None if diagnosis is None else diagnosis.to_json()),
        "breaking": _breaking_point(verdict, timeline, point),
        "charts": draw_charts([timeline]), "timeline": timeline,
        "objectives": [_objective_row(r) for r in verdict.objectives],
        "endpoints": [{"name": _text(e["endpoint"]), "total": False, **_stats_row(e["run"])}
                      for e in analysis.summary["endpoints"]] +
                     [{"name": "all endpoints", "total": True, **_stats_row(overall["run"])}],
        "stages": stages,
        "checks": [{"name": _text(c.name), "ok": c.ok, "detail": _text(c.detail, _LONG)} for c in verdict.checks],
        "warnings": [_text(w, _LONG) for w in verdict.warnings],
        "comparison": None if baseline is None else _comparison(baseline, analysis, verdict, timeline, tolerance_pct),
        "version": surgegate.__version__,
    }
    return _environment().get_template("report.html.j2").render(svg=_svg, **context)


def _svg(text: str | None) -> Markup:
    """A chart from ``reports.charts``: SVG that matplotlib wrote from already escaped text, inlined as is."""
    return Markup(text or "")
