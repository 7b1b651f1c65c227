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
    surgegate profile from-log LOG -o OUT.yaml [--format auto|combined|csv] [--from TIME] [--to TIME]
            [--interval 10s] [--time-scale X] [--adapter stub|example|module:Class] [--name NAME]
            [--max-in-flight N] [--mix browser=W,abandoner=W,buyer=W,sniper=W]
        Turn an access log (combined format, or a timestamp,count CSV) into an open-model profile:
        journeys started per second in each interval, and the journey mix fitted to the requests per
        funnel step (the adapter's url_patterns); validated, written to OUT, summarised (see
        ``profiles.from_log``).
    surgegate --version

Bad input (a missing folder, not a results folder, an unreadable file, a bad SLO file, bad
arguments) is one ``Error:`` line on stderr and exit 2. This is the only place that catches
``SurgegateError``. Nothing here imports Locust.
"""

from __future__ import annotations

import argparse
import difflib
import math
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import surgegate
from surgegate import exit_codes
from surgegate.errors import BadInput, SurgegateError

__all__ = ["main", "build_parser"]

_COMMANDS = ("report", "compare", "demo", "profile")


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one ``Error:`` line with a "did you mean" hint, and exit 2."""

    def error(self, message: str) -> NoReturn:
        hint = ""
        if "invalid choice" in message:
            given = message.split("'")[1] if "'" in message else ""
            choices = re.findall(r"'([^']*)'", message.partition("choose from")[2]) or _COMMANDS
            close = difflib.get_close_matches(given, choices, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
        self.print_usage(sys.stderr)
        print(f"Error: {message}{hint}", file=sys.stderr)
        sys.exit(exit_codes.BAD_INPUT)


def _argument(parse, in_range, what: str, bounds: str):
    """An argparse ``type``: ``parse(text)``, else "must be {what}"; a value outside ``in_range``: "must be {bounds}"."""
    def convert(text: str):
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        if not math.isfinite(value) or not in_range(value):
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {text!r}")
        return value
    return convert


_tolerance = _argument(lambda text: float(text.rstrip("%")), lambda v: v >= 0, "a percentage like 10 or 10%", ">= 0")
_positive_fraction = _argument(float, lambda v: 0 < v <= 1, "a number in (0, 1]", "> 0 and <= 1")
_at_least_one = _argument(int, lambda v: v >= 1, "a whole number >= 1", ">= 1")


def _mix(text: str) -> dict[str, int]:
    """``browser=60,buyer=40`` as a mix, checked like a profile's."""
    from profiles._schema import Fields

    weights: dict[str, object] = {}
    for part in text.split(","):
        journey, equals, weight = part.partition("=")
        if not equals:
            raise argparse.ArgumentTypeError(f"must be JOURNEY=WEIGHT,... like browser=60,buyer=40, got {text!r}")
        weights[journey.strip()] = int(weight) if weight.strip().isdigit() else weight.strip()
    try:
        return dict(Fields("--mix").mix("mix", weights))
    except BadInput as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("--mix: ")) from None


def _add_profile_commands(commands) -> None:
    """``profile from-log``: make a profile from an access log."""
    profile = commands.add_parser("profile", help="make load profiles")
    made = profile.add_subparsers(dest="profile_command", required=True, metavar="SUBCOMMAND",
                                  parser_class=_Parser)
    log = made.add_parser("from-log", help="an open-model profile from an access log (combined format or CSV)")
    log.add_argument("log", metavar="LOG", help="the access log: nginx/Apache combined format, or timestamp,count CSV")
    log.add_argument("-o", "--out", metavar="OUT.yaml", required=True, help="the profile file to write")
    log.add_argument("--format", dest="fmt", choices=("auto", "combined", "csv"), default="auto",
                     help="the log's format (default: auto, from its first lines)")
    log.add_argument("--from", dest="start", metavar="TIME",
                     help="window start: +DURATION after the first record, HH:MM[:SS], ISO 8601 or the log's own "
                          "format (default: the first record)")
    log.add_argument("--to", dest="end", metavar="TIME", help="window end, excluded (default: after the last record)")
    log.add_argument("--interval", default="10s", help="length of one stage, whole seconds: '10s', '1m' (default 10s)")
    log.add_argument("--time-scale", type=_positive_fraction, default=1.0,
                     help="the profile's time_scale, in (0, 1]: replay seconds per second of the log (default 1)")
    log.add_argument("--adapter", default="stub", help="whose url_patterns map URLs to funnel steps: stub (default), "
                                                       "example, or module:Class")
    log.add_argument("--name", help="the profile's name (default: from the log's file name)")
    log.add_argument("--max-in-flight", type=_at_least_one, help="the profile's max_in_flight (default: none written)")
    log.add_argument("--mix", type=_mix, help="the journey mix, e.g. browser=60,abandoner=20,buyer=15,sniper=5 "
                                             "(default: fitted to the log; a CSV's is assumed)")


def build_parser() -> argparse.ArgumentParser:
    """The command line: ``report``, ``compare``, ``demo`` and ``profile from-log``."""
    parser = _Parser(prog="surgegate", description="Judge and compare surgegate results folders; make profiles from access logs.")
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
    _add_profile_commands(commands)
    return parser


def _profile_from_log(args: argparse.Namespace) -> int:
    from locustfiles.run_context import adapter_class
    from profiles.from_log import FromLogOptions, profile_from_log

    options = FromLogOptions(
        log=args.log, out=args.out, fmt=args.fmt, start=args.start, end=args.end, interval=args.interval,
        time_scale=args.time_scale, patterns=adapter_class(args.adapter).url_patterns, adapter=args.adapter,
        name=args.name, max_in_flight=args.max_in_flight, mix=args.mix,
    )
    sys.stdout.write(profile_from_log(options).summary)
    return exit_codes.READY


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
        if args.command == "profile":
            return _profile_from_log(args)
        return _report(args) if args.command == "report" else _compare(args)
    except SurgegateError as error:
        print(f"Error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return exit_codes.INTERRUPTED
