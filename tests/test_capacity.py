"""Capacity: load levels, the sustainable capacity, the breaking point, the knee and the headroom, on folders
written by hand (answers worked by hand), on the july15 profile itself, and on real runs against the real stub."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from profiles import load_profile
from reports.analysis import analyse_folder
from reports.capacity import Level, assess_capacity, find_knee, find_levels
from reports.expected_peak import JULY15_PEAK, ExpectedPeak, Measure, check_expected_peak, parse_expected_peak
from reports.slo import parse_slo
from reports.verdict import judge
from surgegate.errors import BadInput
from tests._stub_runs import steps_run
from tests.test_analysis import RunFolder

STAGES = (("s1", 0.0, 10.0, 10, False), ("s2", 10.0, 20.0, 20, False), ("s3", 20.0, 30.0, 40, True),
          ("cool", 30.0, 40.0, 30, False))
SLO = {"objectives": [
    {"name": "checkout-504", "endpoint": "POST /checkout", "metric": "status_rate", "status": 504, "bound": "1%",
     "scope": {"stage": "peak", "window": "5s"}},
    {"name": "checkout-p95", "endpoint": "POST /checkout", "metric": "p95", "bound": "1s", "scope": {"stage": "peak"}},
    {"name": "recovery", "metric": "error_rate", "bound": "1%", "recovery": {"after": "peak", "within": "5s"}},
    {"name": "throughput-floor", "metric": "throughput", "bound": "100/s"},
]}


def stepped_run(tmp_path: Path, *, break_at_s3: bool = True) -> Path:
    """Four stages: 10, 20, 40 and 30 users, ramps of one or two seconds in load.jsonl.

    Checkouts: 10/s at 40 ms, 20/s at 60 ms, 40/s at 80 ms (in 25-29 s five of them 504s after 2 s), 30/s at 50 ms.
    """
    folder = RunFolder(tmp_path / "run", stages=STAGES)
    for t in range(40):
        per_second, ms = (10, 40.0) if t < 10 else (20, 60.0) if t < 20 else (40, 80.0) if t < 30 else (30, 50.0)
        bad = 5 if break_at_s3 and 25 <= t < 30 else 0
        folder.add(t, "/checkout", method="POST", times_ms=[ms] * (per_second - bad), status=201)
        if bad:
            folder.add(t, "/checkout", method="POST", status=504, kind="status", times_ms=[2000.0] * bad)
    samples = {t: (10, 10) for t in range(1, 11)} | {11: (15, 20)} | {t: (20, 20) for t in range(12, 21)} | \
        {21: (30, 40), 22: (35, 40)} | {t: (40, 40) for t in range(23, 31)} | {t: (30, 30) for t in range(31, 41)}
    folder.load = [{"t": float(t), "stage": None, "users": users, "target_users": target, "rps": 10.0,
                    "cpu_percent": 10.0} for t, (users, target) in sorted(samples.items())]
    return folder.write()


def capacity_of(path: Path, expected: ExpectedPeak = JULY15_PEAK, slo: dict = SLO):
    analysis = analyse_folder(path)
    slos = parse_slo(yaml.safe_dump(slo), "slo.yaml")
    return analysis, assess_capacity(analysis, slos, judge(analysis, slos), expected)


def test_levels_are_constant_load_and_leave_ramps_out(tmp_path):
    """A second is level when users equal the target at both its ends: ramps (11 s, 21-22 s) and stage changes
    (10 s, 20 s, 30 s) are left out; window 0 has no sample at its start."""
    analysis = analyse_folder(stepped_run(tmp_path))
    assert find_levels(analysis) == [("s1", 1, 10, 10), ("s2", 12, 20, 20), ("s3", 23, 30, 40), ("cool", 31, 40, 30)]


def test_capacity_breaking_point_and_knee_worked_by_hand(tmp_path):
    """s1 and s2 hold, s3 breaks at 25 s (504s and p95), cool holds but after the failure and is left out."""
    analysis, capacity = capacity_of(stepped_run(tmp_path))
    levels = {lv.name: lv for lv in capacity.levels}
    assert [(lv.name, lv.status, lv.after_failure) for lv in capacity.levels] == [
        ("s1", "held", False), ("s2", "held", False), ("s3", "failed", False), ("cool", "held", True)]
    # Recovery and throughput floors are not judged per level: two objectives each.
    assert {lv.judged for lv in capacity.levels} == {2} and levels["s3"].failed == ("checkout-504", "checkout-p95")
    assert (capacity.sustainable.name, capacity.broke_at.name) == ("s2", "s3")  # not cool's 30 users
    s3 = levels["s3"]
    assert (s3.first_s, s3.stop_s, s3.requests_per_s) == (23, 30, 40.0)
    assert s3.ok_per_s == pytest.approx(255 / 7, abs=1e-3)  # 7 s x 40, 25 of them 504s
    # 25/280 = 8.9% are 2 s; each read as its bucket's middle
    assert (levels["s1"].p95_ms, levels["s2"].p95_ms, s3.p95_ms) == (40.016, 60.016, 2000.384)
    assert s3.endpoints["POST /checkout"]["requests"] == 280
    # Both objectives first fail at 25 s (the 5 s window 23-28 holds 15 of 200, its first bad second is 25).
    assert capacity.breaking_point == {"t_s": 25, "stage": "s3", "users": 40, "target_users": 40, "rps": 10.0,
                                       "objective": "checkout-504", "metric": "status 504 rate",
                                       "observed_text": "7.5%"}
    # s1 -> s2: p95 x1.5 for throughput x2 (elasticity 0.58); s2 -> s3: p95 60 -> 2000 ms (x33.3) for 20 -> 36.4
    # ok/s (x1.82): ln 33.3 / ln 1.82 = 5.85, over 3.
    knee = capacity.knee
    assert (knee.below.name, knee.above.name, knee.endpoint, knee.elasticity) == ("s2", "s3", None, 5.85)
    assert knee.text == ("knee between 20 and 40 users: p95 of all requests 60 ms -> 2 s as ok throughput went "
                         "20 -> 36.4 req/s (latency grew 5.8 times as fast as throughput)")
    assert capacity.summary[0] == ("capacity: held 20 users (stage s2, 20 req/s); broke at 40 users (stage s3, "
                                   "40 req/s) (first breach at t=25 s: checkout-504)")


@pytest.mark.parametrize(("expected", "outcome", "text"), [
    ("20 users", "survives", "survives 1x the expected peak (20 users); breaks at 2x"),
    ("30 users", "between", "held up to 0.667x and broke at 1.33x of the expected peak (30 users): the peak itself "
                            "was not tested"),
    ("50 users", "breaks", "breaks at 0.8x of the expected peak (50 users) (held up to 0.4x)"),
    ("16 rps POST /checkout", "survives", "survives 1.25x the expected peak (16 req/s of POST /checkout); "
                                          "breaks at 2.5x"),
    ("100 rps", "breaks", "breaks at 0.4x of the expected peak (100 req/s) (held up to 0.2x)"),
])
def test_headroom_against_an_expected_peak(tmp_path, expected, outcome, text):
    """Held 20 users (20 checkouts/s), broke at 40 (40/s): each ratio is load over the expected peak."""
    _, capacity = capacity_of(stepped_run(tmp_path), parse_expected_peak(expected))
    (headroom,) = capacity.headroom
    assert (headroom.outcome, headroom.text) == (outcome, text)


@pytest.mark.parametrize(("expected", "text"), [
    ("50 users", "not tested up to the expected peak (50 users): reached 0.8x without breaking"),
    ("40 users", "survives 1x the expected peak (40 users)"),
])
def test_a_run_that_never_broke_says_how_far_it_went(tmp_path, expected, text):
    """No failure: 'survives' only up to the load reached, else 'not tested up to' it."""
    _, capacity = capacity_of(stepped_run(tmp_path, break_at_s3=False), parse_expected_peak(expected))
    assert capacity.broke_at is None and capacity.breaking_point is None and capacity.sustainable.name == "s3"
    assert capacity.headroom[0].text == text


def test_july15_peak_by_default_users_only_for_july15_runs(tmp_path):
    """The default compares checkouts per second (16.2); users only when the run played july15, arrivals only
    when the run was open-model."""
    _, capacity = capacity_of(stepped_run(tmp_path))
    rps, users, arrivals = capacity.headroom
    assert (arrivals.outcome, arrivals.text) == ("not_comparable", "cannot compare with the July 15 peak "
                                                 "(32.4 arrivals/s): the run is closed-model (users, not arrivals)")
    assert arrivals.text not in capacity.summary
    assert rps.text == "survives 1.23x the July 15 peak (16.2 req/s of POST /checkout); breaks at 2.47x"
    assert (users.outcome, users.text) == ("not_comparable", "in users: not comparable (the July 15 peak counts "
                                                            "shoppers of profile july15, this run played test)")
    assert users.text not in capacity.summary


def test_july15_peak_matches_the_profile():
    """16.2 checkouts/s and 300 users follow from profiles/july15.yaml's peak stage and the journeys' pauses."""
    from locustfiles.journeys import SNIPER_RETRY_S, SNIPER_THINK_S  # no locust import: checked by test_cli_report

    profile = load_profile("july15")
    peak = next(stage for stage in profile.stages if stage.peak)
    think = (profile.think_time_s.min_s + profile.think_time_s.max_s) / 2
    sniper_think, retry = sum(SNIPER_THINK_S) / 2, sum(SNIPER_RETRY_S) / 2
    # Pauses per journey (locustfiles/journeys.py): browser 1 + 2.5 views, abandoner 3, buyer 4, sniper 2 short
    # ones; then the wait before the next journey: think time, or a sniper's quick return.
    cycle = {"browser": 3.5 * think + think, "abandoner": 3 * think + think, "buyer": 4 * think + think,
             "sniper": 2 * sniper_think + retry}
    checkouts = {"browser": 0, "abandoner": 0, "buyer": 1, "sniper": 1}
    weights = {journey: peak.mix[journey] / sum(peak.mix.values()) for journey in cycle}
    mean_cycle = sum(weights[j] * cycle[j] for j in cycle)
    per_second = peak.users * sum(weights[j] * checkouts[j] for j in cycle) / mean_cycle
    assert mean_cycle == pytest.approx(9.2475) and per_second == pytest.approx(16.22, abs=0.005)
    assert JULY15_PEAK.measures == (Measure("rps", round(per_second, 1), "POST /checkout"),
                                    Measure("users", float(peak.users)),
                                    Measure("arrivals", round(peak.users / mean_cycle, 1)))


def test_find_knee_cases():
    """Flat latency: no knee; throughput falling while p95 rises: a knee (elasticity infinite, None); 4 -> 9 ms is
    under the 10 ms floor whatever the ratio."""
    def level(users, ok, p95):
        return Level(f"u{users}", "s", 0, 5, users, ok, ok, 0.0, p95, {})

    flat = find_knee([level(10, 10, 50), level(20, 20, 52), level(40, 40, 55)])
    # 50 -> 52 ms for x2 throughput: ln 1.04 / ln 2 = 0.057; 52 -> 55 ms: ln(55/52) / ln 2 = 0.081.
    assert flat.below is None and flat.text == "no knee up to 40 users: p95 grew at most 0.081 times as fast as " \
                                               "throughput"
    falling = find_knee([level(10, 10, 50), level(20, 9, 400)])
    assert (falling.below.users, falling.above.users, falling.elasticity) == (10, 20, None)
    assert falling.text.endswith("(latency grew while ok throughput did not grow)")
    assert find_knee([level(10, 10, 4), level(20, 10.5, 9)]).below is None
    # ln(200/55) / ln(30/20) = 3.18: a knee between 20 and 30 users.
    steep = find_knee([level(10, 10, 50), level(20, 20, 55), level(30, 30, 200)])
    assert (steep.below.users, steep.elasticity) == (20, 3.18)
    assert math.isclose(math.log(200 / 55) / math.log(1.5), 3.184, abs_tol=1e-3)
    assert find_knee([level(10, 10, 50)]).text.startswith("no knee found: 1 level of rising load")


def test_without_load_samples_stages_are_the_levels(tmp_path):
    """No load.jsonl: each stage of 3 s or more is a level with the profile's users."""
    folder = RunFolder(tmp_path / "run")
    for t in range(60):
        folder.add(t, "/checkout", method="POST", status=201, times_ms=[40.0] * 4)
    analysis = analyse_folder(folder.write())
    assert find_levels(analysis) == [("warm", 0, 10, 10), ("peak", 10, 40, 100), ("cool", 40, 60, 10)]


@pytest.mark.parametrize(("text", "message"), [
    ("lots", "--expected-peak: must be 'N users', 'N rps [ENDPOINT]' or 'N arrivals/s' (e.g. '300 users', "
             "'20 rps POST /checkout', '32 arrivals/s'), got 'lots'"),
    ("5 arrivals/s POST /checkout", "--expected-peak: arrivals are counted for the whole run, not per endpoint, "
                                    "got '5 arrivals/s POST /checkout'"),
    ("300 users POST /checkout", "--expected-peak: users are counted for the whole run, not per endpoint, "
                                 "got '300 users POST /checkout'"),
    ("0 users", "--expected-peak: the number must be > 0, got '0 users'"),
    ("20 rps checkout", "--expected-peak: the endpoint must be '[METHOD] /name' as the run names it "
                        "('POST /checkout'), got 'checkout'"),
])
def test_expected_peak_grammar_errors(text, message):
    """Each wrong value is one line with the rule and the value."""
    with pytest.raises(BadInput) as error:
        parse_expected_peak(text)
    assert str(error.value) == message


def test_expected_peak_grammar_and_endpoint_check():
    """Users, rps of everything, rps of an endpoint; an endpoint the run lacks is refused with a hint."""
    assert parse_expected_peak("300 users").measures == (Measure("users", 300.0),)
    assert parse_expected_peak("150 req/s").measures == (Measure("rps", 150.0),)
    assert parse_expected_peak("20.5 rps POST /checkout").measures == (Measure("rps", 20.5, "POST /checkout"),)
    check_expected_peak(parse_expected_peak("2 rps /checkout"), ("POST /checkout",))
    with pytest.raises(BadInput) as error:
        check_expected_peak(parse_expected_peak("20 rps POST /chekout"), ("GET /products", "POST /checkout"))
    assert str(error.value) == ("--expected-peak 20 rps POST /chekout: no endpoint 'POST /chekout' in the run, "
                                "did you mean 'POST /checkout'?")


def test_surgegate_report_takes_an_expected_peak(tmp_path, capsys):
    """``surgegate report DIR --expected-peak LOAD``: the headroom line on the console; a bad value or an endpoint the
    run lacks is one Error line, exit 2."""
    from surgegate.cli import main

    path = stepped_run(tmp_path)
    (path / "slo.yaml").write_text(yaml.safe_dump(SLO))
    assert main(["report", str(path), "--expected-peak", "30 users"]) == 1  # the throughput floor fails the verdict
    assert "\n  held up to 0.667x and broke at 1.33x of the expected peak (30 users): the peak itself was not tested\n" \
        in capsys.readouterr().out
    assert main(["report", str(path), "--expected-peak", "20 rps POST /chekout"]) == 2
    assert capsys.readouterr().err == ("Error: --expected-peak 20 rps POST /chekout: no endpoint 'POST /chekout' in "
                                       "the run, did you mean 'POST /checkout'?\n")
    assert main(["report", str(path), "--expected-peak", "lots"]) == 2
    assert capsys.readouterr().err.startswith("Error: --expected-peak: must be 'N users', 'N rps [ENDPOINT]' or "
                                              "'N arrivals/s'")


# -- real runs against the real stub -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def runs_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("steps-runs")


def test_capacity_moves_up_when_checkout_runs_fewer_queries(runs_root):
    """incident (24 queries a checkout on 5 connections) breaks by 60 users; with 4 queries the same pool holds a
    higher level: the sustainable capacity moves up, in users and in checkouts per second (direction, not timing)."""
    before = steps_run(runs_root, "incident", "--metrics-url", "none").verdict["capacity"]
    after = steps_run(runs_root, "incident", "--metrics-url", "none",
                      stub_args=("--queries-per-checkout", "4")).verdict["capacity"]
    levels = {run["sustainable"]: run for run in (before, after)}
    assert before["broke_at"] is not None and before["breaking_point"] is not None

    def held(capacity: dict) -> tuple[int, float]:
        level = next((lv for lv in capacity["levels"] if lv["name"] == capacity["sustainable"]), None)
        return (0, 0.0) if level is None else (level["users"], level["endpoints"]["POST /checkout"]["ok_per_s"])

    assert held(after)[0] > held(before)[0] and held(after)[1] > held(before)[1], levels
    # The knee method on real data: with 4 queries latency stays flat as the load rises, so no knee is claimed.
    assert after["knee"]["below"] is None and after["knee"]["text"].startswith("no knee up to 60 users"), after["knee"]


def test_compare_says_what_the_fix_did_to_capacity(tmp_path, capsys):
    """Before/after in the team's words: 504s on checkout, the users held, checkouts a minute at capacity; a
    capacity that fell is worse (exit 1), one that grew is not."""
    from surgegate.cli import main

    slo = tmp_path / "slo.yaml"
    slo.write_text(yaml.safe_dump(SLO))
    broken = stepped_run(tmp_path / "before")
    fixed = stepped_run(tmp_path / "after", break_at_s3=False)
    assert main(["compare", str(broken), str(fixed), "--slo", str(slo)]) == 0
    out = capsys.readouterr().out
    assert "  504s on POST /checkout: 2.5% -> 0%\n" in out  # 25 of 1,000 checkouts
    assert "  capacity: held 20 users -> at least 40 users\n" in out
    assert "  POST /checkout at capacity: 20 -> 40 ok/s (1,200 -> 2,400 a minute)\n" in out
    assert "  capacity: users held 20 users -> 40 users +20 users (+100%) then broke -> never broke (at least)\n" in out
    assert main(["compare", str(fixed), str(broken), "--slo", str(slo)]) == 1
    out = capsys.readouterr().out
    assert "  capacity: users held 40 users -> 20 users -20 users (-50%) never broke (at least) -> then broke WORSE\n" in out
