"""Pure parts of the stub: presets, knob checks, endpoint templates, the token bucket."""

from __future__ import annotations

import pytest

from surgegate.errors import BadInput
from target_stub.catalogue import generate_catalogue
from target_stub.config import KNOBS, build_config, load_presets
from target_stub.gateway import TokenBucket
from target_stub.routes import OTHER, endpoint_of


def test_presets_give_every_knob():
    """Every shipped preset sets every knob, within its range."""
    presets = load_presets()
    assert {"incident", "fixed"} <= set(presets)
    for knobs in presets.values():
        assert set(knobs) == {k.name for k in KNOBS}


def test_incident_and_fixed_differ_by_the_three_fixes():
    """fixed = incident with a bigger pool, fewer queries per checkout and a checkout rate limit."""
    incident, fixed = load_presets()["incident"], load_presets()["fixed"]
    assert fixed["pool_size"] + fixed["max_overflow"] > incident["pool_size"] + incident["max_overflow"]
    assert fixed["queries_per_checkout"] < incident["queries_per_checkout"]
    assert incident["rate_limit_checkout_rps"] == 0 < fixed["rate_limit_checkout_rps"]
    same = {k for k in incident if incident[k] == fixed[k]}
    assert same == {"pool_timeout_s", "query_time_ms", "app_workers", "payment_latency_ms", "gateway_timeout_s"}


def test_override_wins_over_preset():
    """A command-line value replaces the preset's, converted to the knob's type."""
    config = build_config("incident", {"pool_size": "8", "query_time_ms": "2.5"}, "sqlite:///x.db")
    assert (config.pool_size, config.query_time_ms, config.max_overflow) == (8, 2.5, 0)


def test_bad_preset_file_names_file_preset_and_knob(tmp_path):
    """A typo in a presets file is reported with the file, the preset and a suggestion."""
    path = tmp_path / "presets.yaml"
    path.write_text("mine:\n  pool_siez: 3\n")
    with pytest.raises(BadInput) as err:
        load_presets(path)
    assert str(err.value) == f"{path}: mine.pool_siez: unknown knob (did you mean 'pool_size'?)"


def test_a_preset_given_twice_is_refused(tmp_path):
    """A second ``mine:`` would silently replace the first: it is an error at its line, as in every YAML file."""
    path = tmp_path / "presets.yaml"
    path.write_text("mine:\n  pool_size: 3\nmine:\n  pool_size: 4\n")
    with pytest.raises(BadInput) as err:
        load_presets(path)
    assert str(err.value) == f"{path}: line 3, column 1: invalid YAML, duplicate key 'mine'"


@pytest.mark.parametrize(("path", "template"), [
    ("/products", "/products"), ("/products/17", "/products/{id}"), ("/products/17/", "/products/{id}"),
    ("/carts/3/items", "/carts/{id}/items"), ("/checkout", "/checkout"), ("/search", "/search"),
    ("/admin", OTHER), ("/products/1/2", OTHER),
])
def test_paths_map_to_bounded_templates(path, template):
    """Ids never reach a metric label: every path maps to one of a fixed set of templates."""
    assert endpoint_of(path) == template


def test_token_bucket_allows_burst_then_rate():
    """Burst 3 at 2/s: three at once, then one every half second, with the wait said in advance."""
    now = [100.0]
    bucket = TokenBucket(rate=2.0, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(0.5)
    now[0] += 0.25
    assert bucket.take() == pytest.approx(0.25)
    now[0] += 0.25
    assert bucket.take() == 0.0


def test_catalogue_is_deterministic():
    """The same seed gives the same catalogue; the first five products are the sale."""
    a, b = generate_catalogue(50, seed=7), generate_catalogue(50, seed=7)
    assert a == b and generate_catalogue(50, seed=8) != a
    assert [p.on_sale for p in a[:6]] == [True] * 5 + [False]
    assert all(p.sale_price_cents < p.price_cents for p in a[:5])
