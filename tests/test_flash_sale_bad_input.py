"""Bad input to the locustfile: one line naming the file or option, the field and the problem; exit 2; nothing sent."""

from __future__ import annotations

import pytest

from target_stub.process import StubProcess
from tests._locust import SHORT_PROFILE, run_locust
from tests._net import free_port

GOOD = SHORT_PROFILE.read_text()


def _profile(tmp_path, text: str) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return str(path)


CASES = [
    pytest.param(lambda tmp: ["--profile", "jully15"],
                 "Error: --profile: unknown profile 'jully15' (did you mean 'july15'?); shipped profiles: capacity, "
                 "july15, july15-open, soak, spike, step, or a path to a .yaml file", id="unknown-profile"),
    pytest.param(lambda tmp: ["--profile", str(tmp / "missing.yaml")],
                 "Error: {tmp}/missing.yaml: no such file", id="missing-file"),
    pytest.param(lambda tmp: ["--profile", _profile(tmp, GOOD.replace("users: 24,", "users: -5,"))],
                 "Error: {tmp}/bad.yaml: stages[1].users: must be >= 0, got -5", id="negative-users"),
    pytest.param(lambda tmp: ["--profile", _profile(tmp, GOOD.replace("spawn_rate: 24,", "spwan_rate: 24,"))],
                 "Error: {tmp}/bad.yaml: stages[1].spwan_rate: unknown key, did you mean 'spawn_rate'?",
                 id="unknown-key"),
    pytest.param(lambda tmp: ["--profile", _profile(tmp, GOOD.replace("spawn_rate: 24,", "spawn_rate: 2,"))],
                 "Error: {tmp}/bad.yaml: stages[1] ('peak'): ramp from 8 to 24 users at 2/s takes 8.0 s but the "
                 "stage lasts 6.0 s after time_scale 1; raise spawn_rate to >= 2.67",
                 id="stage-shorter-than-ramp"),
    pytest.param(lambda tmp: ["--profile", str(SHORT_PROFILE), "--peak-multiplier", "lots"],
                 "Error: --peak-multiplier: must be a number, got 'lots'", id="bad-multiplier"),
    pytest.param(lambda tmp: ["--profile", _profile(tmp, GOOD.replace("users: 24, spawn_rate: 24,", "arrival_rate: 9,"))],
                 "Error: {tmp}/bad.yaml: stages[1].arrival_rate: a profile is all closed (users, spawn_rate) or all "
                 "open (arrival_rate), and stages[0] gives users", id="closed-and-open-stages"),
    pytest.param(lambda tmp: ["--profile", str(SHORT_PROFILE), "--max-in-flight", "50"],
                 f"Error: --max-in-flight: only for open profiles (stages with arrival_rate); profile "
                 f"'{SHORT_PROFILE}' gives users", id="max-in-flight-on-a-closed-profile"),
    pytest.param(lambda tmp: ["--profile", "july15-open", "--max-in-flight", "0"],
                 "Error: --max-in-flight: must be a whole number >= 1, got 0", id="max-in-flight-zero"),
    pytest.param(lambda tmp: ["--profile", str(SHORT_PROFILE), "--adapter", "nope"],
                 "Error: --adapter: unknown adapter 'nope'; use stub, example or module:Class", id="unknown-adapter"),
    pytest.param(lambda tmp: ["--profile", str(SHORT_PROFILE), "--adapter", "example"],
                 "Error: --adapter example: environment variable EXAMPLE_SHOP_TOKEN is not set (it holds the shop's "
                 "API token)", id="missing-secret"),
]


@pytest.fixture(scope="module")
def stub():
    """One stub for every case: each must leave its counters where they were (nothing sent)."""
    stub = StubProcess("fixed").start()
    yield stub
    assert stub.stop() == 0


@pytest.mark.parametrize(("args", "line"), CASES)
def test_bad_input_gives_one_line_exit_2_and_sends_nothing(stub, tmp_path, args, line):
    """Each bad input: the exact line on stderr, exit code 2, and the stub saw no request at all."""
    run = run_locust("--headless", "--host", stub.url, *args(tmp_path), timeout_s=60)
    errors = [l for l in run.stderr.splitlines() if l.startswith("Error:")]
    assert (run.code, errors) == (2, [line.format(tmp=tmp_path)]), run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    sent = {labels: value for labels, value in stub.scrape_gateway().get("shop_gateway_responses_total", {}).items()
            if not dict(labels)["endpoint"].startswith("/metrics")}
    assert sent == {}


@pytest.mark.parametrize(("host", "line"), [
    ("http://shop.invalid:8000", "Error: --host: shop.invalid is not a loopback address; surgegate sends load only "
     "to loopback unless told otherwise: add --allow-target shop.invalid"),
    ("ftp://127.0.0.1", "Error: --host: must be an http(s) URL such as http://127.0.0.1:8000, got 'ftp://127.0.0.1'"),
])
def test_target_that_is_not_allowed_is_refused_before_any_load(host, line):
    """A non-loopback host without --allow-target (or a non-HTTP URL): one line, exit 2."""
    run = run_locust("--headless", "--profile", str(SHORT_PROFILE), "--host", host, timeout_s=60)
    assert (run.code, [l for l in run.stderr.splitlines() if l.startswith("Error:")]) == (2, [line])


def test_missing_host_in_headless_mode_is_bad_input():
    """Headless without --host: one line saying how to give it, exit 2."""
    run = run_locust("--headless", "--profile", str(SHORT_PROFILE), timeout_s=60)
    assert run.code == 2
    assert [l for l in run.stderr.splitlines() if l.startswith("Error:")] == [
        "Error: --host: no target given; e.g. --host http://127.0.0.1:8000 (python -m target_stub prints it)"]


def test_target_that_answers_nothing_is_inconclusive_before_any_load(tmp_path):
    """Nothing listening at --host: one line naming it, exit 3 (inconclusive), no results folder, no run of the
    whole profile against refused connections."""
    port = free_port()
    run = run_locust("--headless", "--profile", str(SHORT_PROFILE), "--host", f"http://127.0.0.1:{port}",
                     "--results-dir", str(tmp_path / "results"), timeout_s=60)
    assert (run.code, [line for line in run.stderr.splitlines() if line.startswith("Error:")]) == (3, [
        f"Error: --host: nothing answers at 127.0.0.1:{port} (connection refused); no load was sent, the run is "
        "inconclusive"]), run.stderr[-2000:]
    assert "Traceback" not in run.stderr and not (tmp_path / "results").exists()
