"""``verdict.json``: the verdict for machines, ``render_json(verdict, analysis) -> str``.

Schema version 2, validated by ``reports/verdict.schema.json`` (a test checks every
document this module writes against it). Top level::

    schema_version   2 (1 had neither capacity nor diagnosis)
    verdict          READY | NOT_READY | INCONCLUSIVE | INTERRUPTED
    exit_code        0 | 1 | 3 | 4, as the process exits
    reasons          [text]: why this verdict, one sentence each
    run              run_id, status, started_at, ended_at, elapsed_s, target, adapter,
                     incomplete_reason, profile {name, time_scale, peak_multiplier, total_s}
    slo_source       the SLO file judged against, as given
    counts           {objectives, passed, failed, no_data}
    objectives       [{name, field, endpoint, metric, scope, status (pass | fail | no_data),
                       observed, observed_text, bound, bound_text, comparison (<= | >=),
                       unit (ms | % | req/s | s | arrivals), detail, requests,
                       windows_judged, windows_failed (null unless windowed),
                       first_failure: null | {t_s, window_start_s, window_end_s, stage, users,
                                              target_users, rps, observed, observed_text}}]
    checks           [{name, ok, detail}]: the run's validity checks
    generator        {saturated, under_driven, max_cpu_percent, planned_arrivals, dropped_arrivals, detail}:
                     was the load offered as planned (arrivals null for closed-model runs)
    warnings         [text]
    summary          {overall: stats, endpoints: [{endpoint, method, name, ...stats}]} for the whole
                     run; stats as in analysis.json (requests, failures, error_rate_pct, latency_ms,
                     latency_corrected, latency_from_due_ms (open model; null when not corrected), ...)
    capacity         null | {levels [{name, stage, first_s, stop_s, users, requests_per_s, ok_per_s,
                       error_rate_pct, p95_ms, endpoints {METHOD name: {requests, requests_per_s, ok_per_s,
                       p95_ms}}, status (held | failed | not_judged), judged, failed [objective],
                       after_failure}], sustainable, broke_at (level names or null),
                       breaking_point {t_s, stage, users, target_users, rps, objective, metric,
                       observed_text} | null, knee {below, above, endpoint, elasticity, text},
                       expected_peak {name, profile, source, measures}, headroom [{unit, endpoint,
                       expected, held_ratio, reached_ratio, broke_ratio, outcome, text}], summary [text]}
                     (reports/capacity.py); it informs, the verdict does not depend on it
    diagnosis        null | {status, summary, most_likely, symptoms {onset_s, last_s, breach, failing,
                       healthy, healthy_p99_ms, rate_limited}, suspects [{key, name, short, confidence
                       (high | medium | low | not_indicated | no_data), why, onset_s, lead, evidence}],
                       signals {signal: metric used}, notes} (reports/diagnosis.py); informs only

Text is written as the run recorded it: JSON escapes every control character itself.
Analysis numbers are the analysis's own; nothing is computed here.
"""

from __future__ import annotations

import dataclasses
import json

from reports.analysis import Analysis
from reports.capacity import Capacity
from reports.diagnosis import Diagnosis
from reports.verdict import Verdict

__all__ = ["render_json", "verdict_document", "SCHEMA_VERSION", "SCHEMA_FILE"]

SCHEMA_VERSION = 2
SCHEMA_FILE = "verdict.schema.json"
"""Next to this module, shipped as package data."""


def verdict_document(verdict: Verdict, analysis: Analysis, *, capacity: Capacity | None = None,
                     diagnosis: Diagnosis | None = None) -> dict:
    """The ``verdict.json`` document as a dict (``capacity`` and ``diagnosis`` null when not given)."""
    summary = analysis.summary
    return {
        "schema_version": SCHEMA_VERSION,
        "verdict": verdict.verdict,
        "exit_code": verdict.exit_code,
        "reasons": list(verdict.reasons),
        "run": analysis.info.to_json(),
        "slo_source": verdict.slo_source,
        "counts": {"objectives": len(verdict.objectives), "passed": verdict.count("pass"),
                   "failed": verdict.count("fail"), "no_data": verdict.count("no_data")},
        "objectives": [dataclasses.asdict(result) for result in verdict.objectives],
        "checks": [dataclasses.asdict(check) for check in verdict.checks],
        "generator": verdict.generator,
        "warnings": list(verdict.warnings),
        "summary": {"overall": summary["overall"]["run"],
                    "endpoints": [{"endpoint": e["endpoint"], "method": e["method"], "name": e["name"], **e["run"]}
                                  for e in summary["endpoints"]]},
        "capacity": None if capacity is None else capacity.to_json(),
        "diagnosis": None if diagnosis is None else diagnosis.to_json(),
    }


def render_json(verdict: Verdict, analysis: Analysis, *, capacity: Capacity | None = None,
                diagnosis: Diagnosis | None = None) -> str:
    """``verdict.json``'s text: indented, keys in a stable order, ASCII only, ending in a newline."""
    document = verdict_document(verdict, analysis, capacity=capacity, diagnosis=diagnosis)
    return json.dumps(document, indent=2, ensure_ascii=True, allow_nan=False) + "\n"
