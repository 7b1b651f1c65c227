"""A run still going, judged from its folder: ``live_rows(folder)`` for the live view, ``search_breach(folder)``
for a capacity search.

Judges the folder as written so far (the 1-s windows flushed up to now),
with the run's own ``slo.yaml``, and writes nothing. Objectives scoped to a
stage not reached yet come out as "waiting" rather than "no data": the run
is not over. Called every few seconds from a thread of the load generator's
process (see ``locustfiles/live_view.py``); costs about as much as
``surgegate report`` on the same folder, a fraction of a second for a
three-minute run.

``search_breach`` applies the capacity analysis the final report will apply (``reports.capacity``:
levels of constant load, each judged by every objective) to what is written so far, and returns the
first level that failed: a profile with ``stop_on_breach`` stops there, so the search's stopping point
and the report's "broke at" are one judgement, made once live and again at the end.
"""

from __future__ import annotations

from pathlib import Path

from reports.analysis import analyse_folder
from reports.capacity import assess_capacity
from reports.gate import resolve_slo_path
from reports.objectives import judge_objective
from reports.slo import load_slo
from reports.verdict import judge

__all__ = ["live_rows", "search_breach"]

_SHOWN = {"pass": "holding", "fail": "BREACHED", "no_data": "waiting"}


def live_rows(folder: str | Path) -> list[dict[str, str]]:
    """One row per objective judged so far: name, status (holding / BREACHED / waiting), observed, bound."""
    slos = load_slo(resolve_slo_path(folder))
    analysis = analyse_folder(folder)
    rows = []
    for objective in slos.objectives:
        for result in judge_objective(analysis, objective):
            where = ""
            if result.first_failure is not None:
                where = f" (first at {result.first_failure.t_s} s, {result.first_failure.stage})"
            rows.append({"item": result.name, "status": _SHOWN.get(result.status, result.status),
                         "observed": result.observed_text + where,
                         "bound": f"{result.comparison} {result.bound_text} ({result.scope})"})
    return rows


def search_breach(folder: str | Path, through_s: float) -> tuple[bool, dict | None]:
    """Judge the levels of constant load that ended by *through_s*: ``(judged, breach)``.

    ``judged`` is False while the folder does not yet hold every second of those levels (the last
    one-second window and the load sample after it are written about a second after the fact): a
    level is judged whole, as the final report will judge it, never on part of its seconds, since a
    few seconds fewer can move a p95 across its bound. ``breach`` is the first level that failed:
    ``{"level", "stage", "users", "first_s", "stop_s", "failed": [objective names], "text"}``.
    """
    slos = load_slo(resolve_slo_path(folder))
    analysis = analyse_folder(folder)
    load = analysis.data.load
    if not analysis.window_count or not len(load) or float(load["t"].max()) < through_s + 0.5:
        return False, None
    capacity = assess_capacity(analysis, slos, judge(analysis, slos))
    ended = [level for level in capacity.levels if level.stop_s <= through_s + 0.5]
    if ended and max(level.stop_s for level in ended) > analysis.window_count:
        return False, None
    level = capacity.broke_at
    if level is None or level not in ended:
        return True, None
    return True, {"level": level.name, "stage": level.stage, "users": level.users, "first_s": level.first_s,
                  "stop_s": level.stop_s, "failed": list(level.failed),
                  "text": f"{', '.join(level.failed)} failed at {level.text}"}
