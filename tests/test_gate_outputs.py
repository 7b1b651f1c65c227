"""The gate's outputs: verdict.json against its schema, junit.xml through a real JUnit reader, summary.md,
the console text, and hostile names and texts surviving all of them."""

from __future__ import annotations

import importlib
import json
import re
import xml.etree.ElementTree as ET
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml
from junitparser import Error, Failure, JUnitXml

from reports.gate import OUTPUTS, evaluate_folder
from tests.test_analysis import RunFolder

HOSTILE_NAME = "</testcase><script>alert(1)</script>|x|\x00\x01\x08\x0b\x1b[2J\x7f\x9b\u202e]]>&amp;" + "y" * 10_000
HOSTILE_REASON = "pool gone </error><![CDATA[\x00\x1b]0;pwned\x07 | [click](http://evil) `rm -rf` # head\n- list"
FORBIDDEN_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def schema() -> dict:
    """The shipped JSON Schema of verdict.json (package data)."""
    return json.loads(resources.files("reports").joinpath("verdict.schema.json").read_text())


def write_slo(path: Path, *objectives: dict) -> Path:
    path.write_text(yaml.safe_dump({"objectives": list(objectives)}))
    return path


def breached_run(tmp_path: Path) -> Path:
    """A run whose checkout answers 504 a quarter of the time in the peak; browsing is fine."""
    folder = RunFolder(tmp_path / "run")
    for t in range(60):
        folder.add(t, "/products", times_ms=[5.0] * 8)
        bad = 10 <= t < 40 and t % 4 == 0
        folder.add(t, "/checkout", method="POST", status=504 if bad else 201, kind="status" if bad else "ok",
                   times_ms=[2000.0 if bad else 40.0] * 4)
    folder.sample_load(0, 60, users=100, rps=12.0)
    path = folder.write()
    write_slo(path / "slo.yaml",
              {"name": "checkout-504", "endpoint": "POST /checkout", "metric": "status_rate", "status": 504,
               "bound": "1%", "scope": {"stage": "peak", "window": "10s"}},
              {"name": "browse-p99", "endpoint": "GET /products", "metric": "p99", "bound": "1s"},
              {"name": "refunds", "endpoint": "/refunds", "metric": "p95", "bound": "1s"})
    return path


def test_outputs_are_written_whole_and_rebuilt_identically(tmp_path):
    """All four files appear, no temporary file is left, and a second evaluation writes the same bytes."""
    path = breached_run(tmp_path)
    first = evaluate_folder(path)
    assert [p.name for p in first.written] == list(OUTPUTS)
    contents = {name: (path / name).read_bytes() for name in OUTPUTS}
    second = evaluate_folder(path)
    assert {name: (path / name).read_bytes() for name in OUTPUTS} == contents
    assert not [p for p in path.iterdir() if p.name.endswith(".tmp")]
    assert (first.verdict.verdict, first.exit_code, second.exit_code) == ("NOT_READY", 1, 1)


def test_verdict_json_validates_against_its_schema(tmp_path):
    """verdict.json matches the shipped schema, and says what failed where."""
    path = breached_run(tmp_path)
    evaluate_folder(path)
    document = json.loads((path / "verdict.json").read_text())
    jsonschema.validate(document, schema())
    assert (document["verdict"], document["exit_code"]) == ("NOT_READY", 1)
    assert document["counts"] == {"objectives": 3, "passed": 1, "failed": 1, "no_data": 1}
    breach = document["objectives"][0]
    assert (breach["status"], breach["unit"], breach["bound"], breach["windows_judged"]) == ("fail", "%", 1.0, 21)
    # 504 seconds are 12, 16, .. 36 s (4 checkouts each); the worst 10 s window holds three: 12 of 40.
    assert breach["observed"] == pytest.approx(30.0)
    # The first failing window, 10-20 s, holds two (12 and 16 s: 8 of 40, 20%); 12 s is its first bad second.
    assert breach["first_failure"] == {"t_s": 12, "window_start_s": 10, "window_end_s": 20, "stage": "peak",
                                       "users": 100, "target_users": 100, "rps": 12.0, "observed": 20.0,
                                       "observed_text": "20%"}


def test_schema_rejects_a_document_missing_a_field(tmp_path):
    """The schema is strict: a document without its verdict does not validate."""
    path = breached_run(tmp_path)
    evaluate_folder(path)
    document = json.loads((path / "verdict.json").read_text())
    del document["verdict"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema())


def test_junit_is_read_by_a_junit_reader_with_the_right_counts(tmp_path):
    """One testcase per objective (failure for a breach, error for no data), and one per run check."""
    path = breached_run(tmp_path)
    evaluate_folder(path)
    xml = JUnitXml.fromfile(str(path / "junit.xml"))
    suites = {suite.name: suite for suite in xml}
    objectives = suites["slo objectives"]
    assert (objectives.tests, objectives.failures, objectives.errors) == (3, 1, 1)
    cases = {case.name: case for case in objectives}
    assert cases["browse-p99"].is_passed
    failure = cases["checkout-504"].result[0]
    assert isinstance(failure, Failure)
    assert failure.message == "observed 30% > bound 1% (status 504 rate, every 10 s of stage peak)"
    assert "first failed: window 10-20 s (20%), from 12 s in stage peak, 100 users (target 100), 12.0 req/s" \
        in failure.text
    error = cases["refunds"].result[0]
    assert isinstance(error, Error) and error.message == "no data: no request matched /refunds"
    validity = suites["run validity"]
    assert (validity.tests, validity.errors) == (5, 0)


def test_step_summary_is_appended(tmp_path):
    """summary.md goes after what $GITHUB_STEP_SUMMARY already holds."""
    path = breached_run(tmp_path)
    step = tmp_path / "step.md"
    step.write_text("earlier step\n")
    evaluate_folder(path, environ={"GITHUB_STEP_SUMMARY": str(step)})
    text = step.read_text()
    assert text.startswith("earlier step\n## surgegate: NOT READY (exit 1)\n")
    assert (path / "summary.md").read_text() in text


def test_summary_markdown_has_the_tables(tmp_path):
    """The verdict, why, the objectives and the endpoints, each a table row."""
    path = breached_run(tmp_path)
    evaluate_folder(path)
    lines = (path / "summary.md").read_text().splitlines()
    assert lines[0] == "## surgegate: NOT READY (exit 1)"
    assert "| **FAIL** | checkout-504 | POST /checkout | status 504 rate | every 10 s of stage peak | 30% | " \
           "&lt;= 1% | 12 s, stage peak, 100 users, 12 req/s |" in lines
    # 60 s x 4 checkouts, 7 seconds of 504s (28: 11.7%, so p95 is a 504's 2 s); 212 ok in 60 s.
    assert "| POST /checkout | 240 | 28 | 11.7% | 0 | 40 ms | 2 s | 2 s | 2 s | 3.53 req/s |" in lines


def hostile_run(tmp_path: Path) -> Path:
    folder = RunFolder(tmp_path / "run", status="incomplete")
    for t in range(20):
        folder.add(t, HOSTILE_NAME, times_ms=[5.0] * 5)
        folder.add(t, HOSTILE_NAME, status=504, kind="status", times_ms=[2000.0])
    path = folder.write()
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["incomplete_reason"] = HOSTILE_REASON
    (path / "manifest.json").write_text(json.dumps(manifest))
    write_slo(path / "slo.yaml",
              {"name": "</testcase><script>|pipes|&amp; ]]>", "endpoint": "GET </testcase>*",
               "metric": "error_rate", "bound": "1%", "per_endpoint": True},
              {"name": "# heading - [link](x) `code`", "metric": "p95", "bound": "1s"})
    return path


def test_hostile_names_and_texts_survive_every_format(tmp_path):
    """Markup, pipes, control characters and 10 kB names stay text: valid XML, one row per row, escaped console."""
    path = hostile_run(tmp_path)
    result = evaluate_folder(path)
    assert result.verdict.verdict == "INCONCLUSIVE"
    # verdict.json: the exact name, escaped by JSON, and still valid against the schema.
    document = json.loads((path / "verdict.json").read_text())
    jsonschema.validate(document, schema())
    assert document["summary"]["endpoints"][0]["name"] == HOSTILE_NAME
    assert HOSTILE_REASON in document["reasons"][0]
    # junit.xml: parses, holds nothing XML 1.0 forbids, and the markup is text.
    raw = (path / "junit.xml").read_text()
    assert not FORBIDDEN_IN_XML.search(raw) and "<script>" not in raw and "<![CDATA[" not in raw
    xml = JUnitXml.fromfile(str(path / "junit.xml"))
    suites = {suite.name: suite for suite in xml}
    names = [case.name for case in suites["slo objectives"]]
    escaped = "</testcase><script>alert(1)</script>|x|\\x00\\x01\\x08\\x0b\\x1b[2J\\x7f\\x9b\\u202e]]>&amp;yyy"
    assert names[0].startswith(f"</testcase><script>|pipes|&amp; ]]> [GET {escaped}") and names[0].endswith("y...")
    assert len(names[0]) < 250  # cut at 200 characters of the name, then escaped
    assert names[1] == "# heading - [link](x) `code`"
    failure = next(iter(suites["slo objectives"])).result[0]
    assert f"endpoint: GET {escaped}" in failure.text
    invalid = [case for case in suites["run validity"] if case.result]
    assert [case.name for case in invalid] == ["results complete"]
    assert invalid[0].result[0].message.startswith("pool gone </error><![CDATA[\\x00\\x1b]0;pwned\\x07 |")
    # summary.md: no HTML, no control characters, and every table row keeps its columns.
    markdown = (path / "summary.md").read_text()
    assert "<script>" not in markdown and "<![CDATA[" not in markdown and not CONTROL.search(markdown)
    for line in markdown.splitlines():
        if line.startswith("|"):
            columns = len(re.findall(r"(?<!\\)\|", line)) - 1
            # checks, objectives, endpoints; capacity's levels and requests by endpoint (2 or 3 columns)
            assert columns in (2, 3, 8, 10), line
            assert len(line) < 2_000
    assert "| \\# heading - \\[link\\](x) \\`code\\` |" in markdown  # a leading '#' is escaped too
    # console: one line per line, no escape sequences.
    assert not CONTROL.search(result.console)
    assert "\\x1b[2J" in result.console and "\x1b" not in result.console


def test_capacity_and_diagnosis_inform_every_output_without_changing_the_verdict(tmp_path):
    """verdict.json (schema 2) carries capacity and the root-cause hints, summary.md and junit.xml show them, the
    console has its few lines; every other part of verdict.json is what it was without them."""
    from reports.analysis import analyse_folder
    from reports.render_json import verdict_document
    from reports.slo import load_slo
    from reports.verdict import judge

    path = breached_run(tmp_path)
    result = evaluate_folder(path)
    document = json.loads((path / "verdict.json").read_text())
    jsonschema.validate(document, schema())
    assert document["schema_version"] == 2
    analysis = analyse_folder(path)
    verdict = judge(analysis, load_slo(path / "slo.yaml"))
    plain = json.loads(json.dumps(verdict_document(verdict, analysis)))
    assert plain["capacity"] is None and plain["diagnosis"] is None
    assert {k: v for k, v in document.items() if k not in ("capacity", "diagnosis", "slo_source")} == \
        {k: v for k, v in plain.items() if k not in ("capacity", "diagnosis", "slo_source")}
    # Levels: warm 1-10 s, peak 10-40 s, cool 40-60 s at 100 users; the peak's 504s fail its level.
    capacity = document["capacity"]
    assert [(lv["name"], lv["status"], lv["after_failure"]) for lv in capacity["levels"]] == [
        ("warm", "held", False), ("peak", "failed", False), ("cool", "held", True)]
    assert capacity["breaking_point"]["t_s"] == 12 and capacity["breaking_point"]["objective"] == "checkout-504"
    assert document["diagnosis"]["status"] == "no_server_metrics"
    markdown = (path / "summary.md").read_text()
    assert "### Capacity (informs; the verdict does not depend on it)" in markdown
    # The peak level, 10-40 s: 12 requests a second; 504s in 7 of its seconds (12, 16, .. 36), 4 each: 28 of 360
    # (7.78%, so p95 is a 504's 2 s), 332 ok in 30 s (11.1/s).
    assert "| peak | 100 | 12 | 11.1 | 2 s | 7.78% | failed | checkout-504 |" in markdown
    assert "### Root-cause hints (informs; the verdict does not depend on it)" in markdown
    console = result.console.splitlines()
    # 4 checkouts a second of the July 15 peak's 16.2: 0.247x, held (warm) and broken (peak) at the same load.
    assert console[-5:-1] == [
        "  capacity: held 100 users (stage warm, 12 req/s); broke at 100 users (stage peak, 12 req/s) "
        "(first breach at t=12 s: checkout-504)",
        "  breaks at 0.247x of the July 15 peak (16.2 req/s of POST /checkout) (held up to 0.247x)",
        "  no knee found: 1 level of rising load, and a knee needs two or more (the step and capacity profiles step the "
        "load up)",
        "  why: cannot tell: no server metrics were recorded (the manifest names no metrics source); no hint beyond "
        "the client's view"]
    suite = ET.parse(path / "junit.xml").getroot().find("testsuite[@name='slo objectives']")
    out = suite.find("system-out").text
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["capacity"] == "100 users (stage warm, 12 req/s)" and properties["most_likely_cause"] == "-"
    assert capacity["summary"][0] in out and "root cause: 504s on POST /checkout began at t=12 s" in out


@pytest.mark.parametrize("module", ["reports.slo", "reports.analysis", "reports.histograms", "reports.run_data",
                                    "reports.objectives", "reports.verdict", "reports.render_json",
                                    "reports.render_junit", "reports.render_markdown", "reports.render_console",
                                    "reports.safe_text", "reports.gate", "reports.compare", "surgegate.cli",
                                    "reports.capacity", "reports.expected_peak", "reports.diagnosis",
                                    "reports.symptoms", "reports.server_series", "reports.metric_names",
                                    "reports.headroom", "reports.render_html", "reports.charts", "reports.timeline",
                                    "reports.pool_metrics", "reports.live", "reports.raw_samples",
                                    "reports.server_metrics", "reports.keep_list", "reports.server_rows",
                                    "reports.prometheus_source", "reports.pg_activity", "reports.redaction",
                                    "surgegate.yaml_file"])
def test_public_surface_is_all_and_exists(module):
    """Each module names its public surface in __all__, and every name there exists."""
    imported = importlib.import_module(module)
    assert imported.__all__ and all(hasattr(imported, name) for name in imported.__all__)
    public = {name for name, value in vars(imported).items() if not name.startswith("_") and
              getattr(value, "__module__", None) == module and callable(value)}
    assert public <= set(imported.__all__), public - set(imported.__all__)
