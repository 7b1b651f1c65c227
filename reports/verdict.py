"""The verdict: a pure function of an analysis and the SLOs, ``judge(analysis, slos) -> Verdict``.

Verdicts and exit codes (``surgegate.exit_codes``), in order of precedence::

    INTERRUPTED   4  the manifest says interrupted (Ctrl-C, SIGTERM, the web UI's stop):
                     objectives are still judged and reported, but the run did not play its profile
    INCONCLUSIVE  3  the run did not measure what it claims: results incomplete (the recorder died,
                     or a distributed run without worker data), no request recorded, the target never
                     answered (every request ended without an HTTP status), or the load generator was
                     saturated (CPU >= generator.max_cpu_percent for generator.sustained)
    NOT_READY     1  an objective failed, or a capacity search stopped at a level where one failed
    INCONCLUSIVE  3  no objective failed, but the run was under-driven: an open-model run dropped
                     arrivals (its pool of in-flight shoppers was full), so the shop was not offered
                     the planned load and READY cannot be claimed
    INCONCLUSIVE  3  no objective failed, but one had no data to judge
    READY         0  every objective passed

Under-driven is not a validity failure when an objective failed: the breach was measured at
less than the planned load, so the shop is NOT READY all the more (the reasons say so).
``Verdict.generator`` records the load generator's state for every run: the busiest CPU, the
saturation check, and (open model) planned and dropped arrivals.

Validity comes before breaches: a breach measured by a saturated load generator may be the
generator's own latency, and an incomplete folder may lack the requests that decide it.
Each validity rule is a ``Check`` (``ok`` or not, with a one-line detail) so reports can show
what was checked, not only what went wrong.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from reports.analysis import Analysis
from reports.objectives import ObjectiveResult, format_value, judge_objective
from reports.slo import Generator, SloSet
from surgegate import exit_codes

__all__ = ["Verdict", "Check", "judge", "READY", "NOT_READY", "INCONCLUSIVE", "INTERRUPTED", "EXIT_CODES",
           "UNDER_DRIVEN", "SATURATED"]

READY, NOT_READY, INCONCLUSIVE, INTERRUPTED = "READY", "NOT_READY", "INCONCLUSIVE", "INTERRUPTED"
EXIT_CODES = {READY: exit_codes.READY, NOT_READY: exit_codes.NOT_READY, INCONCLUSIVE: exit_codes.INCONCLUSIVE,
              INTERRUPTED: exit_codes.INTERRUPTED}


UNDER_DRIVEN = "arrivals started as planned"
"""The check an open-model run fails when it dropped arrivals."""
SATURATED = "load generator not saturated"


@dataclass(frozen=True)
class Check:
    """One rule the run must meet for its objectives to mean anything."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Verdict:
    """The verdict, why, every objective's result, and the validity checks."""

    verdict: str
    reasons: tuple[str, ...]
    objectives: tuple[ObjectiveResult, ...]
    checks: tuple[Check, ...]
    warnings: tuple[str, ...]
    slo_source: str
    generator: dict | None = None
    """The load generator's state: {saturated, under_driven, max_cpu_percent, planned_arrivals,
    dropped_arrivals, worst_10s_started_ratio, late_ms_max, detail}; the arrival fields are None for a
    closed-model run."""

    @property
    def exit_code(self) -> int:
        """The process exit code of this verdict."""
        return EXIT_CODES[self.verdict]

    def count(self, status: str) -> int:
        """How many objectives ended ``pass``, ``fail`` or ``no_data``."""
        return sum(1 for result in self.objectives if result.status == status)


def judge(analysis: Analysis, slos: SloSet) -> Verdict:
    """Judge the run; pure: reads nothing but its arguments.

    Raises:
        BadInput: an objective names a stage the run's profile does not have.
    """
    slos.check_stages(analysis.stages, f"profile {analysis.info.profile_name or '(unnamed)'}")
    results = tuple(result for objective in slos.objectives for result in judge_objective(analysis, objective))
    if analysis.info.search_stop is not None:
        results = tuple(_searched(result, analysis.info.search_stop) for result in results)
    checks, warnings = _checks(analysis, slos.generator)
    failed = [r for r in results if r.status == "fail"]
    missing = [r for r in results if r.status == "no_data"]
    broken = [c for c in checks if not c.ok and not (c.name == UNDER_DRIVEN and failed)]
    generator = _generator(analysis, checks)
    if analysis.info.status == "interrupted":
        verdict = INTERRUPTED
        reasons = ["the run was interrupted before its profile's end; objectives are reported but do not decide"]
        reasons += [f"also breached: {_breach(result)}" for result in failed]
    elif broken:
        verdict = INCONCLUSIVE
        reasons = [f"{check.name}: no ({check.detail})" for check in broken]
        reasons += [f"also breached: {_breach(result)}" for result in failed]
    elif failed or analysis.info.search_stop is not None:
        verdict = NOT_READY
        reasons = [_breach(result) for result in failed]
        if analysis.info.search_stop is not None:  # the level that stopped the search failed, whatever the scopes
            stop = analysis.info.search_stop
            reasons.append(f"capacity search stopped at {stop['at_s']:.0f} s: {stop['text']}")
        if generator["under_driven"]:
            reasons.append(f"and that with less than the planned load: {generator['detail']}")
    elif missing:
        verdict = INCONCLUSIVE
        reasons = [f"{result.name}: {result.detail}" for result in missing]
    else:
        verdict = READY
        reasons = [f"all {len(results)} objectives met"]
    return Verdict(verdict, tuple(reasons), results, checks, tuple(warnings), slos.source, generator)


def _generator(analysis: Analysis, checks: tuple[Check, ...]) -> dict:
    """The load generator's state for ``verdict.json``: was the test driven as planned?"""
    by_name = {check.name: check for check in checks}
    cpu = analysis.data.load["cpu_percent"] if len(analysis.data.load) else None
    max_cpu = None if cpu is None or cpu.isna().all() else round(float(cpu.max()), 1)
    arrivals = analysis.arrival_stats(0, analysis.window_count)
    saturated = SATURATED in by_name and not by_name[SATURATED].ok
    under = UNDER_DRIVEN in by_name and not by_name[UNDER_DRIVEN].ok
    details = [by_name[name].detail for name, bad in ((SATURATED, saturated), (UNDER_DRIVEN, under)) if bad]
    return {"saturated": saturated, "under_driven": saturated or under, "max_cpu_percent": max_cpu,
            "planned_arrivals": None if arrivals is None else arrivals["planned"],
            "dropped_arrivals": None if arrivals is None else arrivals["dropped"],
            "worst_10s_started_ratio": None if arrivals is None else _worst_window_ratio(analysis),
            "late_ms_max": None if arrivals is None else arrivals["late_ms_max"],
            "detail": "; ".join(details) if details else "driven as planned"}


def _worst_window_ratio(analysis: Analysis, length: int = 10) -> float | None:
    """Open model: the lowest started / planned arrivals over any ``length`` seconds (the whole run when shorter)."""
    counts = analysis.arrival_counts
    planned, started = counts["planned"], counts["started"]
    length = min(length, len(planned))
    if not length:
        return None
    window = np.ones(length, dtype=np.int64)
    planned_w, started_w = np.convolve(planned, window, "valid"), np.convolve(started, window, "valid")
    judged = planned_w > 0
    return round(float((started_w[judged] / planned_w[judged]).min()), 4) if judged.any() else None


def _searched(result: ObjectiveResult, stop: dict) -> ObjectiveResult:
    """A capacity search stops before its top steps: an objective on a stage it never reached says why."""
    if result.status != "no_data" or "was not reached" not in result.detail:
        return result
    return dataclasses.replace(result, detail=f"{result.detail}: the capacity search stopped at {stop['at_s']:.0f} s, "
                                              f"where {stop['text']} (that level decides the verdict)")


def _breach(result: ObjectiveResult) -> str:
    text = f"{result.name}: {result.metric} {result.observed_text}, bound {result.comparison} {result.bound_text}"
    point = result.first_failure
    if point is not None:
        load = f", {point.users} users" if point.users is not None else ""
        rps = f", {point.rps:g} req/s" if point.rps is not None else ""
        text += f"; first at {point.t_s} s (stage {point.stage or '-'}{load}{rps})"
    return text


def _checks(analysis: Analysis, generator: Generator) -> tuple[tuple[Check, ...], list[str]]:
    info = analysis.info
    warnings = list(analysis.data.warnings)
    everything = analysis.select(None)
    requests = int(analysis.counts(everything).requests.sum()) if len(everything) else 0
    answered = int(requests - analysis.status_counts(everything, lambda status: status == 0).sum()) \
        if len(everything) else 0
    if info.status == "running":
        complete = Check("results complete", False, "the manifest still says running: the recorder stopped "
                                                    "before the run ended")
    elif info.status == "incomplete" or info.incomplete_reason:  # an interrupted run can be incomplete too
        complete = Check("results complete", False, info.incomplete_reason or "the manifest says incomplete")
    else:
        complete = Check("results complete", True, f"manifest status {info.status}")
    played = "played to its end"
    if info.status == "interrupted":
        played = "stopped before the profile's end"
    elif info.search_stop is not None:
        played = f"stopped by its capacity search at {info.search_stop['at_s']:.0f} s, as the profile asks"
    checks = [
        Check("played to the end", info.status != "interrupted", played),
        complete,
        Check("requests recorded", requests > 0, f"{requests} requests" if requests else "no request was recorded"),
        Check("target answered", answered > 0 or requests == 0,
              f"{answered} of {requests} requests got an HTTP status" if answered or not requests else
              f"none of {requests} requests got an HTTP status: target unreachable"),
    ]
    saturation = _saturation(analysis, generator)
    if saturation is None:
        warnings.append("load.jsonl has no samples: load generator saturation was not checked")
        checks.append(Check(SATURATED, True, "not checked: no load samples"))
    else:
        checks.append(saturation)
    arrivals = analysis.arrival_stats(0, analysis.window_count)
    if arrivals is not None:
        checks.append(_drops(analysis, arrivals))
    return tuple(checks), warnings


def _drops(analysis: Analysis, arrivals: dict) -> Check:
    """Open model: every planned arrival started, or how many were dropped, from when, at what pool."""
    planned, dropped = arrivals["planned"], arrivals["dropped"]
    if not dropped:
        return Check(UNDER_DRIVEN, True, f"all {planned} planned arrivals started")
    per_second = analysis.arrival_counts["dropped"]
    first = int(np.flatnonzero(per_second)[0])
    load = analysis.data.load
    pool = _max_of(load, "pool")
    in_flight = _max_of(load, "in_flight_max")
    sizes = f"; {in_flight:g} of {pool:g} shoppers in flight at most" if pool is not None and in_flight is not None \
        else ""
    return Check(UNDER_DRIVEN, False,
                 f"{dropped} of {planned} planned arrivals dropped ({format_value(100 * dropped / planned, '%')}), "
                 f"the first at {first} s (stage {analysis.stage_at(first) or '-'}): the pool of in-flight shoppers "
                 f"was full{sizes}; raise --max-in-flight to offer the planned load")


def _max_of(frame, column: str) -> float | None:
    if column not in frame or not len(frame) or frame[column].isna().all():
        return None
    return float(frame[column].max())


def _saturation(analysis: Analysis, generator: Generator) -> Check | None:
    """CPU at or above the threshold over consecutive samples spanning ``sustained_s``; None without samples."""
    load = analysis.data.load
    samples = load[load["cpu_percent"].notna()]
    if not len(samples):
        return None
    t = samples["t"].to_numpy()
    cpu = samples["cpu_percent"].to_numpy()
    hot = cpu >= generator.max_cpu_percent
    start = None
    for i in range(len(t) + 1):
        if i < len(t) and hot[i]:
            start = i if start is None else start
            continue
        if start is not None:
            spanned = t[i - 1] - t[start] + 1.0  # each sample stands for the second before it
            if spanned >= generator.sustained_s:
                peak = float(np.max(cpu[start:i]))
                return Check(SATURATED, False,
                             f"load generator CPU >= {generator.max_cpu_percent:g}% for {spanned:g} s from "
                             f"{t[start] - 1:g} s (up to {format_value(peak, '%')}); its own latency may be measured")
            start = None
    return Check(SATURATED, True,
                 f"CPU under {generator.max_cpu_percent:g}% or never for {generator.sustained_s:g} s "
                 f"(max {format_value(float(cpu.max()), '%')})")
