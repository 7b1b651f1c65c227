"""Real Locust, headless, on surgegate's locustfile against the real stub and a fake REST shop."""

from __future__ import annotations

from locustfiles.adapter import StubShopAdapter
from locustfiles.example_adapter import ExampleRestAdapter
from tests._locust import REPO, SHORT_PROFILE, assert_reconciled, run_locust
from tests.fake_rest_shop import FakeRestShop

STUB_ENDPOINTS = {
    ("GET", "/products"), ("GET", "/search"), ("GET", "/products/[id]"), ("GET", "/sale"), ("POST", "/carts"),
    ("POST", "/carts/[id]/items"), ("GET", "/carts/[id]"), ("POST", "/checkout"),
}


def _stub_counts(stub) -> dict[tuple[str, str], int]:
    """The gateway's responses by (method, Locust-style name), scrapes left out."""
    out: dict[tuple[str, str], int] = {}
    for labels, value in stub.scrape_gateway().get("shop_gateway_responses_total", {}).items():
        d = dict(labels)
        if d["endpoint"] not in ("/metrics", "/healthz"):
            key = (d["method"], d["endpoint"].replace("{id}", "[id]"))
            out[key] = out.get(key, 0) + int(value)
    return out


def test_headless_run_plays_profile_stops_by_itself_and_counts_match_the_stub(start_stub, tmp_path):
    """A short profile: Locust stops by itself, every funnel endpoint was hit, and its counts equal the stub's."""
    stub = start_stub("fixed")
    run = run_locust("--headless", "--profile", str(SHORT_PROFILE), "--host", stub.url, "--stop-timeout", "30",
                     "--only-summary", json_file=tmp_path / "stats.json")
    assert run.code in (0, 1), run.stderr[-3000:]  # 1 only for cancelled requests
    assert set(run.requests) == STUB_ENDPOINTS
    assert {name for _, name in STUB_ENDPOINTS} == set(StubShopAdapter.endpoint_names)  # what SLOs are checked against
    assert all(n > 0 for n in run.requests.values()), run.requests
    assert sum(run.failures.values()) == sum(run.cancelled().values()), run.stdout[-3000:]
    assert run.requests == run.all()  # Locust and surgegate count the same requests
    assert_reconciled(run, _stub_counts(stub))
    # progress: one line per stage, in order, and the end
    stages = [line for line in run.stderr.splitlines() if "surgegate: stage" in line]
    assert [s.split("'")[1] for s in stages] == ["warm", "peak", "cool"], stages
    assert "surgegate: profile 'short' stopped at its end, after 1" in run.stderr


def test_example_adapter_drives_a_differently_shaped_shop_with_its_token(tmp_path):
    """--adapter example: every step goes to the REST shop's own paths with the bearer token; counts match."""
    token = "s3cr3t-token-never-printed"
    with FakeRestShop(token) as shop:
        run = run_locust("--headless", "--profile", str(SHORT_PROFILE), "--host", shop.url, "--adapter", "example",
                         "--stop-timeout", "30", "--only-summary", json_file=tmp_path / "stats.json",
                         env={"EXAMPLE_SHOP_TOKEN": token})
    assert run.code in (0, 1), run.stderr[-3000:]  # 1 only for cancelled requests
    assert sum(run.failures.values()) == sum(run.cancelled().values())
    assert_reconciled(run, dict(shop.seen))
    assert {name for _, name in run.requests} == set(ExampleRestAdapter.endpoint_names) == {
        "/api/v2/items", "/api/v2/items?query", "/api/v2/items/[sku]", "/api/v2/promotions/current",
        "/api/v2/baskets", "/api/v2/baskets/[token]/lines/[sku]", "/api/v2/baskets/[token]", "/api/v2/orders"}
    assert set(shop.auth) == {f"Bearer {token}"}
    written = run.stdout + run.stderr + "".join(p.read_text() for p in tmp_path.iterdir())
    assert token not in written


def test_redirects_and_other_hosts_are_refused_and_counted(tmp_path):
    """A redirect is not followed and an absolute URL to another host is not sent: both are failures, counted."""
    token = "t"
    with FakeRestShop(token) as shop:
        run = run_locust("--headless", "--profile", str(SHORT_PROFILE), "--host", shop.url,
                         "--adapter", "tests.hostile_adapter:WanderingAdapter", "--stop-timeout", "30",
                         "--only-summary", json_file=tmp_path / "stats.json", env={"EXAMPLE_SHOP_TOKEN": token})
    moved, offsite = run.requests[("GET", "/api/v2/moved")], run.requests[("GET", "/offsite")]
    assert moved > 0 and offsite > 0
    assert run.failures[("GET", "/api/v2/moved")] == moved
    assert run.failures[("GET", "/offsite")] == offsite
    assert_reconciled(run, dict(shop.seen))  # the redirects were sent once each, never followed
    assert not any("offsite" in t or "shop.invalid" in t for _, t in shop.seen)
    assert run.errors["/api/v2/moved"] == "RefusedTarget('redirect (302) to http://shop.invalid/api/v2/items not followed')"
    assert run.errors["/offsite"] == "RefusedTarget(\"refused: 'shop.invalid' is not an allowed target (see --allow-target)\")"


def test_ramp_down_happens_on_time_even_with_a_stop_timeout(start_stub, tmp_path):
    """Shoppers asked to leave do so at their next pause, not after their whole journey: ramp-downs stay on time."""
    import csv

    stub = start_stub("fixed")
    run = run_locust("--headless", "--profile", str(REPO / "tests" / "data" / "rampdown.yaml"), "--host", stub.url,
                     "--stop-timeout", "30", "--only-summary", "--slo", str(REPO / "tests" / "data" / "slo-errors.yaml"),
                     json_file=tmp_path / "stats.json")
    assert run.code == 0, run.stdout[-3000:] + run.stderr[-3000:]  # READY: no error (cancelled ones are apart)
    with open(tmp_path / "stats_stats_history.csv", newline="") as f:
        history = [(int(row["Timestamp"]), int(row["User Count"])) for row in csv.DictReader(f)
                   if row["Name"] == "Aggregated"]
    start = history[0][0]
    peak = max(users for _, users in history)
    late_in_down = [users for t, users in history if t - start >= 8]  # 3 s into 'down' (starts at 5 s)
    assert peak == 20 and late_in_down and max(late_in_down) <= 2, history
