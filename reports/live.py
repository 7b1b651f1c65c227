"""The objectives of a run still going, for the live view: ``live_rows(folder) -> [dict]``.

Judges the folder as written so far (the 1-s windows flushed up to now),
with the run's own ``slo.yaml``, and writes nothing. Objectives scoped to a
stage not reached yet come out as "waiting" rather than "no data": the run
is not over. Called every few seconds from a thread of the load generator's
process (see ``locustfiles/live_view.py``); costs about as much as
``surgegate report`` on the same folder, a fraction of a second for a
three-minute run.
"""

from __future__ import annotations

from pathlib import Path

from reports.analysis import analyse_folder
from reports.gate import resolve_slo_path
from reports.objectives import judge_objective
from reports.slo import load_slo

__all__ = ["live_rows"]

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
