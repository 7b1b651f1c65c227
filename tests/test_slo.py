"""SLO files: the shipped defaults load, patterns and bounds mean what they say, bad files are one exact line."""

from __future__ import annotations

from fractions import Fraction

import pytest
import yaml

import reports.slo
from profiles import load_profile, shipped_profiles
from reports.slo import EndpointPattern, StatusMatch, load_slo, parse_slo, shipped_slo_path
from surgegate.errors import BadInput

STUB_ENDPOINTS = ("/products", "/search", "/products/[id]", "/sale", "POST /carts", "POST /carts/[id]/items",
                  "GET /carts/[id]", "POST /checkout")
JULY15 = load_profile("july15")


def objective(**fields) -> dict:
    """A valid p95 objective with ``fields`` replaced or added."""
    return {"metric": "p95", "bound": "1s", **fields}


def check(document: dict | str) -> reports.slo.SloSet:
    """Parse ``document`` as ``slo.yaml`` against the stub's endpoints and july15's stages."""
    text = document if isinstance(document, str) else yaml.safe_dump(document)
    return parse_slo(text, "slo.yaml", endpoint_names=STUB_ENDPOINTS, stages=JULY15.stages)


def test_public_names_are_listed():
    """The module's public surface is its __all__, and every name in it exists."""
    assert all(hasattr(reports.slo, name) for name in reports.slo.__all__)
    assert {"load_slo", "parse_slo", "SloSet", "Objective"} <= set(reports.slo.__all__)


@pytest.mark.parametrize("profile", shipped_profiles())
def test_shipped_defaults_fit_every_shipped_profile(profile):
    """The shipped slo.yaml names only the stub's endpoints and stages every profile has (peak by mark)."""
    slos = load_slo(shipped_slo_path(), endpoint_names=STUB_ENDPOINTS, stages=load_profile(profile).stages)
    assert [o.name for o in slos.objectives] == [
        "checkout-504-peak-windows", "checkout-p95-peak", "cart-5xx-peak", "browse-p99", "overall-error-rate",
        "checkout-429-peak", "recovery-after-peak"]
    assert slos.generator.max_cpu_percent == 90 and slos.generator.sustained_s == 5


def test_bounds_are_exact_numbers_in_base_units():
    """0.5% is exactly 1/200, 1.5s is 1,500,000 us, 250 ms is 250,000 us, 20/s is 20 requests a second."""
    slos = check({"objectives": [objective(bound="1.5s"), objective(bound="250 ms"),
                                 objective(metric="error_rate", bound="0.5%"),
                                 objective(metric="throughput", bound="20/s"),
                                 objective(metric="dropped_arrivals", bound=0)]})
    assert [o.bound.value for o in slos.objectives] == [Fraction(1_500_000), Fraction(250_000), Fraction(1, 200),
                                                         Fraction(20), Fraction(0)]


def test_scopes_and_recovery_are_read():
    """Scopes default to the run; windows are whole seconds; recovery windows default to 10 s."""
    slos = check({"objectives": [
        objective(), objective(scope={"stage": "peak"}), objective(scope={"stage": "peak", "window": "30s"}),
        objective(scope={"window": "1m"}),
        objective(metric="status_rate", status=["5xx", 429], bound="1%", recovery={"after": "peak", "within": "60s"}),
    ]})
    assert [(o.scope.stage, o.scope.window_s) for o in slos.objectives[:4]] == \
        [(None, None), ("peak", None), ("peak", 30), (None, 60)]
    recovery = slos.objectives[4].recovery
    assert (recovery.after, recovery.within_s, recovery.window_s) == ("peak", 60.0, 10)
    assert slos.objectives[4].statuses == (StatusMatch("5xx"), StatusMatch("429"))


def test_default_names_say_what_is_judged():
    """An objective without a name is named from its fields."""
    slos = check({"objectives": [objective(endpoint="POST /checkout", scope={"stage": "peak", "window": "30s"}),
                                 objective(metric="error_rate", bound="1%",
                                           recovery={"after": "peak", "within": "1m"})]})
    assert [o.name for o in slos.objectives] == ["POST /checkout p95 <= 1s, every 30 s of stage peak",
                                                 "* error rate back under 1% within 60 s after stage peak"]


@pytest.mark.parametrize(("pattern", "method", "name", "matches"), [
    ("/products/[id]", "GET", "/products/[id]", True),   # '[id]' is literal, not a character class
    ("/products/[id]", "GET", "/products/i", False),
    ("/carts*", "POST", "/carts/[id]/items", True),
    ("/carts*", "GET", "/checkout", False),
    ("POST /carts*", "GET", "/carts/[id]", False),
    ("POST /carts*", "POST", "/carts", True),
    ("/products/?d]", "GET", "/products/[id]", False),
    ("/products/[?d]", "GET", "/products/[id]", True),
])
def test_endpoint_patterns_glob_with_star_and_question_mark_only(pattern, method, name, matches):
    """'*' is any text, '?' one character, everything else (brackets too) literal; a method narrows."""
    parsed = parse_slo(yaml.safe_dump({"objectives": [objective(endpoint=pattern)]}), "slo.yaml").objectives[0]
    parsed = parsed.endpoints[0]
    assert isinstance(parsed, EndpointPattern)
    assert parsed.matches(method, name) is matches


def test_star_is_every_request():
    """'*', alone or in a list, or no endpoint at all, is the whole run's traffic."""
    slos = check({"objectives": [objective(), objective(endpoint="*"), objective(endpoint=["POST /checkout", "*"])]})
    assert all(o.endpoints == () and o.accepts("GET", "/anything") for o in slos.objectives)
    # the same made-up name thrice: made unique, since compare matches objectives by name
    assert [o.name for o in slos.objectives] == ["* p95 <= 1s, run", "* p95 <= 1s, run (objectives[1])",
                                                 "* p95 <= 1s, run (objectives[2])"]


@pytest.mark.parametrize(("document", "message"), [
    ({"objectives": [objective(), objective(), objective(bound=800)]},
     'slo.yaml: objectives[2].bound: "800" has no unit (use ms or s)'),
    ({"objectives": [objective(metric="error_rate", bound="0.5")]},
     'slo.yaml: objectives[0].bound: "0.5" has no unit (use %)'),
    ({"objectives": [objective(metric="throughput", bound=5)]},
     'slo.yaml: objectives[0].bound: "5" has no unit (use /s)'),
    ({"objectives": [objective(metric="error_rate", bound="1ms")]},
     'slo.yaml: objectives[0].bound: "1ms" is not a number with a unit (use %)'),
    ({"objectives": [objective(metric="error_rate", bound="150%")]},
     'slo.yaml: objectives[0].bound: "150%" is over 100%'),
    ({"objectives": [objective(bound="-5ms")]}, "slo.yaml: objectives[0].bound: must be >= 0, got '-5ms'"),
    ({"objectives": [objective(metric="p101")]},
     "slo.yaml: objectives[0].metric: percentile out of range: must be above p0 and below p100 (use max for the "
     "slowest), got 'p101'"),
    ({"objectives": [objective(metric="p0")]},
     "slo.yaml: objectives[0].metric: percentile out of range: must be above p0 and below p100 (use max for the "
     "slowest), got 'p0'"),
    ({"objectives": [objective(metric="p75")]},
     "slo.yaml: objectives[0].metric: percentile p75 is not reported; use one of p50, p90, p95, p99, p99.9, max"),
    ({"objectives": [objective(boundd="1s")]}, "slo.yaml: objectives[0].boundd: unknown key, did you mean 'bound'?"),
    ({"objectives": [objective()], "generatr": {}}, "slo.yaml: generatr: unknown key, did you mean 'generator'?"),
    ({"objectives": [objective(scope={"stage": "peak", "windw": "30s"})]},
     "slo.yaml: objectives[0].scope.windw: unknown key, did you mean 'window'?"),
    ({"objectives": [objective(endpoint="POST /chekout")]},
     "slo.yaml: objectives[0].endpoint: 'POST /chekout' matches no endpoint of the adapter, did you mean "
     "'POST /checkout'?"),
    ({"objectives": [objective(endpoint=["/sale", "/basket*"])]},
     "slo.yaml: objectives[0].endpoint[1]: '/basket*' matches no endpoint of the adapter; the adapter's endpoints: "
     "/products, /products/[id], /sale, /search, GET /carts/[id], POST /carts, POST /carts/[id]/items, "
     "POST /checkout"),
    ({"objectives": [objective(endpoint="post /checkout")]},
     "slo.yaml: objectives[0].endpoint: methods are upper case: 'POST', got 'post /checkout'"),
    ({"objectives": [objective(metric="status_rate", bound="1%")]},
     "slo.yaml: objectives[0].status: required key is missing (status_rate needs a status, e.g. 504 or '5xx')"),
    ({"objectives": [objective(metric="error_rate", bound="1%", status=504)]},
     "slo.yaml: objectives[0].status: only status_rate takes a status (metric is error_rate)"),
    ({"objectives": [objective(metric="status_rate", bound="1%", status="6xx")]},
     "slo.yaml: objectives[0].status: must be a status code (100-599) or class ('5xx'), got '6xx'"),
    ({"objectives": [objective(scope={"stage": "peak", "window": "0.5s"})]},
     "slo.yaml: objectives[0].scope.window: must be a whole number of seconds (windows are 1 s), got '0.5s'"),
    ({"objectives": [objective(scope="peak")]},
     "slo.yaml: objectives[0].scope: must be 'run' or a mapping like {stage: peak, window: 30s}, got 'peak'"),
    ({"objectives": [objective(scope={"stage": "peek"})]},
     "slo.yaml: objectives[0].scope.stage: no stage 'peek' in the profile (stages: baseline, sale-opens, surge, "
     "peak, fix, recovery), did you mean 'peak'?"),
    ({"objectives": [objective(metric="error_rate", bound="1%", recovery={"after": "surge"}, scope="run")]},
     "slo.yaml: objectives[0].recovery: an objective has a scope or a recovery, not both"),
    ({"objectives": [objective(recovery={"after": "peak", "within": "60s"})]},
     "slo.yaml: objectives[0].recovery: recovery judges error_rate or status_rate, not p95"),
    ({"objectives": [objective(metric="error_rate", bound="1%", recovery={"after": "peak"})]},
     "slo.yaml: objectives[0].recovery.within: required key is missing"),
    ({"objectives": [objective(name="a"), objective(name="a")]},
     "slo.yaml: objectives[1].name: 'a' is already the name of objectives[0]"),
    ({"objectives": [objective(min_requests=0)]},
     "slo.yaml: objectives[0].min_requests: must be a whole number >= 1, got 0"),
    ({"generator": {"max_cpu_percent": 150}, "objectives": [objective()]},
     "slo.yaml: generator.max_cpu_percent: must be a number in (0, 100], got 150"),
    ({"generator": {"sustained": "5 min"}, "objectives": [objective()]},
     "slo.yaml: generator.sustained: must be a duration like '90s', '5m', '1h30m' or a number of seconds, "
     "got '5 min'"),
    ({"objectives": []}, "slo.yaml: objectives: must list at least one objective, got []"),
    ("", "slo.yaml: (top level): the file is empty; an SLO file needs at least one objective"),
    ("objectives: [", "slo.yaml: line 1, column 14: invalid YAML, expected the node content, but found "
                      "'<stream end>'"),
    ("objectives: []\nobjectives: []\n", "slo.yaml: line 2, column 1: invalid YAML, duplicate key 'objectives'"),
    ("- a\n- b\n", "slo.yaml: (top level): must be a mapping, got ['a', 'b']"),
])
def test_bad_slo_file_is_one_exact_line(document, message):
    """Each mistake is one BadInput line: the file, the field, what was wrong and the value."""
    with pytest.raises(BadInput) as caught:
        check(document)
    assert str(caught.value) == message


def test_missing_file_is_bad_input(tmp_path):
    """A path that does not exist is named as given."""
    with pytest.raises(BadInput) as caught:
        load_slo(tmp_path / "nope.yaml")
    assert str(caught.value) == f"{tmp_path / 'nope.yaml'}: no such file"


def test_unknown_patterns_are_accepted_without_the_adapter():
    """Without the adapter's names (surgegate report), a pattern is not checked: unmatched, it has no data."""
    slos = parse_slo(yaml.safe_dump({"objectives": [objective(endpoint="/nothing-like-it")]}), "slo.yaml")
    assert slos.objectives[0].endpoints[0].text == "/nothing-like-it"
