"""The gate: a results folder in, a verdict and its reports out. ``evaluate_folder(path) -> GateResult``.

Called at the end of a run (on the master or local runner, by the locustfile) and by
``surgegate report DIR``, which therefore rebuild the same files and the same exit code
from the folder alone:

    <folder>/slo.yaml (or --slo FILE, or the shipped slo.yaml)
        -> analysis (reports.analysis)   -> analysis.json
        -> verdict  (reports.verdict)    -> verdict.json, junit.xml, summary.md, report.html, console text
        -> capacity (reports.capacity) and diagnosis (reports.diagnosis, over server_metrics.jsonl):
           shown in verdict.json, junit.xml, summary.md and the console text; they never change the verdict
        server_metrics.jsonl is read once (reports.server_series), by the names of reports.metric_names and
        --metric-names FILE: the hints and report.html's pool chart see the same numbers

Each file is written whole: to a temporary file in the folder, then renamed over the old one,
so a reader (a CI step, a second ``surgegate report``) never sees half of one. ``summary.md`` is
also appended to ``$GITHUB_STEP_SUMMARY`` when that is set. The console text is returned, not
printed: the caller decides where it goes.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from reports.analysis import Analysis, analyse_folder
from reports.capacity import Capacity, assess_capacity
from reports.diagnosis import Diagnosis, diagnose
from reports.expected_peak import JULY15_PEAK, ExpectedPeak, check_expected_peak
from reports.metric_names import MetricNames, load_metric_names
from reports.pool_metrics import POOL_SIGNALS
from reports.render_console import render_console
from reports.render_html import render_html
from reports.render_json import render_json
from reports.render_junit import render_junit
from reports.render_markdown import render_markdown
from reports.results_folder import ResultsFolder
from reports.safe_text import visible
from reports.server_series import ServerSeries
from reports.slo import SloSet, load_slo, shipped_slo_path
from reports.verdict import Verdict, judge
from surgegate.errors import BadInput

__all__ = ["GateResult", "evaluate_folder", "resolve_slo_path", "OUTPUTS"]

OUTPUTS = ("analysis.json", "verdict.json", "junit.xml", "summary.md", "report.html")


@dataclass(frozen=True)
class GateResult:
    """The verdict, the exit code to exit with, the files written, and the console summary."""

    verdict: Verdict
    exit_code: int
    written: tuple[Path, ...]
    console: str
    analysis: Analysis
    capacity: Capacity | None = None
    diagnosis: Diagnosis | None = None


def resolve_slo_path(folder: str | os.PathLike, slo_path: str | os.PathLike | None = None) -> Path:
    """The SLO file to judge ``folder`` by: ``slo_path`` if given, else the run's copy, else the shipped one.

    Raises:
        BadInput: none of them exists.
    """
    if slo_path is not None:
        return Path(slo_path)
    for candidate in (Path(folder) / "slo.yaml", shipped_slo_path()):
        if candidate.is_file():
            return candidate
    raise BadInput(f"{folder}: no slo.yaml in the folder and no shipped slo.yaml at {shipped_slo_path()}; "
                   f"give --slo FILE")


def evaluate_folder(path: str | os.PathLike, slo_path: str | os.PathLike | None = None, *,
                    endpoint_names: Collection[str] | None = None,
                    environ: Mapping[str, str] | None = None, expected_peak: ExpectedPeak | None = None,
                    metric_names: str | os.PathLike | None = None,
                    out: str | os.PathLike | None = None) -> GateResult:
    """Analyse the folder, judge it, write its reports, and say how to exit.

    Args:
        path: the run's results folder.
        slo_path: the SLO file; default ``<path>/slo.yaml``, else the shipped ``slo.yaml``.
        endpoint_names: the adapter's request names, to reject patterns that match none (see ``load_slo``).
        environ: where ``GITHUB_STEP_SUMMARY`` is looked up (default ``os.environ``).
        expected_peak: what capacity is compared with (default: the July 15 peak; see ``reports.expected_peak``).
        metric_names: a YAML file mapping server metric names to signals (``reports.metric_names``), tried
            before the shipped names.
        out: where the outputs go (default: the folder itself); re-judging with other SLOs, another
            expected peak or other metric names writes elsewhere, so the run's own verdict stays.

    Raises:
        BadInput: the SLO file or the folder is unusable, or the folder cannot be written.
    """
    folder = Path(path)
    target = folder if out is None else Path(out)
    slo_file = resolve_slo_path(folder, slo_path)
    if endpoint_names is None:
        endpoint_names = _recorded_endpoint_names(folder)
    slos: SloSet = load_slo(slo_file, endpoint_names=endpoint_names)
    names = load_metric_names(metric_names)
    analysis = analyse_folder(folder)
    if expected_peak is not None:
        check_expected_peak(expected_peak, analysis.endpoints)
    verdict = judge(analysis, slos)
    if slo_path is None:  # say which file without naming where the folder is, so a copy rebuilds the same bytes
        own = slo_file == folder / "slo.yaml"
        verdict = dataclasses.replace(verdict, slo_source="slo.yaml (the run's copy)" if own else
                                      "slo.yaml (shipped with surgegate)")
    capacity = assess_capacity(analysis, slos, verdict, expected_peak or JULY15_PEAK)
    diagnosis, pool = _diagnose(folder, names, analysis, verdict, capacity)
    findings = {"capacity": capacity, "diagnosis": diagnosis}
    texts = {
        "analysis.json": json.dumps(analysis.to_json(), separators=(",", ":"), sort_keys=True, allow_nan=False) + "\n",
        "verdict.json": render_json(verdict, analysis, **findings),
        "junit.xml": render_junit(verdict, analysis, **findings),
        "summary.md": render_markdown(verdict, analysis, **findings),
        "report.html": render_html(verdict, analysis, server=pool, **findings),
    }
    if target != folder:
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise BadInput(f"--out: cannot make {target}: {error.strerror or error}") from None
        texts["slo.yaml"] = slo_file.read_text(encoding="utf-8")  # what this verdict was judged by
    written = tuple(_write_whole(target, name, text) for name, text in texts.items())
    console = render_console(verdict, analysis, **findings)
    console += f"  reports: {visible(target, None)}/{{{', '.join(OUTPUTS)}}}\n"
    step_summary = (os.environ if environ is None else environ).get("GITHUB_STEP_SUMMARY")
    if step_summary:
        try:
            with open(step_summary, "a", encoding="utf-8") as f:
                f.write(texts["summary.md"] + "\n")
        except OSError as error:
            console += f"  warning: could not append to $GITHUB_STEP_SUMMARY ({error.strerror or error})\n"
    return GateResult(verdict, verdict.exit_code, written, console, analysis, capacity, diagnosis)


def _diagnose(folder: Path, names: MetricNames, analysis: Analysis, verdict: Verdict,
              capacity: Capacity) -> tuple[Diagnosis, ServerSeries]:
    """The root-cause hints, and the pool's series for the report's chart, from one read of server_metrics.jsonl.

    Only the pool's rows outlive this call: every signal of an hour's run is ~50 MB that drawing need not hold.
    """
    series = ServerSeries.read(folder, names)
    return diagnose(analysis, verdict, series, capacity.breaking_point), series.only(POOL_SIGNALS)


def _recorded_endpoint_names(folder: Path) -> list[str] | None:
    """The adapter's endpoint names the run wrote into its manifest, if it did (to check SLO patterns)."""
    try:
        names = json.loads((folder / "manifest.json").read_text(encoding="utf-8")).get("endpoints")
    except (OSError, ValueError, AttributeError):
        return None  # the analysis says what is wrong with the folder
    return names if isinstance(names, list) and names and all(isinstance(n, str) for n in names) else None


def _write_whole(folder: Path, name: str, text: str) -> Path:
    """Write ``name`` whole (``ResultsFolder.write_text``: temporary file, then rename); BadInput if it cannot."""
    try:
        ResultsFolder(folder).write_text(name, text)
    except OSError as error:
        raise BadInput(f"{folder}: cannot write {name}: {error.strerror or error}") from None
    return folder / name
