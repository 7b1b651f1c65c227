"""``surgegate demo`` (``make demo``): July 15 replayed against the stub, before and after the fixes, judged and compared.

    == 1/2  preset incident: the shop of July 15 (a pool of 5 connections, 24 queries per checkout)
       ... the replay's progress, then the verdict: NOT READY, checkout 504s at the peak
    == 2/2  preset fixed: the postmortem's fixes (30 connections, 4 queries, a rate limit)
       ... READY
    == incident -> fixed
       ... what changed, objective by objective

Each run is the real thing a user would type: the stub started on a free
loopback port, ``locust -f locustfiles/flash_sale.py --headless`` replaying
the profile against it, the results folder judged by the shipped
``slo.yaml``; then ``surgegate compare``. Every run is bounded by its
profile (july15: 198 s) and stops by itself.

Exit code: 0 when the demo showed what it should (incident NOT READY, fixed
READY), 1 when it did not, 2 for bad options, 3 when a run could not be
judged.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from surgegate import exit_codes
from surgegate.errors import BadInput

__all__ = ["run", "PRESETS"]

REPO = Path(__file__).resolve().parents[1]
LOCUSTFILE = REPO / "locustfiles" / "flash_sale.py"

PRESETS = (
    ("incident", "the shop of July 15 (a pool of 5 connections, 24 queries per checkout)", exit_codes.NOT_READY),
    ("fixed", "the postmortem's fixes (20+10 connections, 4 queries per checkout, a checkout rate limit)",
     exit_codes.READY),
)
"""Preset, what it is, and the verdict the demo expects of it."""

_VERDICTS = {0: "READY", 1: "NOT READY", 2: "bad input", 3: "INCONCLUSIVE", 4: "INTERRUPTED"}


def _say(text: str = "") -> None:
    print(text, flush=True)


def _replay(preset: str, url: str, args: argparse.Namespace, run_id: str) -> int:
    """Replay the profile against ``url``, showing progress and the verdict; the run's exit code."""
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--profile", args.profile,
               "--host", url, "--results-dir", str(args.results_dir), "--run-id", run_id, "--stop-timeout", "20",
               "--only-summary"]
    if args.time_scale:
        command += ["--time-scale", args.time_scale]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    in_summary = False
    for line in proc.stdout:
        line = line.rstrip()
        if line.startswith("surgegate: ") and "(exit " in line:
            in_summary = True  # the verdict's summary: shown whole, but for the list of report files
        elif in_summary and not line.startswith("  "):
            in_summary = False
        if in_summary:
            if not line.startswith("  reports:"):
                _say("   " + line)
        elif " surgegate: stage " in line or " surgegate: [" in line:
            _say("   " + line[line.index("surgegate: ") + len("surgegate: "):])  # the replay's progress
        elif line.startswith("Error:"):
            _say("   " + line)
        # Locust's own log and tables are left out: the verdict's summary says what matters.
    return proc.wait()


def _progress_note(args: argparse.Namespace) -> str:
    from profiles import load_profile

    try:
        scale = float(args.time_scale) if args.time_scale else None
    except ValueError:
        raise BadInput(f"--time-scale: must be a number, got {args.time_scale!r}") from None
    try:
        profile = load_profile(args.profile, time_scale=scale)
    except BadInput as exc:
        message = str(exc)
        raise BadInput(message if message.startswith(args.profile) else f"--profile: {message}") from None
    return f"replaying {profile.name} ({profile.total_s:.0f} s; stages {', '.join(s.name for s in profile.stages)})"


def run(args: argparse.Namespace) -> int:
    """The demo (``args``: profile, time_scale, results_dir); its exit code.

    Raises:
        BadInput: the profile or time scale is wrong (before any stub starts).
    """
    from target_stub.process import StubProcess

    note = _progress_note(args)  # bad profile or time scale: one line, before any stub starts
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folders: dict[str, Path] = {}
    outcome = exit_codes.READY
    for number, (preset, what, expected) in enumerate(PRESETS, start=1):
        _say(f"== {number}/{len(PRESETS)}  preset {preset}: {what}")
        with StubProcess(preset) as stub:
            _say(f"   stub at {stub.url}; {note}")
            started = time.monotonic()
            run_id = f"demo-{stamp}-{preset}"
            code = _replay(preset, stub.url, args, run_id)
        folder = Path(args.results_dir) / run_id
        folders[preset] = folder
        _say(f"   {_VERDICTS.get(code, code)} after {time.monotonic() - started:.0f} s; reports in {folder}/")
        if code not in (exit_codes.READY, exit_codes.NOT_READY):
            return code  # interrupted, inconclusive or bad input: nothing to compare
        if code != expected:
            outcome = exit_codes.NOT_READY
        _say()
    _say("== incident -> fixed")
    before_after = Path(args.results_dir) / f"demo-{stamp}-incident-vs-fixed.html"
    compared = subprocess.run([sys.executable, "-m", "surgegate", "compare", str(folders["incident"]),
                               str(folders["fixed"]), "--html", str(before_after)], cwd=REPO, capture_output=True,
                              text=True)
    endpoints = False
    for line in compared.stdout.splitlines():  # the objectives and the result; per-endpoint deltas stay in the file
        endpoints = (endpoints or line.startswith("endpoints")) and not line.startswith("result:")
        if not endpoints and not line.startswith("report:"):
            _say("   " + line)
    _say(f"   (per endpoint: .venv/bin/surgegate compare {folders['incident']} {folders['fixed']})")
    _say()
    for preset, _, expected in PRESETS:
        _say(f"{preset:>9}: {folders[preset] / 'report.html'}")
    _say(f"   before/after: {before_after}")
    if outcome == exit_codes.READY:
        _say("As on July 15, the incident preset is NOT READY, and the fixes make it READY.")
    else:
        _say("The demo did not show what it should (incident NOT READY, fixed READY): see the reports above.")
    return outcome
