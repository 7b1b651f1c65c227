"""The verdict, a pure function of an analysis and the SLOs, on folders made by hand with answers worked by hand."""

from __future__ import annotations

import pytest
import yaml

from reports.analysis import analyse_folder
from reports.objectives import format_value
from reports.slo import parse_slo
from reports.verdict import EXIT_CODES, judge
from surgegate import exit_codes
from surgegate.errors import BadInput
from tests.test_analysis import RunFolder


def verdict_of(folder: RunFolder, *objectives: dict, generator: dict | None = None):
    """Judge the written folder by these objectives."""
    document = {"objectives": list(objectives), **({"generator": generator} if generator else {})}
    return judge(analyse_folder(folder.write()), parse_slo(yaml.safe_dump(document), "slo.yaml"))


def checkout_504(**fields) -> dict:
    return {"name": "c504", "endpoint": "POST /checkout", "metric": "status_rate", "status": 504, **fields}


def steady_checkouts(folder: RunFolder, first: int, stop: int, per_second: int = 10,
                     failing: range = range(0)) -> RunFolder:
    """``per_second`` checkouts a second; in the ``failing`` seconds every one is a 504."""
    for t in range(first, stop):
        status, kind = (504, "status") if t in failing else (201, "ok")
        folder.add(t, "/checkout", method="POST", status=status, kind=kind, times_ms=[40.0] * per_second)
    return folder


def test_exit_codes_follow_the_verdict():
    """Each verdict exits with its one code."""
    assert EXIT_CODES == {"READY": exit_codes.READY, "NOT_READY": exit_codes.NOT_READY,
                          "INCONCLUSIVE": exit_codes.INCONCLUSIVE, "INTERRUPTED": exit_codes.INTERRUPTED}


def test_windows_catch_a_short_collapse_that_the_stage_average_hides(tmp_path):
    """5 s of 504s in a 120 s peak: 4.2% over the stage passes 5%; 30 s windows see 16.7% and fail."""
    stages = (("warm", 0.0, 10.0, 10, False), ("peak", 10.0, 130.0, 100, True), ("cool", 130.0, 150.0, 10, False))
    folder = steady_checkouts(RunFolder(tmp_path / "run", stages=stages), 0, 150, failing=range(60, 65))
    folder.sample_load(0, 150, users=100, rps=12.5)
    verdict = verdict_of(folder, checkout_504(name="stage", bound="5%", scope={"stage": "peak"}),
                         checkout_504(name="windows", bound="5%", scope={"stage": "peak", "window": "30s"}))
    stage, windows = verdict.objectives
    assert (stage.status, stage.observed, stage.requests) == ("pass", pytest.approx(100 * 50 / 1200, abs=1e-4), 1200)
    assert windows.status == "fail" and verdict.verdict == "NOT_READY" and verdict.exit_code == 1
    assert windows.observed == pytest.approx(100 * 50 / 300, abs=1e-4)  # a window holding all five seconds
    # Windows start at 10 .. 100 (91); those holding two or more of 60 .. 64 (> 5%) start at 32 .. 63.
    assert (windows.windows_judged, windows.windows_failed) == (91, 32)
    point = windows.first_failure
    assert (point.window_start_s, point.window_end_s, point.t_s, point.stage) == (32, 62, 60, "peak")
    assert point.observed == pytest.approx(100 * 20 / 300, abs=1e-4)
    assert (point.users, point.target_users, point.rps) == (100, 100, 12.5)
    assert verdict.reasons == ("windows: status 504 rate 16.7%, bound <= 5%; first at 60 s "
                               "(stage peak, 100 users, 12.5 req/s)",)


def test_stage_scope_judges_only_its_stage(tmp_path):
    """504s during warm-up fail the run's objective, not the peak's."""
    folder = steady_checkouts(RunFolder(tmp_path / "run"), 0, 60, failing=range(2, 4))
    verdict = verdict_of(folder, checkout_504(name="peak", bound="1%", scope={"stage": "peak"}),
                         checkout_504(name="run", bound="1%"))
    assert [(r.name, r.status, r.observed) for r in verdict.objectives] == \
        [("peak", "pass", 0.0), ("run", "fail", pytest.approx(100 * 20 / 600, abs=1e-4))]
    assert verdict.objectives[1].first_failure.t_s == 2
    assert verdict.objectives[1].first_failure.stage == "warm"


@pytest.mark.parametrize(("requests", "failures", "status"), [(200, 1, "pass"), (399, 2, "fail"), (400, 2, "pass")])
def test_rate_exactly_at_the_bound_passes(tmp_path, requests, failures, status):
    """1 in 200 is exactly 0.5% and passes; 2 in 399 (0.501%) fails; rates are compared exactly."""
    folder = RunFolder(tmp_path / "run", stages=(("peak", 0.0, 1.0, 10, True),))
    folder.add(0, "/checkout", method="POST", status=201, times_ms=[40.0] * (requests - failures))
    folder.add(0, "/checkout", method="POST", status=504, kind="status", times_ms=[2000.0] * failures)
    assert verdict_of(folder, checkout_504(bound="0.5%")).objectives[0].status == status


@pytest.mark.parametrize(("value_ms", "status", "observed"), [(800.0, "pass", 800.0), (799.0, "pass", 798.976),
                                                              (801.0, "fail", 801.024)])
def test_latency_exactly_at_the_bound_passes(tmp_path, value_ms, status, observed):
    """A p95 of exactly 800 ms meets 800ms; 801 ms (0.1% above, beyond the histogram's precision) does not.

    Observed: the middle of the value's 512-us bucket (799 ms: 798,720 .. 799,231 us)."""
    folder = RunFolder(tmp_path / "run", stages=(("peak", 0.0, 5.0, 10, True),))
    folder.steady(0, 5, "/checkout", 20, method="POST", status=201, times_ms=[value_ms] * 20)
    result = verdict_of(folder, {"endpoint": "POST /checkout", "metric": "p95", "bound": "800ms"}).objectives[0]
    assert (result.status, result.observed, result.bound) == (status, observed, 800.0)


@pytest.mark.parametrize(("value_ms", "bound", "status", "text"), [
    (2000.0, "2s", "pass", "2 s"),  # reads 2,000.384 ms: its bucket holds 2 s
    (2001.0, "2s", "fail", "2.001 s"),  # reads 2,001.408 ms, "2 s" at 3 digits: shown with the digit that breaks
    (500.3, "500ms", "fail", "500.4 ms"),  # the next bucket above 500 ms (500,224 .. 500,479 us)
    (801.0, "800ms", "fail", "801 ms"),  # already above at 3 digits
])
def test_a_breach_is_shown_above_its_bound(tmp_path, value_ms, bound, status, text):
    """A latency that fails its bound never reads as equal to it; one that meets it reads to 3 digits."""
    folder = RunFolder(tmp_path / "run", stages=(("peak", 0.0, 5.0, 10, True),))
    folder.steady(0, 5, "/checkout", 20, method="POST", status=201, times_ms=[value_ms] * 20)
    result = verdict_of(folder, {"endpoint": "POST /checkout", "metric": "p95", "bound": bound}).objectives[0]
    assert (result.status, result.observed_text) == (status, text)
    if status == "fail":
        assert result.first_failure.observed_text == text


@pytest.mark.parametrize(("value", "unit", "text"), [
    (999.68, "ms", "1 s"), (999_555.072, "ms", "1000 s"), (3_600_000.0, "ms", "3600 s"), (33.567, "ms", "33.6 ms"),
    (1234.0, "req/s", "1230 req/s"), (12.34, "req/s", "12.3 req/s"), (59.123, "%", "59.1%"), (0.00005, "%", "0.00005%"),
    (0.0, "%", "0%"), (None, "ms", "-"),
])
def test_values_read_to_three_digits_and_never_in_exponent_form(value, unit, text):
    """3 significant digits, rounded before the unit is chosen; never ``1e+03``."""
    assert format_value(value, unit) == text


def test_throughput_is_a_floor_judged_in_every_window(tmp_path):
    """10 ok/s meets 10/s over the run; a 3 s outage fails 10 s windows, first at the outage."""
    folder = RunFolder(tmp_path / "run", stages=(("peak", 0.0, 60.0, 10, True),))
    for t in range(60):
        if t not in (30, 31, 32):
            folder.add(t, "/sale", times_ms=[5.0] * 10)
    folder.add(31, "/sale", status=0, kind="connection_error", times_ms=[1.0] * 10)
    verdict = verdict_of(folder, {"name": "run", "endpoint": "GET /sale", "metric": "throughput", "bound": "9.5/s"},
                         {"name": "above", "endpoint": "GET /sale", "metric": "throughput", "bound": "9.51/s"},
                         {"name": "windows", "endpoint": "GET /sale", "metric": "throughput", "bound": "8/s",
                          "scope": {"window": "10s"}})
    run, above, windows = verdict.objectives
    assert (run.status, run.observed) == ("pass", 9.5)  # 570 ok in 60 s
    assert above.status == "fail"
    assert windows.status == "fail" and windows.observed == 7.0  # windows holding the whole outage
    # A window holding two outage seconds has 80 ok, 8/s, and passes; the first holding all three starts at 23.
    assert (windows.first_failure.window_start_s, windows.first_failure.t_s) == (23, 30)


def recovery_folder(tmp_path, failing_until: int, relapse: int | None = None) -> RunFolder:
    folder = RunFolder(tmp_path / "run", stages=(("warm", 0.0, 10.0, 10, False), ("peak", 10.0, 40.0, 100, True),
                                                 ("cool", 40.0, 80.0, 10, False)))
    failing = set(range(20, failing_until + 1)) | ({relapse} if relapse is not None else set())
    return steady_checkouts(folder, 0, 80, failing=failing)


RECOVERY = {"name": "recovers", "metric": "error_rate", "bound": "1%",
            "recovery": {"after": "peak", "within": "10s", "window": "5s"}}


def test_recovery_within_the_time_passes(tmp_path):
    """Errors until 46 s, the peak ending at 40 s: the first clean 5 s window starts at 47, 7 s after."""
    result = verdict_of(recovery_folder(tmp_path, failing_until=46), RECOVERY).objectives[0]
    assert (result.status, result.observed, result.bound, result.unit) == ("pass", 7.0, 10.0, "s")
    assert result.observed_text == "back under 1% 7 s after stage peak ended"


def test_recovery_counts_from_the_last_relapse(tmp_path):
    """Clean from 41 s but failing again at 48 s: recovered only from 49 s, 9 s after the peak."""
    result = verdict_of(recovery_folder(tmp_path, failing_until=40, relapse=48), RECOVERY).objectives[0]
    assert (result.status, result.observed) == ("pass", 9.0)


def test_recovery_too_late_fails_with_where(tmp_path):
    """Errors until 55 s: the last window judged (50-55 s, 10 s after the peak) still fails."""
    result = verdict_of(recovery_folder(tmp_path, failing_until=55), RECOVERY).objectives[0]
    assert (result.status, result.observed) == ("fail", None)
    assert result.observed_text == "not back under 1%: still 100% in the 5 s from 10 s after stage peak ended"
    assert (result.first_failure.window_start_s, result.first_failure.stage) == (40, "cool")  # first after the peak


def test_no_data_never_passes(tmp_path):
    """An endpoint never hit, a stage never reached, too few requests, dropped arrivals: each is no data."""
    folder = steady_checkouts(RunFolder(tmp_path / "run", status="complete", elapsed_s=30.0), 0, 30, per_second=1)
    verdict = verdict_of(folder,
                         {"name": "never hit", "endpoint": "/refunds", "metric": "p95", "bound": "1s"},
                         {"name": "not reached", "metric": "p95", "bound": "1s", "scope": {"stage": "cool"}},
                         checkout_504(name="too few", bound="1%", min_requests=50, scope={"window": "10s"}),
                         {"name": "dropped", "metric": "dropped_arrivals", "bound": 0},
                         checkout_504(name="fine", bound="1%"))
    details = {r.name: (r.status, r.detail) for r in verdict.objectives}
    assert details == {
        "never hit": ("no_data", "no data: no request matched /refunds"),
        "not reached": ("no_data", "no data: stage cool was not reached (the run spans 30 s)"),
        "too few": ("no_data", "no data: no window had 50 or more requests of POST /checkout"),
        "dropped": ("no_data", "no data: a closed-model run has no arrival schedule (dropped arrivals are recorded "
                               "by profiles with arrival_rate)"),
        "fine": ("pass", "30 requests; over 30 s"),
    }
    assert verdict.verdict == "INCONCLUSIVE" and verdict.exit_code == 3
    assert verdict.reasons[0] == "never hit: no data: no request matched /refunds"


def test_a_breach_outranks_missing_data(tmp_path):
    """With one objective breached and another without data, the shop is NOT READY."""
    folder = steady_checkouts(RunFolder(tmp_path / "run"), 0, 60, failing=range(20, 21))
    verdict = verdict_of(folder, checkout_504(bound="1%"), {"endpoint": "/refunds", "metric": "p95", "bound": "1s"})
    assert [r.status for r in verdict.objectives] == ["fail", "no_data"] and verdict.verdict == "NOT_READY"


def test_rate_limited_and_cancelled_are_not_errors(tmp_path):
    """429s count for a 429 status rate but not as errors; cancelled requests count for neither."""
    folder = RunFolder(tmp_path / "run", stages=(("peak", 0.0, 1.0, 10, True),))
    folder.add(0, "/checkout", method="POST", status=201, times_ms=[30.0] * 90)
    folder.add(0, "/checkout", method="POST", status=429, kind="rate_limited", times_ms=[1.0] * 10)
    folder.add(0, "/checkout", method="POST", status=0, kind="cancelled", times_ms=[9000.0] * 50)
    verdict = verdict_of(folder, {"name": "errors", "metric": "error_rate", "bound": "0%"},
                         {"name": "429", "metric": "status_rate", "status": 429, "bound": "10%"},
                         {"name": "slowest", "metric": "max", "bound": "30ms"})
    assert [(r.status, r.observed) for r in verdict.objectives] == [("pass", 0.0), ("pass", 10.0), ("pass", 30.008)]


def test_per_endpoint_judges_each_match_alone(tmp_path):
    """A glob with per_endpoint gives one result per endpoint, so a slow one is not averaged away."""
    folder = RunFolder(tmp_path / "run", stages=(("peak", 0.0, 1.0, 10, True),))
    folder.add(0, "/carts", method="POST", status=201, times_ms=[10.0] * 99)
    folder.add(0, "/carts/[id]", method="GET", times_ms=[900.0])
    verdict = verdict_of(folder, {"name": "carts", "endpoint": "/carts*", "metric": "max", "bound": "500ms"},
                         {"name": "each", "endpoint": "/carts*", "metric": "p95", "bound": "500ms",
                          "per_endpoint": True})
    assert [(r.name, r.endpoint, r.status) for r in verdict.objectives] == [
        ("carts", "/carts*", "fail"), ("each [GET /carts/[id]]", "GET /carts/[id]", "fail"),
        ("each [POST /carts]", "POST /carts", "pass")]


def test_peak_names_the_stage_marked_peak(tmp_path):
    """'stage: peak' finds the stage marked peak when none is called so."""
    folder = RunFolder(tmp_path / "run", stages=(("calm", 0.0, 10.0, 10, False), ("spike", 10.0, 20.0, 200, True)))
    steady_checkouts(folder, 0, 20, failing=range(5, 6))
    result = verdict_of(folder, checkout_504(bound="1%", scope={"stage": "peak"})).objectives[0]
    assert (result.status, result.requests, result.scope) == ("pass", 100, "stage peak")


def test_a_stage_the_profile_lacks_is_bad_input(tmp_path):
    """Judging names the objective's field, the stage and the profile's stages."""
    folder = steady_checkouts(RunFolder(tmp_path / "run"), 0, 60)
    with pytest.raises(BadInput) as caught:
        verdict_of(folder, checkout_504(bound="1%", scope={"stage": "peek"}))
    assert str(caught.value) == ("slo.yaml: objectives[0].scope.stage: no stage 'peek' in profile test "
                                 "(stages: warm, peak, cool), did you mean 'peak'?")


@pytest.mark.parametrize(("status", "verdict", "code"), [("interrupted", "INTERRUPTED", 4),
                                                          ("running", "INCONCLUSIVE", 3),
                                                          ("incomplete", "INCONCLUSIVE", 3)])
def test_an_unfinished_run_is_not_judged_ready_or_not(tmp_path, status, verdict, code):
    """Interrupted outranks everything; incomplete results make even a breach inconclusive."""
    folder = steady_checkouts(RunFolder(tmp_path / "run", status=status), 0, 60, failing=range(20, 30))
    result = verdict_of(folder, checkout_504(bound="1%"))
    assert (result.verdict, result.exit_code) == (verdict, code)
    assert result.objectives[0].status == "fail"  # still judged and reported


@pytest.mark.parametrize(("search_stop", "verdict"), [
    ({"at_s": 41.2, "text": "c504 failed at 50 users (stage users-50, 24 req/s)", "level": "users-50", "users": 50},
     "NOT_READY"),
    ({"at_s": "soon", "text": "not a time"}, "READY"),  # a malformed stop is not trusted, and not a crash
])
def test_a_capacity_search_that_stopped_is_not_ready(tmp_path, search_stop, verdict):
    """A search stops at a level that broke an objective, even if its scoped objectives had nothing to judge."""
    folder = steady_checkouts(RunFolder(tmp_path / "run"), 0, 60)
    folder.manifest_extra = {"search_stop": search_stop}
    result = verdict_of(folder, checkout_504(bound="1%"))
    assert result.verdict == verdict
    played = next(check for check in result.checks if check.name == "played to the end")
    assert played.ok
    if verdict == "NOT_READY":
        assert result.reasons == ("capacity search stopped at 41 s: c504 failed at 50 users (stage users-50, 24 req/s)",)
        assert played.detail == "stopped by its capacity search at 41 s, as the profile asks"


def test_an_unreachable_target_is_inconclusive(tmp_path):
    """When no request got an HTTP status, the test measured nothing about the shop."""
    folder = RunFolder(tmp_path / "run").steady(0, 60, "/products", 2, status=0, kind="connection_error")
    verdict = verdict_of(folder, {"metric": "error_rate", "bound": "1%"})
    assert verdict.verdict == "INCONCLUSIVE"
    assert verdict.reasons == ("target answered: no (none of 120 requests got an HTTP status: target unreachable)",
                               "also breached: * error rate <= 1%, run: error rate 100%, bound <= 1%; first at 0 s "
                               "(stage warm)")


def test_no_request_at_all_is_inconclusive(tmp_path):
    """A run that recorded nothing is inconclusive, not READY."""
    verdict = verdict_of(RunFolder(tmp_path / "run"), {"metric": "error_rate", "bound": "1%"})
    assert verdict.verdict == "INCONCLUSIVE" and "requests recorded: no (no request was recorded)" in verdict.reasons


@pytest.mark.parametrize(("hot_seconds", "verdict"), [(5, "INCONCLUSIVE"), (4, "READY")])
def test_a_saturated_load_generator_makes_the_run_inconclusive(tmp_path, hot_seconds, verdict):
    """CPU >= 90% for 5 consecutive seconds (the default) is saturation; for 4 it is not."""
    folder = steady_checkouts(RunFolder(tmp_path / "run"), 0, 60)
    folder.sample_load(0, 20).sample_load(20, 20 + hot_seconds, cpu_percent=97.0).sample_load(20 + hot_seconds, 60)
    result = verdict_of(folder, checkout_504(bound="1%"))
    assert result.verdict == verdict
    if verdict == "INCONCLUSIVE":
        assert result.reasons == ("load generator not saturated: no (load generator CPU >= 90% for 5 s from 20 s "
                                  "(up to 97%); its own latency may be measured)",)


def test_generator_thresholds_come_from_the_slo_file(tmp_path):
    """A stricter generator section turns the same samples into saturation."""
    folder = steady_checkouts(RunFolder(tmp_path / "run"), 0, 60).sample_load(0, 60, cpu_percent=75.0)
    result = verdict_of(folder, checkout_504(bound="1%"), generator={"max_cpu_percent": 70, "sustained": "30s"})
    assert result.verdict == "INCONCLUSIVE"


def test_a_stage_shorter_than_the_window_is_one_window(tmp_path):
    """A 30 s window over a 20 s stage judges the stage as one 20 s window rather than skipping it."""
    folder = RunFolder(tmp_path / "run", stages=(("warm", 0.0, 10.0, 10, False), ("peak", 10.0, 30.0, 100, True)))
    steady_checkouts(folder, 0, 30, failing=range(15, 16))
    result = verdict_of(folder, checkout_504(bound="1%", scope={"stage": "peak", "window": "30s"})).objectives[0]
    assert (result.status, result.windows_judged, result.observed) == ("fail", 1, 5.0)  # 10 of 200
    assert result.detail == ("200 requests; worst of 1 windows of 20 s; the range is 20 s, shorter than the 30 s "
                             "window, so judged as one window")
