"""Real runs of ``tests/data/surge.yaml`` against the real stub, shared by the gate and report tests.

Each preset is run once per test session, on demand, the way a user runs it: the stub on a free
loopback port, real Locust as a subprocess, the gate writing its reports at the end of the run.
About 33 s each (a 28 s surge). What the stub's own counters said after the run is kept with it,
so tests can reconcile the folder with them after the stub is gone.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from target_stub.process import StubProcess
from target_stub.scrape import Samples
from tests._locust import REPO, LocustRun, run_locust, stub_answers

SURGE = REPO / "tests" / "data" / "surge.yaml"
_RUNS: dict[str, SurgeRun] = {}


@dataclass(frozen=True)
class SurgeRun:
    """What Locust did, the results folder it wrote, and the stub's counters after the run."""

    run: LocustRun
    folder: Path
    gateway: Samples
    """The gateway's metrics scraped after the run (``StubProcess.scrape_gateway``)."""
    answers: Counter
    """What the gateway answered by (method, endpoint as Locust names it) (``tests._locust.stub_answers``)."""


def surge_run(root: Path, preset: str) -> SurgeRun:
    """The surge against ``preset``, run once into ``root`` (the first caller's) and remembered. Do not modify
    the folder: copy it first."""
    if preset not in _RUNS:
        stub = StubProcess(preset).start()
        try:
            run = run_locust("--headless", "--profile", str(SURGE), "--host", stub.url, "--stop-timeout", "20",
                             "--results-dir", str(root), "--run-id", preset, "--only-summary")
            gateway, answers = stub.scrape_gateway(), stub_answers(stub)
        finally:
            code = stub.stop()
        assert code == 0, f"the {preset} stub did not stop cleanly (exit {code})"
        _RUNS[preset] = SurgeRun(run, root / preset, gateway, answers)
    return _RUNS[preset]
