"""The ``surgegate`` command: ``report`` rebuilds the verdict from a folder alone, ``compare`` flags regressions,
bad input is one line and exit 2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import surgegate
from reports.gate import OUTPUTS, evaluate_folder
from surgegate.cli import main
from tests.test_analysis import RunFolder

REPO = Path(__file__).resolve().parents[1]
SLO = {"objectives": [
    {"name": "checkout-504", "endpoint": "POST /checkout", "metric": "status_rate", "status": 504, "bound": "1%",
     "scope": {"stage": "peak", "window": "10s"}},
    {"name": "checkout-p95", "endpoint": "POST /checkout", "metric": "p95", "bound": "1s"},
]}


@pytest.fixture
def runner(capsys):
    """Run ``surgegate ARGS`` in process: (exit code, stdout, stderr)."""
    def run(*args: str) -> tuple[int, str, str]:
        try:
            code = main(list(args))
        except SystemExit as exit_:  # argparse: usage errors and --version
            code = exit_.code
        captured = capsys.readouterr()
        return code, captured.out, captured.err
    return run


def run_folder(path: Path, *, status: str = "complete", failing: range = range(0), checkout_ms: float = 40.0,
               slo: dict | None = SLO) -> Path:
    """A run of 60 s with 4 checkouts a second, 504s in the ``failing`` seconds, and its slo.yaml."""
    folder = RunFolder(path, status=status)
    for t in range(60):
        bad = t in failing
        folder.add(t, "/checkout", method="POST", status=504 if bad else 201, kind="status" if bad else "ok",
                   times_ms=[2000.0 if bad else checkout_ms] * 4)
    written = folder.write()
    if slo is not None:
        (written / "slo.yaml").write_text(yaml.safe_dump(slo))
    return written


def surgegate_process(*args: str) -> subprocess.CompletedProcess:
    """``python -m surgegate ARGS`` as a user runs it."""
    return subprocess.run([sys.executable, "-m", "surgegate", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=120)


def test_report_on_a_copied_folder_reproduces_the_verdict(tmp_path):
    """The folder alone, copied elsewhere with its outputs deleted, gives the same verdict.json and exit code."""
    original = run_folder(tmp_path / "run", failing=range(20, 24))
    at_run_end = evaluate_folder(original)
    copy = Path(shutil.copytree(original, tmp_path / "elsewhere" / "run"))
    for name in OUTPUTS:
        (copy / name).unlink()
    process = surgegate_process("report", str(copy))
    assert (at_run_end.exit_code, process.returncode) == (1, 1)
    assert process.stderr == ""
    assert process.stdout.startswith("surgegate: NOT READY (exit 1): run test-run, profile test, 60 s, 240 requests\n")
    assert (copy / "verdict.json").read_text() == (original / "verdict.json").read_text()
    assert (copy / "junit.xml").read_text() == (original / "junit.xml").read_text()
    assert json.loads((copy / "verdict.json").read_text())["slo_source"] == "slo.yaml (the run's copy)"


@pytest.mark.parametrize(("status", "failing", "code", "headline"), [
    ("complete", range(0), 0, "READY"), ("complete", range(20, 24), 1, "NOT READY"),
    ("running", range(0), 3, "INCONCLUSIVE"), ("interrupted", range(0), 4, "INTERRUPTED")])
def test_report_exits_with_the_verdicts_code(tmp_path, runner, status, failing, code, headline):
    """0 READY, 1 NOT READY, 3 INCONCLUSIVE, 4 INTERRUPTED, whatever else happened."""
    path = run_folder(tmp_path / "run", status=status, failing=failing)
    exit_code, out, err = runner("report", str(path))
    assert (exit_code, err) == (code, "")
    assert out.startswith(f"surgegate: {headline} (exit {code}): ")
    assert json.loads((path / "verdict.json").read_text())["exit_code"] == code


def test_report_rejudges_with_another_slo_file(tmp_path, runner):
    """--slo judges by another file, and that verdict (in DIR/rejudged) records which file it was."""
    path = run_folder(tmp_path / "run", checkout_ms=300.0)
    strict = tmp_path / "strict.yaml"
    strict.write_text(yaml.safe_dump({"objectives": [{"endpoint": "POST /checkout", "metric": "p50",
                                                      "bound": "250ms"}]}))
    assert runner("report", str(path))[0] == 0
    code, out, _ = runner("report", str(path), "--slo", str(strict))
    assert code == 1 and "FAIL    POST /checkout p50 <= 250ms, run: p50 300 ms (bound <= 250ms, run)" in out
    assert json.loads((path / "rejudged" / "verdict.json").read_text())["slo_source"] == str(strict)


def test_report_without_an_slo_copy_uses_the_shipped_defaults(tmp_path, runner):
    """A folder without slo.yaml is judged by the shipped slo.yaml (here: no browse data, so inconclusive)."""
    path = run_folder(tmp_path / "run", slo=None)
    code, out, _ = runner("report", str(path))
    assert code == 3 and "NO DATA browse-p99" in out
    assert json.loads((path / "verdict.json").read_text())["slo_source"] == "slo.yaml (shipped with surgegate)"


@pytest.mark.parametrize(("make", "message"), [
    (lambda tmp: tmp / "missing", "{tmp}/missing: no such results folder"),
    (lambda tmp: tmp, "{tmp}: not a results folder (no manifest.json)"),
])
def test_report_on_something_else_is_one_error_line(tmp_path, runner, make, message):
    """A missing folder or a folder that is not a run: one Error line, exit 2, nothing on stdout."""
    assert runner("report", str(make(tmp_path))) == (2, "", f"Error: {message.format(tmp=tmp_path)}\n")


def test_a_bad_slo_file_is_one_error_line(tmp_path, runner):
    """The SLO file's mistake is named by file and field, exit 2."""
    path = run_folder(tmp_path / "run")
    bad = tmp_path / "bad.yaml"
    bad.write_text("objectives:\n  - {metric: p95, bound: 800}\n")
    assert runner("report", str(path), "--slo", str(bad)) == \
        (2, "", f'Error: {bad}: objectives[0].bound: "800" has no unit (use ms or s)\n')


def test_bad_input_never_shows_a_traceback(tmp_path):
    """As a process: a corrupt windows.jsonl is one line on stderr and exit 2."""
    path = run_folder(tmp_path / "run")
    with open(path / "windows.jsonl", "a") as f:
        f.write("{not json}\n")
    process = surgegate_process("report", str(path))
    assert process.returncode == 2 and process.stdout == ""
    assert process.stderr == (f"Error: {path}/windows.jsonl: line 61: not valid JSON: Expecting property name "
                              f"enclosed in double quotes\n")


def test_version_and_usage_errors(runner):
    """--version prints the version; an unknown command is exit 2 with a hint."""
    assert runner("--version") == (0, f"surgegate {surgegate.__version__}\n", "")
    code, _, err = runner("reprot", "x")
    assert code == 2 and err.endswith("Error: argument COMMAND: invalid choice: 'reprot' (choose from 'report', "
                                      "'demo', 'compare', 'profile') (did you mean 'report'?)\n")


def test_compare_same_run_is_not_worse(tmp_path, runner):
    """A run compared with itself changes nothing: exit 0."""
    path = run_folder(tmp_path / "run")
    code, out, _ = runner("compare", str(path), str(path))
    assert code == 0 and out.endswith("result: not worse than base beyond the tolerance\n")


def test_compare_flags_a_regression_and_not_an_improvement(tmp_path, runner):
    """504s appearing is worse (exit 1); the same change the other way round is not (exit 0)."""
    good = run_folder(tmp_path / "good")
    bad = run_folder(tmp_path / "bad", failing=range(20, 24))
    code, out, _ = runner("compare", str(good), str(bad))
    assert code == 1
    assert "  checkout-504: status 504 rate 0% -> 40% +40pp pass -> fail WORSE\n" in out  # a window of 4 bad s in 10
    assert "  POST /checkout: error rate 0% -> 6.67% +6.67pp WORSE\n" in out  # 16 of 240
    assert runner("compare", str(bad), str(good))[0] == 0


@pytest.mark.parametrize(("tolerance", "code"), [("10", 0), ("5%", 1)])
def test_compare_tolerates_small_changes(tmp_path, runner, tolerance, code):
    """p95 400 ms -> 430 ms is 7.5% worse: within a 10% tolerance, beyond a 5% one."""
    # 400 ms reads 400.000 (its bucket's middle), 430 ms 429.952: +7.49%
    base = run_folder(tmp_path / "base", checkout_ms=400.0)
    current = run_folder(tmp_path / "current", checkout_ms=430.0)
    exit_code, out, _ = runner("compare", str(base), str(current), "--tolerance", tolerance)
    assert exit_code == code
    assert "  POST /checkout: p95 400 ms -> 430 ms +30 ms (+7%)" in out


def test_compare_ignores_changes_under_the_noise_floor(tmp_path, runner):
    """p95 6 ms -> 12 ms doubles, but by less than the 10 ms floor: two runs of one build differ that much."""
    base = run_folder(tmp_path / "base", checkout_ms=6.0)
    current = run_folder(tmp_path / "current", checkout_ms=12.0)
    exit_code, out, _ = runner("compare", str(base), str(current), "--tolerance", "0")
    assert exit_code == 0, out
    assert "  POST /checkout: p95 6 ms -> 12 ms +6 ms (+100%)\n" in out


@pytest.mark.parametrize(("args", "message"), [
    (("compare", "{tmp}/missing", "{tmp}/run"), "Error: {tmp}/missing: no such results folder\n"),
    (("compare", "{tmp}/run", "{tmp}/run", "--tolerance", "lots"),
     "Error: argument --tolerance: must be a percentage like 10 or 10%, got 'lots'\n"),
    (("compare", "{tmp}/run", "{tmp}/run", "--tolerance", "-5"),
     "Error: argument --tolerance: must be >= 0, got '-5'\n"),
])
def test_compare_bad_input_is_exit_2(tmp_path, runner, args, message):
    """A missing folder or a bad tolerance is one Error line and exit 2."""
    run_folder(tmp_path / "run")
    code, _, err = runner(*(arg.format(tmp=tmp_path) for arg in args))
    assert code == 2 and err.endswith(message.format(tmp=tmp_path))


def test_the_post_run_side_never_imports_locust():
    """Reading, judging and reporting import neither Locust nor gevent (whose monkey-patching would leak)."""
    code = ("import sys, surgegate.cli, reports.gate, reports.compare\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent', 'locustfiles'))\n"
            "print(bad)")
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert (process.returncode, process.stdout) == (0, "[]\n")


def test_rejudging_with_another_slo_leaves_the_runs_own_verdict(tmp_path, runner):
    """report --slo writes into DIR/rejudged (with the SLO file it used); the run's own verdict.json stays."""
    path = run_folder(tmp_path / "run")
    assert runner("report", str(path))[0] == 0
    own = (path / "verdict.json").read_text()
    strict = tmp_path / "strict.yaml"
    strict.write_text("objectives:\n  - endpoint: POST /checkout\n    metric: p50\n    bound: 1ms\n")
    code, out, _ = runner("report", str(path), "--slo", str(strict))
    assert code == 1 and f"reports: {path}/rejudged/" in out
    assert (path / "verdict.json").read_text() == own
    assert json.loads((path / "rejudged" / "verdict.json").read_text())["verdict"] == "NOT_READY"
    assert (path / "rejudged" / "slo.yaml").read_text() == strict.read_text()


def test_rejudging_checks_patterns_against_the_runs_recorded_endpoints(tmp_path, runner):
    """A run whose manifest lists its adapter's endpoints: a misspelt pattern is bad input (2), as before a run."""
    path = run_folder(tmp_path / "run")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["endpoints"] = ["/checkout", "/products"]
    (path / "manifest.json").write_text(json.dumps(manifest))
    typo = tmp_path / "typo.yaml"
    typo.write_text("objectives:\n  - endpoint: POST /chekout\n    metric: p95\n    bound: 1s\n")
    code, _, err = runner("report", str(path), "--slo", str(typo))
    assert code == 2
    assert err == (f"Error: {typo}: objectives[0].endpoint: 'POST /chekout' matches no endpoint of the adapter, "
                   "did you mean '/checkout'?\n")
