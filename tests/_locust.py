"""Run real Locust on surgegate's locustfile, as a user would, and read what it wrote."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import tempfile
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCUSTFILE = REPO / "locustfiles" / "flash_sale.py"
SHORT_PROFILE = REPO / "tests" / "data" / "short.yaml"


@dataclass
class LocustRun:
    """The exit code, the output, and Locust's own counts by (method, name)."""

    code: int
    stdout: str
    stderr: str
    requests: dict[tuple[str, str], int] = field(default_factory=dict)
    failures: dict[tuple[str, str], int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    """Endpoint name -> Locust's failure message (from its failures CSV)."""


def locust_command(*args: str) -> list[str]:
    """``locust -f locustfiles/flash_sale.py ARGS`` with this interpreter's Locust."""
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *args]


def locust_env(extra: dict | None = None) -> dict:
    """The environment of a test run: the repo importable (for test-only adapters), plus ``extra``."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    env.pop("EXAMPLE_SHOP_TOKEN", None)
    env.update(extra or {})
    return env


def run_locust(*args: str, json_file: Path | None = None, env: dict | None = None,
               timeout_s: float = 180) -> LocustRun:
    """Run Locust as given, wait for it, and read its final stats if ``json_file`` is given.

    Locust's ``--json-file`` is written at shutdown, after the last user
    stopped; its CSV files are rewritten only once a second and can miss the
    last second of a run, so they are not used to reconcile counts.
    """
    # Locust appends ".json" to the name it is given.
    cmd = locust_command(*args)
    if "--results-dir" not in args:  # never litter the repository with run folders
        cmd += ["--results-dir", tempfile.mkdtemp(prefix="surgegate-test-results-")]
    if json_file is not None:
        cmd += ["--json-file", str(json_file.with_suffix("")), "--csv", str(json_file.with_suffix(""))]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, cwd=REPO, env=locust_env(env))
    run = LocustRun(done.returncode, done.stdout, done.stderr)
    if json_file is not None and json_file.exists():
        for entry in json.loads(json_file.read_text()):
            key = (entry["method"], entry["name"])
            run.requests[key] = entry["num_requests"]
            run.failures[key] = entry["num_failures"]
        with open(json_file.with_name(json_file.stem + "_failures.csv"), newline="") as f:
            run.errors = {row["Name"]: row["Error"] for row in csv.DictReader(f)}
    return run
