"""The ``surgegate`` command: judge and compare results folders after a run.

    surgegate report DIR [--slo FILE] [--expected-peak LOAD] [--metric-names FILE] [--out OUTDIR]
        Rebuild analysis.json, verdict.json, junit.xml, summary.md and report.html in DIR from the folder alone,
        print the summary, and exit with the verdict's code (0 READY, 1 NOT READY, 3 INCONCLUSIVE,
        4 INTERRUPTED). The SLOs are FILE, else DIR/slo.yaml, else the shipped slo.yaml. Capacity is
        compared with LOAD ('N users' or 'N rps [ENDPOINT]', default the July 15 peak); root-cause hints
        read the server's metrics under the names of --metric-names FILE, then the shipped ones.
        Re-judging with --slo, --expected-peak or --metric-names writes into DIR/rejudged (or --out
        OUTDIR), so that the run's own verdict stays as the run judged it.
    surgegate compare BASE CURRENT [--tolerance PCT] [--slo FILE] [--expected-peak LOAD] [--html FILE]
        Judge both runs by the same SLOs (FILE, else CURRENT/slo.yaml, else the shipped one), print
        what changed per objective and endpoint, and exit 1 when CURRENT is worse than BASE beyond
        the tolerance on any of them, else 0. --html also writes CURRENT's readiness report with a
        before/after section against BASE to FILE (the run folders are not touched).
    surgegate demo [--profile NAME|FILE] [--time-scale X] [--results-dir DIR]
        ``make demo``: July 15 replayed against the stub's incident and fixed presets, judged and
        compared (see ``surgegate.demo``).
    surgegate --version

Bad input (a missing folder, not a results folder, an unreadable file, a bad SLO file, bad
arguments) is one ``Error:`` line on stderr and exit 2. This is the only place that catches
``SurgegateError``. Nothing here imports Locust.
"""

from __future__ import annotations

import argparse
import difflib
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import surgegate
from surgegate import exit_codes
from surgegate.errors import BadInput, SurgegateError

__all__ = ["main", "build_parser"]

_COMMANDS = ("report", "compare", "demo")


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one ``Error:`` line with a "did you mean" hint, and exit 2."""

    def error(self, message: str) -> NoReturn:
        hint = ""
        if "invalid choice" in message:
            given = message.split("'")[1] if "'" in message else ""
            close = difflib.get_close_matches(given, _COMMANDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
        self.print_usage(sys.stderr)
        print(f"Error: {message}{hint}", file=sys.stderr)
        sys.exit(exit_codes.BAD_INPUT)


def _tolerance(text: str) -> float:
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a percentage like 10 or 10%, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command line: ``report`` and ``compare``."""
    parser = _Parser(prog="surgegate", description="Judge and compare surgegate results folders.")
    parser.add_argument("--version", action="version", version=f"surgegate {surgegate.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    report = commands.add_parser("report", help="rebuild a run's verdict and reports from its results folder")
    report.add_argument("folder", metavar="DIR", help="the run's results folder")
    report.add_argument("--slo", metavar="FILE", help="SLO file (default: DIR/slo.yaml, else the shipped slo.yaml)")
    report.add_argument("--out", metavar="OUTDIR", help="write the outputs there (default: DIR itself, or "
                        "DIR/rejudged with --slo, --expected-peak or --metric-names)")
    report.add_argument("--expected-peak", metavar="LOAD",
                        help="the load to compare capacity with: 'N users' or 'N rps [ENDPOINT]' "
                             "(e.g. '20 rps POST /checkout'); default: the July 15 peak")
    report.add_argument("--metric-names", metavar="FILE",
                        help="YAML mapping your server metrics to the signals root-cause hints read, tried before "
                             "the shipped names (reports/metric_names.yaml)")
    demo = commands.add_parser("demo", help="July 15 against the stub, before and after the fixes (make demo)")
    demo.add_argument("--profile", default="july15", help="the profile to replay (default: july15, 198 s)")
    demo.add_argument("--time-scale", default="", help="override the profile's time scale")
    demo.add_argument("--results-dir", default="results", help="where the run folders go (default: results)")
    compare = commands.add_parser("compare", help="what changed between two runs; exit 1 when CURRENT is worse")
    compare.add_argument("base", metavar="BASE", help="the baseline run's results folder")
    compare.add_argument("current", metavar="CURRENT", help="the run to check against it")
    compare.add_argument("--tolerance", metavar="PCT", type=_tolerance, default=10.0,
                         help="how much worse than BASE a metric may get, in percent of BASE's value (default 10)")
    compare.add_argument("--html", metavar="FILE",
                         help="also write CURRENT's readiness report, with before/after against BASE, to FILE")
    compare.add_argument("--slo", metavar="FILE",
                         help="SLO file for both runs (default: CURRENT/slo.yaml, else the shipped slo.yaml)")
    compare.add_argument("--expected-peak", metavar="LOAD",
                         help="the load both runs' capacity is compared with (as for report); default: the July 15 "
                              "peak")
    return parser


def _report(args: argparse.Namespace) -> int:
    from reports.expected_peak import parse_expected_peak
    from reports.gate import evaluate_folder

    expected = None if args.expected_peak is None else parse_expected_peak(args.expected_peak)
    out = args.out
    if out is None and (args.slo or args.expected_peak or args.metric_names):
        out = str(Path(args.folder) / "rejudged")  # the run's own verdict stays as the run judged it
    result = evaluate_folder(args.folder, args.slo, expected_peak=expected, metric_names=args.metric_names,
                             out=out)
    sys.stdout.write(result.console)
    return result.exit_code


def _write_html_comparison(path: Path, base: tuple, current: tuple, tolerance_pct: float, capacities: tuple) -> None:
    """``compare --html FILE``: the current run's report with before/after, written whole (temporary file, rename)."""
    from reports.render_html import render_html
    from reports.results_folder import ResultsFolder

    (analysis, verdict) = current
    text = render_html(verdict, analysis, capacity=capacities[1], baseline=base, baseline_capacity=capacities[0],
                       tolerance_pct=tolerance_pct)
    try:
        ResultsFolder(path.parent).write_text(path.name, text)
    except OSError as error:
        raise BadInput(f"--html: cannot write {path}: {error.strerror or error}") from None


def _compare(args: argparse.Namespace) -> int:
    from reports.analysis import analyse_folder
    from reports.capacity import assess_capacity
    from reports.compare import compare_runs, render_comparison
    from reports.expected_peak import JULY15_PEAK, check_expected_peak, parse_expected_peak
    from reports.gate import resolve_slo_path
    from reports.slo import load_slo
    from reports.verdict import judge

    expected = JULY15_PEAK if args.expected_peak is None else parse_expected_peak(args.expected_peak)
    for folder in (args.base, args.current):  # both, before the slow part, so a typo fails fast
        if not Path(folder).is_dir():
            raise BadInput(f"{folder}: no such results folder")
    slos = load_slo(resolve_slo_path(args.current, args.slo))
    runs, capacities = [], []
    for folder in (args.base, args.current):
        analysis = analyse_folder(folder)
        if args.expected_peak is not None:
            check_expected_peak(expected, analysis.endpoints)
        verdict = judge(analysis, slos)
        runs.append((analysis, verdict))
        capacities.append(assess_capacity(analysis, slos, verdict, expected))
    comparison = compare_runs(runs[0], runs[1], args.tolerance, tuple(capacities))
    if args.html:
        _write_html_comparison(Path(args.html), runs[0], runs[1], args.tolerance, tuple(capacities))
    sys.stdout.write(render_comparison(comparison))
    if args.html:
        sys.stdout.write(f"report: {args.html}\n")
    return exit_codes.NOT_READY if comparison.worse else exit_codes.READY


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (the console script exits with it)."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            from surgegate import demo

            return demo.run(args)
        return _report(args) if args.command == "report" else _compare(args)
    except SurgegateError as error:
        print(f"Error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return exit_codes.INTERRUPTED
