"""Tests for ``profiles``: the YAML schema, its one-line errors, and the pure plan.

Nothing here sleeps or runs Locust: plans are checked as data at hand-picked
seconds. Only ``test_profile_shape_ticks_from_run_time`` imports Locust, in a
child interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import profiles
from profiles import Mix, Profile, load_profile, parse_duration, plan_at, shipped_profiles
from surgegate import exit_codes
from surgegate.errors import BadInput

SHIPPED = ("july15", "july15-open", "soak", "spike", "step")
PROJECT_ROOT = Path(profiles.__file__).resolve().parent.parent


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run *code* in a fresh interpreter that can import the project's packages."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False)


def _stages() -> list[dict[str, Any]]:
    """Three stages, hand-computed at time_scale 0.5 below: 10 s, 20 s and 5 s of replay."""
    return [
        {"name": "warm", "duration": "20s", "users": 10, "spawn_rate": 5},
        {"name": "top", "duration": "40s", "users": 30, "spawn_rate": 10, "peak": True, "mix": {"sniper": 1}},
        {"name": "down", "duration": 10, "users": 5, "spawn_rate": 25},
    ]


def _document(**changes: Any) -> dict[str, Any]:
    """A valid profile document with top-level keys replaced by *changes*."""
    document: dict[str, Any] = {
        "name": "sample",
        "time_scale": 0.5,
        "mix": {"browser": 3, "buyer": 1},
        "stages": _stages(),
    }
    document.update(changes)
    return document


@pytest.fixture
def write(tmp_path: Path):
    """Write a document (dict, dumped as YAML, or raw text) and return its path as a string."""

    def _write(document: dict[str, Any] | str, name: str = "sample.yaml") -> str:
        path = tmp_path / name
        text = document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return str(path)

    return _write


def _error(source: str, **kwargs: Any) -> str:
    """Load *source* expecting BadInput; return its message."""
    with pytest.raises(BadInput) as caught:
        load_profile(source, **kwargs)
    return str(caught.value)


# Shipped profiles


def test_shipped_profiles_lists_the_yaml_files() -> None:
    """shipped_profiles() names every YAML file shipped in the package, sorted."""
    assert shipped_profiles() == SHIPPED


@pytest.mark.parametrize("multiplier", [1.0, 2.0, 3.0])
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_profile_validates_at_default_scale_and_multipliers(name: str, multiplier: float) -> None:
    """Every shipped profile passes the ramp rule at its own time_scale, up to 3x users."""
    profile = load_profile(name, peak_multiplier=multiplier)
    assert profile.source == f"profiles/{name}.yaml"
    assert profile.peak_multiplier == multiplier
    assert sum(stage.peak for stage in profile.stages) == 1
    assert profile.total_s <= 300, "the default run stays within a few minutes"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_profile_plan_matches_its_stages(name: str) -> None:
    """At the start and middle of each stage the plan asks for that stage's users and rate."""
    profile = load_profile(name, peak_multiplier=3)
    base = load_profile(name)
    for stage, base_stage in zip(profile.stages, base.stages, strict=True):
        assert stage.users == base_stage.users * 3
        assert stage.spawn_rate == pytest.approx(base_stage.spawn_rate * 3)
        if profile.is_open:
            assert stage.arrival_rate == pytest.approx(base_stage.arrival_rate * 3)
        for elapsed_s in (stage.start_s, (stage.start_s + stage.end_s) / 2):
            tick = plan_at(profile, elapsed_s)
            assert tick is not None
            if profile.is_open:  # the pool is the same in every stage; the rate follows the stage
                assert (tick.stage_index, tick.users, tick.arrival_rate) == (
                    stage.index, profile.max_in_flight, stage.arrival_rate)
            else:
                assert (tick.stage_index, tick.users, tick.spawn_rate) == (stage.index, stage.users, stage.spawn_rate)
            assert tick.is_peak == stage.peak
    assert plan_at(profile, profile.total_s) is None


def test_july15_follows_the_postmortem_timeline() -> None:
    """july15 spans 9:00-11:45 (9900 s), peaks by the 9:05 alert, fixes at 11:00, and replays in 198 s."""
    profile = load_profile("july15")
    assert profile.real_total_s == 9900
    assert profile.time_scale == 0.02
    assert profile.total_s == pytest.approx(198)
    assert [stage.name for stage in profile.stages] == ["baseline", "sale-opens", "surge", "peak", "fix", "recovery"]
    peak = profile.peak_stage
    assert peak is not None and peak.name == "peak"
    assert peak.users == profile.peak_users
    assert peak.start_s == pytest.approx(300 * 0.02), "the peak starts at 9:05"
    assert profile.stages[4].start_s == pytest.approx(7200 * 0.02), "the fix starts at 11:00"


# Durations


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("90s", 90), ("5m", 300), ("1h30m", 5400), ("2m30s", 150), ("1h", 3600), ("0.5s", 0.5),
     ("1h0m5s", 3605), (" 5m ", 300), ("90", 90), (90, 90), (2.5, 2.5)],
)
def test_parse_duration_reads_units_and_plain_seconds(value: str | float, seconds: float) -> None:
    """parse_duration turns '90s', '5m', '1h30m' and plain numbers into seconds."""
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("5 min", "must be a duration like '90s', '5m', '1h30m' or a number of seconds, got '5 min'"),
        ("1m30", "must be a duration like '90s', '5m', '1h30m' or a number of seconds, got '1m30'"),
        ("30s1m", "must be a duration like '90s', '5m', '1h30m' or a number of seconds, got '30s1m'"),
        ("", "must be a duration like '90s', '5m', '1h30m' or a number of seconds, got ''"),
        (True, "must be a duration like '90s', '5m', '1h30m' or a number of seconds, got True"),
        ("0s", "must be > 0, got '0s'"),
        (-5, "must be > 0, got -5"),
        (float("inf"), "must be > 0, got inf"),
    ],
)
def test_parse_duration_rejects_what_it_cannot_read(value: object, message: str) -> None:
    """parse_duration raises ValueError with the rule and the value, for the caller to prefix."""
    with pytest.raises(ValueError) as caught:
        parse_duration(value)  # type: ignore[arg-type]
    assert str(caught.value) == message


# The plan


def test_plan_at_hand_computed_seconds(write) -> None:
    """At time_scale 0.5 the stages span [0, 10), [10, 30), [30, 35) replay seconds."""
    profile = load_profile(write(_document()))
    assert profile.total_s == 35
    expected = {
        0: ("warm", 10, 5.0, 0, 10),
        9.999: ("warm", 10, 5.0, 9.999, 0.001),
        10: ("top", 30, 10.0, 0, 20),
        29.5: ("top", 30, 10.0, 19.5, 0.5),
        30: ("down", 5, 25.0, 0, 5),
        34.9: ("down", 5, 25.0, 4.9, 0.1),
    }
    for elapsed_s, (name, users, rate, stage_elapsed_s, stage_remaining_s) in expected.items():
        tick = plan_at(profile, elapsed_s)
        assert tick is not None
        assert (tick.stage_name, tick.users, tick.spawn_rate) == (name, users, rate)
        assert tick.stage_elapsed_s == pytest.approx(stage_elapsed_s)
        assert tick.stage_remaining_s == pytest.approx(stage_remaining_s)
        assert tick.remaining_s == pytest.approx(35 - elapsed_s)
        assert tick.total_s == 35
        assert profile.stage_at(elapsed_s).name == name  # type: ignore[union-attr]


def test_plan_at_a_boundary_belongs_to_the_next_stage(write) -> None:
    """The instant a stage ends is the first instant of the next one."""
    profile = load_profile(write(_document()))
    for stage in profile.stages[1:]:
        tick = plan_at(profile, stage.start_s)
        assert tick is not None and tick.stage_index == stage.index and tick.stage_elapsed_s == 0


def test_plan_at_returns_none_from_the_end_on(write) -> None:
    """plan_at is None at total_s and after, so Locust stops by itself."""
    profile = load_profile(write(_document()))
    assert plan_at(profile, 34.999) is not None
    assert plan_at(profile, 35) is None
    assert plan_at(profile, 1e6) is None
    assert profile.stage_at(35) is None


def test_plan_at_rejects_negative_elapsed(write) -> None:
    """A negative clock is a caller bug, not the first stage."""
    profile = load_profile(write(_document()))
    with pytest.raises(ValueError, match=r"elapsed_s must be >= 0, got -1"):
        plan_at(profile, -1)


def test_plan_carries_stage_mix_and_peak(write) -> None:
    """A stage's mix replaces the default; the peak flag and peak users follow the file."""
    profile = load_profile(write(_document()))
    warm, top = plan_at(profile, 0), plan_at(profile, 10)
    assert warm is not None and top is not None
    assert dict(warm.mix) == {"browser": 3, "abandoner": 0, "buyer": 1, "sniper": 0}
    assert top.mix == Mix(sniper=1)
    assert (warm.is_peak, top.is_peak) == (False, True)
    assert profile.peak_users == 30
    assert profile.peak_stage is profile.stages[1]


def test_time_scale_override_replaces_the_file_value(write) -> None:
    """time_scale=1 plays the file's real durations; the file said 0.5."""
    profile = load_profile(write(_document()), time_scale=1)
    assert profile.time_scale == 1
    assert [(stage.start_s, stage.end_s) for stage in profile.stages] == [(0, 20), (20, 60), (60, 70)]
    assert profile.real_total_s == 70


def test_peak_multiplier_scales_every_stage_users_and_rate(write) -> None:
    """peak_multiplier 1.5 gives users 15, 45, 8 (7.5 rounds half up) and rates 7.5, 15, 37.5."""
    profile = load_profile(write(_document()), peak_multiplier=1.5)
    assert [stage.users for stage in profile.stages] == [15, 45, 8]
    assert [stage.spawn_rate for stage in profile.stages] == [7.5, 15, 37.5]
    assert profile.total_s == 35, "durations do not change"


def test_default_time_scale_is_one(write) -> None:
    """Without time_scale in the file, replay seconds are real seconds."""
    document = _document()
    del document["time_scale"]
    assert load_profile(write(document)).total_s == 70


# Errors: exact text


def test_error_negative_users(write) -> None:
    """Negative users name the stage index, the rule and the value."""
    document = _document()
    document["stages"][2]["users"] = -5
    path = write(document)
    assert _error(path) == f"{path}: stages[2].users: must be >= 0, got -5"


def test_error_unknown_key_suggests_the_close_one(write) -> None:
    """A typo in a stage key is an error with a did-you-mean hint, not a silent default."""
    document = _document()
    document["stages"][1]["uesrs"] = document["stages"][1].pop("users")
    path = write(document)
    assert _error(path) == f"{path}: stages[1].uesrs: unknown key, did you mean 'users'?"


def test_error_unknown_top_level_key_lists_the_allowed_ones(write) -> None:
    """A key far from any known one lists the keys allowed there."""
    path = write(_document(colour="blue"))
    assert _error(path) == (
        f"{path}: colour: unknown key; expected one of: arrivals, description, max_in_flight, mix, name, seed, stages, "
            "think_time_s, time_scale"
    )


def test_error_stage_shorter_than_its_ramp(write) -> None:
    """A stage that ends before its ramp does is rejected with both numbers and a fix."""
    document = _document(time_scale=0.02)
    document["stages"] = [
        {"name": "low", "duration": "50s", "users": 10, "spawn_rate": 10},
        {"name": "surge", "duration": "10m", "users": 300, "spawn_rate": 5},
    ]
    path = write(document)
    assert _error(path) == (
        f"{path}: stages[1] ('surge'): ramp from 10 to 300 users at 5/s takes 58.0 s but the stage lasts "
        "12.0 s after time_scale 0.02; raise spawn_rate to >= 24.2 or time_scale to >= 0.0967"
    )


def test_error_ramp_is_checked_after_the_multiplier(write) -> None:
    """Rounding under a multiplier can push a tight ramp past its stage; the check sees the scaled plan."""
    document = _document(time_scale=1)
    document["stages"] = [{"name": "only", "duration": "2s", "users": 3, "spawn_rate": 1.5}]
    path = write(document)
    assert load_profile(path).stages[0].users == 3
    assert _error(path, peak_multiplier=1.5) == (
        f"{path}: stages[0] ('only'): ramp from 0 to 5 users at 2.25/s takes 2.2 s but the stage lasts "
        "2.0 s after time_scale 1 and peak_multiplier 1.5; raise spawn_rate to >= 1.67"
    )


def test_error_stage_shorter_than_one_tick(write) -> None:
    """A stage compressed under 1 s would fall between two of Locust's once-a-second ticks."""
    document = _document(time_scale=0.01)
    path = write(document)
    assert _error(path) == (
        f"{path}: stages[0].duration: must last >= 1 s after time_scale 0.01 (Locust ticks once a second), "
        "got 0.20 s (20 s real); lengthen it or raise time_scale to >= 0.05"
    )


def test_error_unknown_profile_name() -> None:
    """An unknown name suggests the close shipped one and lists them all."""
    assert _error("spkie") == (
        "unknown profile 'spkie' (did you mean 'spike'?); shipped profiles: july15, july15-open, soak, spike, step, "
        "or a path to a .yaml file"
    )
    assert _error("black-friday") == (
        "unknown profile 'black-friday'; shipped profiles: july15, july15-open, soak, spike, step, "
        "or a path to a .yaml file"
    )


def test_error_missing_file(tmp_path: Path) -> None:
    """A path that does not exist is named as given."""
    path = str(tmp_path / "nope.yaml")
    assert _error(path) == f"{path}: no such file"


def test_error_bad_duration_string(write) -> None:
    """A duration that is not in the grammar quotes the input."""
    document = _document()
    document["stages"][0]["duration"] = "5 min"
    path = write(document)
    assert _error(path) == (
        f"{path}: stages[0].duration: must be a duration like '90s', '5m', '1h30m' or a number of seconds, "
        "got '5 min'"
    )


def test_error_unknown_mix_journey(write) -> None:
    """Mix keys are journey names; a near miss gets a hint, anything else the list."""
    document = _document()
    document["stages"][1]["mix"] = {"sniiper": 1}
    path = write(document)
    assert _error(path) == f"{path}: stages[1].mix.sniiper: unknown journey, did you mean 'sniper'?"
    path = write(_document(mix={"bot": 1}))
    assert _error(path) == f"{path}: mix.bot: unknown journey; journeys are: abandoner, browser, buyer, sniper"


def test_error_mix_without_weight(write) -> None:
    """A mix of only zeros would spawn no one."""
    path = write(_document(mix={"browser": 0}))
    assert _error(path) == f"{path}: mix: needs at least one weight > 0, got {{'browser': 0}}"


def test_error_two_peak_stages(write) -> None:
    """Only one stage can be what SLOs call the peak."""
    document = _document()
    document["stages"][2]["peak"] = True
    path = write(document)
    assert _error(path) == f"{path}: stages[2].peak: at most one stage may be the peak, stages[1] already is, got true"


def test_error_duplicate_stage_name(write) -> None:
    """Stage names are unique, since SLOs refer to stages by name."""
    document = _document()
    document["stages"][2]["name"] = "warm"
    path = write(document)
    assert _error(path) == f"{path}: stages[2].name: must be unique, stages[0] has it too, got 'warm'"


@pytest.mark.parametrize("time_scale", [0, -0.5, 1.5])
def test_error_time_scale_out_of_range_in_file(write, time_scale: float) -> None:
    """time_scale in the file must be in (0, 1]."""
    path = write(_document(time_scale=time_scale))
    assert _error(path) == f"{path}: time_scale: must be > 0 and <= 1, got {time_scale!r}"


def test_error_time_scale_and_multiplier_overrides(write) -> None:
    """Overrides are checked like the file's values and say they are overrides."""
    path = write(_document())
    assert _error(path, time_scale=0) == f"{path}: time_scale override: must be > 0 and <= 1, got 0"
    assert _error(path, peak_multiplier=0) == f"{path}: peak_multiplier: must be > 0 and <= 100, got 0"


def test_error_empty_or_missing_stages(write) -> None:
    """A profile without stages has nothing to play."""
    path = write(_document(stages=[]))
    assert _error(path) == f"{path}: stages: must list at least one stage, got []"
    document = _document()
    del document["stages"]
    path = write(document)
    assert _error(path) == f"{path}: stages: required key is missing"


def test_error_yaml_syntax_names_the_line(write) -> None:
    """A YAML syntax error gives the line and column."""
    path = write("name: broken\nmix: {browser: 1}\nstages:\n  - name: a\n     users: 1\n")
    assert _error(path) == f"{path}: line 5, column 11: invalid YAML, mapping values are not allowed here"


def test_error_yaml_duplicate_key(write) -> None:
    """A key written twice is an error instead of PyYAML's silent last-one-wins."""
    text = "name: a\nmix: {browser: 1}\nstages:\n  - name: a\n    users: 1\n    users: 2\n"
    path = write(text)
    assert _error(path) == f"{path}: line 6, column 5: invalid YAML, duplicate key 'users'"


def test_error_empty_file(write) -> None:
    """An empty file says so rather than 'must be a mapping, got null'."""
    path = write("")
    assert _error(path) == f"{path}: (top level): the file is empty; a profile needs at least name, mix and stages"


@pytest.mark.parametrize(
    ("stage_change", "message"),
    [
        ({"users": 40.5}, "stages[0].users: must be a whole number, got 40.5"),
        ({"users": "40"}, "stages[0].users: must be a whole number, got '40'"),
        ({"spawn_rate": 0}, "stages[0].spawn_rate: must be > 0, got 0"),
        ({"peak": "yes please"}, "stages[0].peak: must be true or false, got 'yes please'"),
        ({"name": "sale opens"}, "stages[0].name: must be letters, digits, '-' or '_', starting with a letter or "
                                 "digit, got 'sale opens'"),
    ],
)
def test_error_stage_field_types(write, stage_change: dict[str, Any], message: str) -> None:
    """Wrong types are not coerced: '40' is not 40."""
    document = _document()
    document["stages"][0].update(stage_change)
    path = write(document)
    assert _error(path) == f"{path}: {message}"


def test_error_think_time_max_below_min(write) -> None:
    """think_time_s needs min <= max."""
    path = write(_document(think_time_s={"min": 3, "max": 1}))
    assert _error(path) == f"{path}: think_time_s.max: must be >= min (3), got 1"


def test_errors_are_bad_input_with_exit_code_2() -> None:
    """Every profile error exits 2, like any other bad input."""
    with pytest.raises(BadInput) as caught:
        load_profile("spkie")
    assert caught.value.exit_code == exit_codes.BAD_INPUT == 2


def test_think_time_is_read(write) -> None:
    """think_time_s becomes a ThinkTime in seconds; absent, it is None."""
    assert load_profile(write(_document(think_time_s={"min": 1, "max": 5}))).think_time_s == profiles.ThinkTime(1, 5)
    assert load_profile(write(_document())).think_time_s is None


def test_profile_is_frozen(write) -> None:
    """Past the parser nothing can change a profile."""
    profile: Profile = load_profile(write(_document()))
    with pytest.raises(AttributeError):
        profile.stages[0].users = 1  # type: ignore[misc]
    assert hash(profile) == hash(load_profile(write(_document())))


# Public surface


def test_all_matches_the_public_names() -> None:
    """__all__ lists exactly the public, non-module names of the package, each defined in it."""
    public = {
        name for name, value in vars(profiles).items()
        if not name.startswith("_") and type(value).__name__ != "module" and name != "annotations"
    }
    assert set(profiles.__all__) == public
    for name in profiles.__all__:
        value = getattr(profiles, name)
        assert getattr(value, "__module__", "profiles").startswith("profiles"), name


def test_package_import_does_not_import_locust() -> None:
    """Importing profiles stays free of Locust and gevent (checked in a fresh interpreter)."""
    code = "import sys, profiles; print('locust' in sys.modules, 'gevent' in sys.modules)"
    result = _python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


_SHAPE_CHECK = """
import sys
from profiles import load_profile
from profiles.shape import ProfileShape

shape = ProfileShape(load_profile(sys.argv[1]))
for run_time_s in (0, 12, 30, 35):
    shape.get_run_time = lambda run_time_s=run_time_s: run_time_s
    print(shape.tick())
try:
    ProfileShape().tick()
except RuntimeError as error:
    print(error)
"""


def test_profile_shape_ticks_from_run_time(write) -> None:
    """ProfileShape.tick returns (users, spawn_rate) from the plan at get_run_time(), then None.

    Runs in a fresh interpreter: importing Locust monkey-patches ssl through
    gevent, which recurses forever once another test module imported ssl.
    """
    result = _python(_SHAPE_CHECK, write(_document()))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "(10, 5.0)",
        "(30, 10.0)",
        "(5, 25.0)",
        "None",
        "ProfileShape.profile is not set; assign load_profile(...) to it in an init listener",
    ]


def test_a_profile_that_marks_no_peak_has_its_busiest_stage_as_the_peak(tmp_path):
    """No stage marked peak: the first stage with the most users is the peak, so SLOs about 'the peak' apply."""
    path = tmp_path / "p.yaml"
    path.write_text("name: p\nmix: {browser: 1}\nstages:\n"
                    "  - {name: a, duration: 5s, users: 10, spawn_rate: 10}\n"
                    "  - {name: b, duration: 5s, users: 30, spawn_rate: 10}\n"
                    "  - {name: c, duration: 5s, users: 30, spawn_rate: 10}\n")
    assert [s.peak for s in load_profile(str(path)).stages] == [False, True, False]


# Open model: arrival rates


def _open_document(**changes: Any) -> dict[str, Any]:
    """A valid open profile: 10 s at 2/s, 20 s at 5/s (the peak), 5 s at 0/s, at time_scale 0.5."""
    document: dict[str, Any] = {
        "name": "open-sample",
        "time_scale": 0.5,
        "mix": {"browser": 3, "buyer": 1},
        "stages": [
            {"name": "warm", "duration": "20s", "arrival_rate": 2},
            {"name": "top", "duration": "40s", "arrival_rate": 5.5},
            {"name": "quiet", "duration": 10, "arrival_rate": 0},
        ],
    }
    document.update(changes)
    return document


def test_open_profile_reads_rates_and_defaults(write) -> None:
    """Arrival rates are per replay second; arrivals, seed and max_in_flight default to poisson, 20240715, 500."""
    profile = load_profile(write(_open_document()))
    assert profile.is_open and profile.model == "open"
    assert (profile.arrivals, profile.seed, profile.max_in_flight) == ("poisson", 20240715, 500)
    assert [s.arrival_rate for s in profile.stages] == [2.0, 5.5, 0.0]
    assert [(s.start_s, s.end_s) for s in profile.stages] == [(0, 10), (10, 30), (30, 35)]
    assert [s.users for s in profile.stages] == [0, 0, 0]
    assert profile.peak_stage.name == "top", "with no mark, the highest rate is the peak"
    assert profile.planned_arrivals == pytest.approx(2 * 10 + 5.5 * 20)
    assert profile.peak_users == 500


def test_open_profile_knobs_scale_rates_and_durations(write) -> None:
    """peak_multiplier multiplies the rates, time_scale shortens the stages, --max-in-flight replaces the pool."""
    source = write(_open_document(arrivals="uniform", seed=7, max_in_flight=40))
    profile = load_profile(source, time_scale=0.25, peak_multiplier=3, max_in_flight=12)
    assert [s.arrival_rate for s in profile.stages] == [6.0, 16.5, 0.0]
    assert profile.total_s == pytest.approx(17.5)
    assert (profile.arrivals, profile.seed, profile.max_in_flight) == ("uniform", 7, 12)
    assert load_profile(source).max_in_flight == 40


def test_open_plan_runs_the_pool_and_carries_the_rate(write) -> None:
    """plan_at asks Locust for the pool in every stage (started within a second) and says the stage's rate."""
    profile = load_profile(write(_open_document(max_in_flight=40)))
    tick = plan_at(profile, 12.0)
    assert (tick.users, tick.spawn_rate, tick.arrival_rate, tick.stage_name) == (40, 40.0, 5.5, "top")
    assert plan_at(load_profile("july15"), 10.0).arrival_rate is None


def test_open_stages_skip_the_ramp_rule(write) -> None:
    """A 1-second open stage is fine: there is no ramp to fit in it (the 1-second minimum still holds)."""
    profile = load_profile(write(_open_document(time_scale=0.1, max_in_flight=1000)))
    assert profile.stages[2].duration_s == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"stages": [{"name": "a", "duration": 5, "arrival_rate": 2},
                     {"name": "b", "duration": 5, "users": 3, "spawn_rate": 3}]},
         "stages[1].users: a profile is all closed (users, spawn_rate) or all open (arrival_rate), "
         "and stages[0] gives arrival_rate"),
        ({"stages": [{"name": "a", "duration": 5, "users": 3, "spawn_rate": 3},
                     {"name": "b", "duration": 5, "arrival_rate": 2}]},
         "stages[1].arrival_rate: a profile is all closed (users, spawn_rate) or all open (arrival_rate), "
         "and stages[0] gives users"),
        ({"stages": [{"name": "a", "duration": 5, "arrival_rate": 2, "users": 3}]},
         "stages[0].users: a stage gives arrival_rate (open model) or users and spawn_rate (closed model), "
         "not both, got 3"),
        ({"stages": [{"name": "a", "duration": 5, "arrival_rate": -1}]}, "stages[0].arrival_rate: must be >= 0, got -1"),
        ({"stages": [{"name": "a", "duration": 5, "arrival_rate": "fast"}]},
         "stages[0].arrival_rate: must be a number, got 'fast'"),
        ({"stages": [{"name": "a", "duration": 5, "arrival_rate": 1e9}]},
         "stages[0].arrival_rate: must be <= 100000 journeys/s, got 1000000000.0"),
        ({"stages": [{"name": "a", "duration": 5, "arrival_rate": 0}]},
         "stages: every stage has arrival_rate 0: nothing would arrive"),
        ({"arrivals": "poison"}, "arrivals: must be one of poisson, uniform, got 'poison'"),
        ({"seed": -3}, "seed: must be >= 0, got -3"),
        ({"seed": 1.5}, "seed: must be a whole number, got 1.5"),
        ({"max_in_flight": 0}, "max_in_flight: must be >= 1, got 0"),
        ({"max_inflight": 5}, "max_inflight: unknown key, did you mean 'max_in_flight'?"),
    ],
)
def test_error_open_profile_fields(write, change: dict[str, Any], message: str) -> None:
    """Each open-model mistake is one line naming the file and the field."""
    source = write(_open_document(**change))
    assert _error(source) == f"{source}: {message}"


@pytest.mark.parametrize("key", ["arrivals", "seed", "max_in_flight"])
def test_error_open_keys_in_a_closed_profile(write, key: str) -> None:
    """arrivals, seed and max_in_flight in a profile of users are refused, not ignored."""
    source = write(_document(**{key: {"arrivals": "uniform", "seed": 1, "max_in_flight": 9}[key]}))
    assert _error(source).startswith(f"{source}: {key}: only for open profiles (stages with arrival_rate)")


def test_error_max_in_flight_override_on_a_closed_profile(write) -> None:
    """--max-in-flight on a profile of users is an error, not a silent no-op."""
    source = write(_document())
    assert _error(source, max_in_flight=10) == (
        f"{source}: max_in_flight override: only for open profiles (stages with arrival_rate);"
        " this one's stages give users, got 10")


def test_july15_open_offers_the_july15_peak() -> None:
    """july15-open follows july15's timeline and offers 32 journeys/s, half of them ending in a checkout."""
    open_profile, closed = load_profile("july15-open"), load_profile("july15")
    assert [(s.name, s.start_s, s.end_s, s.peak) for s in open_profile.stages] == [
        (s.name, s.start_s, s.end_s, s.peak) for s in closed.stages]
    peak = open_profile.peak_stage
    assert peak.arrival_rate == 32
    mix = peak.mix
    assert (mix["buyer"] + mix["sniper"]) / sum(mix.values()) == 0.5
