"""Real runs against the real stub, each played once per test session and shared by the tests that read it.

    steps_run(root, preset, *locust_args, stub_args=())   tests/data/steps.yaml (diagnosis, capacity): three
                                                          5-second steps of 8, 24 and 60 shoppers and a 3-second
                                                          cool-down, about 23 s
    surge_run(root, preset)                               tests/data/surge.yaml (gate, report): the 28 s surge,
                                                          about 33 s

Each is run on demand, the way a user runs it: the stub on a free loopback port, real Locust as a
subprocess (``tests._locust.run_locust``), the gate writing its reports at the end of the run. What
the stub's own counters said after the run is kept with it, so that tests can reconcile the folder
with them after the stub is gone. The folder is shared: copy it before changing anything in it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from target_stub.process import StubProcess
from target_stub.scrape import Samples
from tests._locust import REPO, LocustRun, run_locust, stub_answers

STEPS = REPO / "tests" / "data" / "steps.yaml"
SURGE = REPO / "tests" / "data" / "surge.yaml"
_RUNS: dict[tuple, SharedRun] = {}

__all__ = ["SharedRun", "steps_run", "surge_run", "STEPS", "SURGE"]


@dataclass(frozen=True)
class SharedRun:
    """What Locust did, the results folder it wrote (with the gate's outputs), and the stub's counters after."""

    run: LocustRun
    folder: Path
    gateway: Samples
    """The gateway's metrics scraped after the run (``StubProcess.scrape_gateway``)."""
    answers: Counter
    """What the gateway answered by (method, endpoint as Locust names it) (``tests._locust.stub_answers``)."""

    @property
    def verdict(self) -> dict:
        """The folder's verdict.json, as the run's own gate wrote it."""
        return json.loads((self.folder / "verdict.json").read_text())


def _run_once(root: Path, profile: Path, run_id: str, preset: str, locust_args: tuple[str, ...],
              stub_args: tuple[str, ...]) -> SharedRun:
    key = (profile, preset, locust_args, stub_args)
    if key not in _RUNS:
        stub = StubProcess(preset, args=list(stub_args)).start()
        try:
            run = run_locust("--headless", "--profile", str(profile), "--host", stub.url, "--stop-timeout", "20",
                             "--results-dir", str(root), "--run-id", run_id, "--only-summary", *locust_args)
            gateway, answers = stub.scrape_gateway(), stub_answers(stub)
        finally:
            code = stub.stop()
        assert code == 0, f"the {preset} stub did not stop cleanly (exit {code})"
        assert (root / run_id / "verdict.json").is_file(), run.stdout[-3000:] + run.stderr[-3000:]
        _RUNS[key] = SharedRun(run, root / run_id, gateway, answers)
    return _RUNS[key]


def steps_run(root: Path, preset: str, *locust_args: str, stub_args: tuple[str, ...] = ()) -> SharedRun:
    """The steps profile against ``preset`` (with ``stub_args``), run once into ``root`` and remembered."""
    run_id = "-".join(["steps", preset, *(a.strip("-") for a in (*locust_args, *stub_args))]).replace("/", "_")
    return _run_once(root, STEPS, run_id, preset, locust_args, stub_args)


def surge_run(root: Path, preset: str) -> SharedRun:
    """The surge against ``preset``, run once into ``root`` and remembered."""
    return _run_once(root, SURGE, preset, preset, (), ())
