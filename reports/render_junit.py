"""``junit.xml``: the verdict for CI test reports, ``render_junit(verdict, analysis) -> str``.

Two suites, in the JUnit XML that Jenkins, GitLab and junitparser read::

    <testsuites name="surgegate" tests= failures= errors= time=>
      <testsuite name="slo objectives" ...>   one testcase per objective result:
          pass     an empty testcase
          fail     <failure type="slo_breach" message="observed 70.3% > bound 0.5% ...">body</failure>
          no_data  <error type="no_data" message="no data: ...">body</error>
      <testsuite name="run validity" ...>     one testcase per validity check:
          not ok   <error type="run_invalid" message="...">, so an INCONCLUSIVE run is never all green

The body repeats the message and adds the scope, the detail and where it first failed (stage,
time, load). Testcase ``time`` is 0 (objectives take no time); the suites' is the run's length.
Capacity and the root-cause hints inform and never fail a testcase: they are the objectives suite's
``system-out`` (after the verdict and its reasons) and two properties, ``capacity`` (the sustainable
level) and ``most_likely_cause``.

Every text from the run or the SLO file goes through ``safe_text.visible``: characters XML 1.0
cannot carry become visible escapes (``\\x00``), names and messages are cut to 200 characters
(the body keeps 10,000), and ElementTree escapes markup, so ``</testcase><script>`` stays text.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from reports.analysis import Analysis
from reports.capacity import Capacity
from reports.diagnosis import Diagnosis
from reports.objectives import ObjectiveResult
from reports.safe_text import visible
from reports.verdict import Verdict

__all__ = ["render_junit"]

_BODY_LIMIT = 10_000


def _element(parent: ET.Element, tag: str, text: str | None = None, **attributes: object) -> ET.Element:
    element = ET.SubElement(parent, tag, {key: visible(value) for key, value in attributes.items()})
    if text is not None:
        element.text = visible(text, _BODY_LIMIT, multiline=True)
    return element


def _message(result: ObjectiveResult) -> str:
    if result.status == "no_data":
        return result.detail
    if result.observed is None:  # a recovery that never came: the text says what was seen
        return (f"{result.observed_text} ({result.metric}, bound {result.comparison} {result.bound_text}, "
                f"{result.scope})")
    opposite = ">" if result.comparison == "<=" else "<"
    relation = f"{opposite} bound" if result.status == "fail" else f"{result.comparison} bound"
    return f"observed {result.observed_text} {relation} {result.bound_text} ({result.metric}, {result.scope})"


def _body(result: ObjectiveResult) -> str:
    lines = [_message(result), f"endpoint: {result.endpoint}", f"metric: {result.metric}",
             f"scope: {result.scope}", f"observed: {result.observed_text}",
             f"bound: {result.comparison} {result.bound_text}", f"detail: {result.detail}",
             f"slo field: {result.field}"]
    point = result.first_failure
    if point is not None:
        lines.append(f"first failed: window {point.window_start_s}-{point.window_end_s} s "
                     f"({point.observed_text}), from {point.t_s} s in stage {point.stage or '-'}, "
                     f"{point.users if point.users is not None else '?'} users "
                     f"(target {point.target_users if point.target_users is not None else '?'}), "
                     f"{point.rps if point.rps is not None else '?'} req/s")
    return "\n".join(lines)


def _timestamp(started_at: str | None) -> str | None:
    match = re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", started_at or "")
    return match.group() if match else None


def render_junit(verdict: Verdict, analysis: Analysis, *, capacity: Capacity | None = None,
                 diagnosis: Diagnosis | None = None) -> str:
    """``junit.xml``'s text, UTF-8 with an XML declaration, ending in a newline."""
    info = analysis.info
    elapsed = f"{info.elapsed_s or 0:.3f}"
    failures = verdict.count("fail")
    errors = verdict.count("no_data")
    invalid = sum(1 for check in verdict.checks if not check.ok)
    root = ET.Element("testsuites", {"name": "surgegate", "tests": str(len(verdict.objectives) + len(verdict.checks)),
                                     "failures": str(failures), "errors": str(errors + invalid), "time": elapsed})
    suite = _element(root, "testsuite", name="slo objectives", tests=len(verdict.objectives), failures=failures,
                     errors=errors, skipped=0, time=elapsed, hostname="surgegate", id=0,
                     **({"timestamp": _timestamp(info.started_at)} if _timestamp(info.started_at) else {}))
    properties = _element(suite, "properties")
    for name, value in (("verdict", verdict.verdict), ("exit_code", verdict.exit_code), ("run_id", info.run_id),
                        ("profile", info.profile_name), ("target", info.target), ("slo_source", verdict.slo_source)):
        _element(properties, "property", name=name, value=value)
    if capacity is not None:
        _element(properties, "property", name="capacity",
                 value=capacity.sustainable.text if capacity.sustainable else "no level held")
    if diagnosis is not None:
        _element(properties, "property", name="most_likely_cause", value=diagnosis.most_likely or "-")
    for result in verdict.objectives:
        case = _element(suite, "testcase", name=result.name, classname=f"surgegate.slo.{result.scope}", time="0")
        if result.status == "fail":
            _element(case, "failure", _body(result), type="slo_breach", message=_message(result))
        elif result.status == "no_data":
            _element(case, "error", _body(result), type="no_data", message=_message(result))
    findings = [*(capacity.summary if capacity else ()), *([f"root cause: {diagnosis.summary}"] if diagnosis else [])]
    _element(suite, "system-out", "\n".join([f"verdict: {verdict.verdict} (exit {verdict.exit_code})",
                                             *verdict.reasons, *verdict.warnings, *findings]))
    checks = _element(root, "testsuite", name="run validity", tests=len(verdict.checks), failures=0, errors=invalid,
                      skipped=0, time=elapsed, hostname="surgegate", id=1)
    for check in verdict.checks:
        case = _element(checks, "testcase", name=check.name, classname="surgegate.run", time="0")
        if not check.ok:
            _element(case, "error", check.detail, type="run_invalid", message=check.detail)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=False).join(
        ['<?xml version="1.0" encoding="UTF-8"?>\n', "\n"])
