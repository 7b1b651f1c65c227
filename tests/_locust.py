"""Run real Locust on surgegate's locustfile, as a user would, and read what it wrote."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import tempfile
import sys
from collections import Counter
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
    recorded: Counter = field(default_factory=Counter)
    """surgegate's own totals from the results folder: (method, name, kind, status) -> count."""

    def answered(self) -> Counter:
        """Recorded requests by (method, name) that reached the target and got an answer.

        Not those refused before sending (``refused_target`` with no status), nor ``cancelled`` ones.
        """
        return _by_name(self.recorded, lambda kind, status: kind != "cancelled" and status != 0)

    def cancelled(self) -> Counter:
        """Recorded requests by (method, name) whose shopper was stopped before the answer."""
        return _by_name(self.recorded, lambda kind, status: kind == "cancelled")

    def all(self) -> Counter:
        """Every recorded request by (method, name), as Locust counts them."""
        return _by_name(self.recorded, lambda kind, status: True)


def _by_name(recorded: Counter, keep) -> Counter:
    out: Counter = Counter()
    for (method, name, kind, status), count in recorded.items():
        if keep(kind, status):
            out[(method, name)] += count
    return out


def assert_reconciled(run: LocustRun, seen: dict) -> None:
    """Every request the target saw is recorded, and every recorded one was seen, except cancelled ones.

    A request whose shopper was stopped mid-flight is ``cancelled``: it may or may not have reached the target.
    """
    answered, cancelled = run.answered(), run.cancelled()
    for key in set(seen) | set(answered) | set(cancelled):
        assert answered[key] <= seen.get(key, 0) <= answered[key] + cancelled[key], (key, answered, cancelled, seen)


@dataclass(frozen=True)
class _Response:
    status_code: int


def request_event(start_time_s: float, name: str, method: str, status: int, kind: str, response_time_us: int,
                  response_bytes: int, journey: str = "", due_time_s: float | None = None) -> dict:
    """The keyword arguments of Locust's ``request`` event for a request of these fields (``RequestRecord``'s, in
    its order): ``kind`` "ok" (no exception) or "status" (an error with the status); the recorder's only way in."""
    if kind not in ("ok", "status"):
        raise ValueError(f"request_event makes ok and status requests, not {kind!r}")
    return {"request_type": method, "name": name, "response_time": response_time_us / 1000,
            "response_length": response_bytes, "exception": None if kind == "ok" else RuntimeError(f"HTTP {status}"),
            "response": _Response(status), "start_time": start_time_s, "url": name,
            "context": {"journey": journey, **({} if due_time_s is None else {"due_s": due_time_s})}}


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
    results_dir = None
    if "--results-dir" not in args:  # never litter the repository with run folders
        results_dir = Path(tempfile.mkdtemp(prefix="surgegate-test-results-"))
        cmd += ["--results-dir", str(results_dir)]
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
    if results_dir is not None:
        for totals in results_dir.glob("*/totals.json"):
            for row in json.loads(totals.read_text())["totals"]:
                run.recorded[(row["method"], row["name"], row["kind"], row["status"])] += row["count"]
        shutil.rmtree(results_dir, ignore_errors=True)
    return run


def stub_answers(stub) -> Counter:
    """What the stub's gateway answered, by (method, endpoint as Locust names it), from its own counters."""
    seen: Counter = Counter()
    for labels, value in stub.scrape_gateway().get("shop_gateway_responses_total", {}).items():
        d = dict(labels)
        if not d["endpoint"].startswith("/metrics"):
            seen[(d["method"], d["endpoint"].replace("{id}", "[id]"))] += int(value)
    return seen


def folder_counts(folder: Path) -> tuple[Counter, Counter]:
    """A results folder's totals by (method, name): (answered or failed without being cancelled, cancelled)."""
    answered: Counter = Counter()
    cancelled: Counter = Counter()
    for row in json.loads((folder / "totals.json").read_text())["totals"]:
        key = (row["method"], row["name"])
        if row["kind"] == "cancelled":
            cancelled[key] += row["count"]
        elif row["status"] != 0:  # not refused before sending, nor without an answer
            answered[key] += row["count"]
    return answered, cancelled


def assert_folder_reconciled(folder: Path, seen: Counter) -> None:
    """Every answer the stub gave is in the folder, as answered or cancelled, and nothing more."""
    answered, cancelled = folder_counts(folder)
    assert sum(seen.values()) > 0
    for key in set(seen) | set(answered) | set(cancelled):
        assert answered[key] <= seen[key] <= answered[key] + cancelled[key], (key, answered, cancelled, seen)
