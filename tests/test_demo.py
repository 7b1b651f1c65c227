"""`make demo` end to end, on the 14 s test profile: incident NOT READY, fixed READY, compared, exit 0."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests._locust import REPO


def test_demo_shows_the_incident_failing_and_the_fixes_passing(tmp_path):
    """The demo replays the profile against both presets, prints both verdicts and the comparison, and exits 0."""
    done = subprocess.run([sys.executable, "-m", "surgegate", "demo", "--profile", str(REPO / "tests" / "data" / "short.yaml"),
                           "--results-dir", str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "== 1/2  preset incident" in out and "== 2/2  preset fixed" in out and "== incident -> fixed" in out
    assert "surgegate: NOT READY (exit 1)" in out and "surgegate: READY (exit 0)" in out
    assert "checkout-p95-peak: p95 " in out and "fail -> pass" in out  # the comparison shows what the fixes fixed
    assert "As on July 15, the incident preset is NOT READY, and the fixes make it READY." in out
    verdicts = {folder.name.rsplit("-", 1)[1]: json.loads((folder / "verdict.json").read_text())["verdict"]
                for folder in tmp_path.iterdir() if folder.is_dir()}
    reports = [line.split(": ", 1)[1] for line in out.splitlines() if line.strip().startswith(
        ("incident: ", "fixed: ", "before/after: "))]
    assert len(reports) == 3 and all(path.endswith(".html") and Path(path).is_file() for path in reports), reports
    assert verdicts == {"incident": "NOT_READY", "fixed": "READY"}
    assert "Traceback" not in done.stdout + done.stderr


def test_demo_bad_profile_is_one_line_and_starts_nothing(tmp_path):
    """A misspelt profile: one Error line, exit 2, no run folder."""
    done = subprocess.run([sys.executable, "-m", "surgegate", "demo", "--profile", "jully15", "--results-dir",
                           str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("Error: ") and len(done.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
