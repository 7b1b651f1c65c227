"""Pure parts of the load side: targets, journeys, the mix over time, shopper data, adapters."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from locustfiles.adapter import ShopAdapter
from locustfiles.journeys import JOURNEYS, SNIPER_THINK_S, Visit
from locustfiles.run_context import RunContext, load_adapter
from locustfiles.shoppers import ShopperData
from locustfiles.targets import check_target, host_allowed, normalise_hosts
from profiles import load_profile
from surgegate.errors import BadInput
from tests._locust import SHORT_PROFILE


@pytest.mark.parametrize(("host", "allowed"), [
    ("127.0.0.1", True), ("127.8.9.10", True), ("localhost", True), ("::1", True), ("[::1]", True),
    ("10.0.0.5", False), ("192.168.1.1", False), ("shop.example.com", False), ("", False), ("0.0.0.0", False),
])
def test_only_loopback_is_allowed_by_default(host, allowed):
    """Loopback addresses and localhost are targets; anything else is not, unless named."""
    assert host_allowed(host, frozenset()) is allowed


def test_allow_target_names_a_host():
    """--allow-target accepts a host or a URL and allows exactly that host."""
    allowed = normalise_hosts(["Staging.Example.com", "http://10.0.0.5:8080"])
    assert allowed == {"staging.example.com", "10.0.0.5"}
    assert check_target("http://staging.example.com:8000/", allowed) == "http://staging.example.com:8000"
    assert not host_allowed("prod.example.com", allowed)


class Recorder(ShopAdapter):
    """An adapter that records the steps journeys take, and can fail one of them."""

    name = "recorder"

    def __init__(self, fail: str = "") -> None:
        super().__init__()
        self.steps: list[str] = []
        self.fail = fail

    def _step(self, name, value):
        self.steps.append(name)
        return None if name == self.fail else value

    def browse(self, client, page): return self._step("browse", [11, 12, 13])
    def search(self, client, term): return self._step("search", [21, 22])
    def view_product(self, client, product_id): return bool(self._step("view_product", True))
    def sale_items(self, client): return self._step("sale_items", [1, 2])
    def new_cart(self, client): return self._step("new_cart", "c1")
    def add_to_cart(self, client, cart, product_id, quantity=1): return bool(self._step("add_to_cart", True))
    def view_cart(self, client, cart): return bool(self._step("view_cart", True))
    def checkout(self, client, cart, shopper): return self._step("checkout", "o1")


def _visit(adapter: Recorder, pauses: list) -> Visit:
    data = ShopperData.generate(count=3)
    return Visit(client=None, adapter=adapter, data=data, shopper=data.shopper(0), rng=random.Random(1),
                 pause=pauses.append)


@pytest.mark.parametrize(("journey", "steps", "pauses"), [
    ("abandoner", ["browse", "view_product", "new_cart", "add_to_cart", "view_cart"], [None] * 3),
    ("buyer", ["browse", "view_product", "new_cart", "add_to_cart", "view_cart", "checkout"], [None] * 4),
    ("sniper", ["sale_items", "new_cart", "add_to_cart", "checkout"], [SNIPER_THINK_S] * 2),
])
def test_journeys_walk_the_funnel(journey, steps, pauses):
    """Each journey takes its steps in order through the adapter only, pausing as a person (or a bot) would."""
    adapter, taken = Recorder(), []
    JOURNEYS[journey](_visit(adapter, taken))
    assert (adapter.steps, taken) == (steps, pauses)


def test_browser_looks_without_buying():
    """A browser browses, searches and looks at two or three products, and never opens a cart."""
    adapter = Recorder()
    JOURNEYS["browser"](_visit(adapter, []))
    assert adapter.steps[:2] == ["browse", "search"]
    assert set(adapter.steps[2:]) == {"view_product"} and 2 <= len(adapter.steps[2:]) <= 3


def test_journey_stops_at_the_first_failed_step():
    """When the product page fails, the buyer does not go on to the cart."""
    adapter = Recorder(fail="view_product")
    JOURNEYS["buyer"](_visit(adapter, []))
    assert adapter.steps == ["browse", "view_product"]


def test_mix_follows_the_stages_of_the_profile():
    """The journey weights are those of the stage running now, by the run's clock."""
    profile = load_profile(SHORT_PROFILE)
    context = RunContext(profile=profile, adapter=Recorder(), data=ShopperData.generate(count=1), host="")
    context.started_at -= 1.0  # 1 s into 'warm'
    assert context.journey_weights() == (["browser", "abandoner", "buyer", "sniper"], [40, 20, 25, 15])
    context.started_at -= 5.0  # 6 s: 'peak'
    assert context.journey_weights() == (["browser", "buyer", "sniper"], [20, 40, 40])
    context.started_at -= 100.0  # after the end: the last stage's mix
    assert context.journey_weights() == (["browser", "abandoner", "buyer", "sniper"], [40, 20, 25, 15])
    assert context.think_s == (0.05, 0.2)


def test_shopper_data_is_made_from_a_seed():
    """The same seed gives the same shoppers and search terms; shoppers have what checkout needs."""
    a, b = ShopperData.generate(count=50, seed=3), ShopperData.generate(count=50, seed=3)
    assert a == b and ShopperData.generate(count=50, seed=4) != a
    assert len({s["email"] for s in a.shoppers}) == 50
    assert all(set(s) == {"name", "email", "address", "card_token"} for s in a.shoppers)
    assert a.shopper(53) == a.shopper(3)


def test_adapter_secret_comes_from_the_environment_and_is_never_shown():
    """The example adapter reads its token from the environment; its repr does not show it."""
    adapter = load_adapter("example", frozenset(), environ={"EXAMPLE_SHOP_TOKEN": "tok-123"})
    assert adapter.headers() == {"Authorization": "Bearer tok-123"}
    assert "tok-123" not in repr(adapter) and "tok-123" not in str(vars(SimpleNamespace(a=repr(adapter))))
    with pytest.raises(BadInput, match="^--adapter example: environment variable EXAMPLE_SHOP_TOKEN is not set"):
        load_adapter("example", frozenset(), environ={})


@pytest.mark.parametrize(("spec", "message"), [
    ("nope", "--adapter: unknown adapter 'nope'; use stub, example or module:Class"),
    ("no.such.module:Adapter", "--adapter: cannot load 'no.such.module:Adapter': ModuleNotFoundError: No module named 'no'"),
    ("locustfiles.shoppers:ShopperData", "--adapter: 'locustfiles.shoppers:ShopperData' is not a ShopAdapter subclass"),
])
def test_bad_adapter_is_one_line(spec, message):
    """An adapter that cannot be used is a BadInput naming --adapter."""
    with pytest.raises(BadInput) as err:
        load_adapter(spec, frozenset())
    assert str(err.value) == message


@pytest.mark.parametrize(("call", "message"), [
    (lambda: check_target("http://[::1", frozenset()),
     "--host: must be an http(s) URL such as http://127.0.0.1:8000, got 'http://[::1'"),
    (lambda: check_target("http://127.0.0.1:99999", frozenset()),
     "--host: must be an http(s) URL such as http://127.0.0.1:8000, got 'http://127.0.0.1:99999'"),
    (lambda: normalise_hosts(["http://"]), "--allow-target: must name a host, got 'http://'"),
    (lambda: load_adapter(":X", frozenset()), "--adapter: cannot load ':X': ValueError: Empty module name"),
    (lambda: load_profile(SHORT_PROFILE, peak_multiplier=1e300),
     f"{SHORT_PROFILE}: peak_multiplier: must be > 0 and <= 100, got 1e+300"),
    (lambda: load_profile(SHORT_PROFILE, peak_multiplier=1e-9),
     f"{SHORT_PROFILE}: peak_multiplier: leaves no user in any stage, got 1e-09"),
])
def test_malformed_inputs_are_one_line_not_a_traceback(call, message):
    """Hosts, targets, adapters and multipliers that cannot work are BadInput with one line."""
    with pytest.raises(BadInput) as err:
        call()
    assert str(err.value) == message
