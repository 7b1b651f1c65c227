"""Real runs of ``tests/data/steps.yaml`` against the real stub, shared by the diagnosis and capacity tests.

Each (preset, options) is run once per test session, on demand: the stub on a free loopback port,
real Locust as a subprocess (``tests._locust.run_locust``), the gate writing its reports at the end
of the run as it does for a user. About 23 s each: three 5-second steps of 8, 24 and 60 shoppers
and a 3-second cool-down.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from target_stub.process import StubProcess
from tests._locust import REPO, LocustRun, run_locust

STEPS = REPO / "tests" / "data" / "steps.yaml"
_RUNS: dict[tuple, StepsRun] = {}


@dataclass(frozen=True)
class StepsRun:
    """What Locust did and the results folder it wrote (with the gate's verdict.json)."""

    run: LocustRun
    folder: Path

    @property
    def verdict(self) -> dict:
        """The folder's verdict.json, as the run's own gate wrote it."""
        return json.loads((self.folder / "verdict.json").read_text())


def steps_run(root: Path, preset: str, *locust_args: str, stub_args: tuple[str, ...] = ()) -> StepsRun:
    """The steps profile against ``preset`` (with ``stub_args``), run once into ``root`` and remembered."""
    key = (preset, locust_args, stub_args)
    if key not in _RUNS:
        run_id = "-".join([preset, *(a.strip("-") for a in (*locust_args, *stub_args))]).replace("/", "_")
        stub = StubProcess(preset, args=list(stub_args)).start()
        try:
            run = run_locust("--headless", "--profile", str(STEPS), "--host", stub.url, "--stop-timeout", "20",
                             "--results-dir", str(root), "--run-id", run_id, "--only-summary", *locust_args)
        finally:
            code = stub.stop()
        assert code == 0, f"the {preset} stub did not stop cleanly (exit {code})"
        assert (root / run_id / "verdict.json").is_file(), run.stdout[-3000:] + run.stderr[-3000:]
        _RUNS[key] = StepsRun(run, root / run_id)
    return _RUNS[key]
