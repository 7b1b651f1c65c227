"""The stub's counters are the oracle: they must equal what was sent, exactly."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from tests._shop import ORDER, session


def test_counters_equal_requests_sent(start_stub, db_url):
    """A known mix of requests, sent concurrently, is counted exactly by endpoint, method and status."""
    # A gateway timeout far beyond what 8 queued checkouts take: this test counts, it does not time out.
    stub = start_stub("incident", db=db_url, args=["--gateway-timeout-s", "60"])
    http = session()
    carts = [http.post(stub.url + "/carts").json()["cart_id"] for _ in range(12)]
    adds = [("POST", "/carts/%d/items" % c, {"product_id": 30 + i, "quantity": 1}) for i, c in enumerate(carts)]
    calls = (
        [("GET", "/products?page=%d" % (i % 9 + 1), None) for i in range(37)]
        + [("GET", "/search?q=red", None)] * 23
        + [("GET", "/products/%d" % (i + 1), None) for i in range(19)]
        + [("GET", "/products/999999", None)] * 4
        + [("GET", "/sale", None)] * 6
        + [("GET", "/carts/%d" % c, None) for c in carts]
        + [("POST", "/checkout", {"cart_id": c, **ORDER}) for c in carts[:8]]
    )

    def send(call):
        method, path, body = call
        with session() as s:
            return s.request(method, stub.url + path, json=body, timeout=30).status_code

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(send, adds))  # first, so no view or checkout finds a cart still empty
        statuses += list(pool.map(send, calls))
    assert Counter(statuses) == Counter({200: 37 + 23 + 19 + 6 + 12 + 12, 404: 4, 201: 8})

    gateway, app = stub.scrape_gateway(), stub.scrape_app()
    expected = {
        ("/products", "GET", "200"): 37, ("/search", "GET", "200"): 23, ("/products/{id}", "GET", "200"): 19,
        ("/products/{id}", "GET", "404"): 4, ("/sale", "GET", "200"): 6, ("/carts", "POST", "201"): 12,
        ("/carts/{id}/items", "POST", "200"): 12, ("/carts/{id}", "GET", "200"): 12,
        ("/checkout", "POST", "201"): 8,
    }
    for metric, samples in (("shop_gateway_responses_total", gateway), ("shop_app_requests_total", app)):
        counted = {(dict(k)["endpoint"], dict(k)["method"], dict(k)["status"]): v
                   for k, v in samples[metric].items() if dict(k)["endpoint"] not in ("/healthz", "/metrics")}
        assert counted == expected, metric
    # The scrape being answered is counted only once its answer is sent.
    assert gateway.total("shop_gateway_request_duration_seconds_count") == sum(expected.values())
    # 12 carts + 12 item writes + 8 checkouts x 3 writes; reads: 12 after adds, 12 views, 8 x 21 in checkout.
    assert app.total("shop_db_queries_total", kind="write") == 12 + 12 + 8 * 3
    assert app.total("shop_db_queries_total", kind="read") == 12 + 12 + 8 * 21


def test_rate_limited_requests_never_reach_the_app(start_stub):
    """With a burst of 3, four quick checkouts: three go through, one gets 429 with Retry-After."""
    stub = start_stub("fixed", args=["--rate-limit-checkout-rps", "0.01", "--rate-limit-checkout-burst", "3"])
    http = session()
    carts = [http.post(stub.url + "/carts").json()["cart_id"] for _ in range(4)]
    for c in carts:
        http.post(f"{stub.url}/carts/{c}/items", json={"product_id": 3}).raise_for_status()
    answers = [http.post(stub.url + "/checkout", json={"cart_id": c, **ORDER}) for c in carts]
    assert [a.status_code for a in answers] == [201, 201, 201, 429]
    assert int(answers[3].headers["Retry-After"]) >= 1
    assert answers[3].json()["error"] == "rate_limited"
    assert stub.scrape_gateway().total("shop_gateway_rate_limited_total", endpoint="/checkout") == 1
    assert stub.scrape_app().total("shop_app_requests_total", endpoint="/checkout") == 3
