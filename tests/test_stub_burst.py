"""The July 15 failure and its fixes, reproduced by a real burst on both backends."""

from __future__ import annotations

import asyncio

from target_stub.burst import checkout_burst, prepare_carts
from target_stub.demo import PeakSampler, wait_for_app

SHOPPERS = 300


def _burst(stub):
    carts = asyncio.run(prepare_carts(stub.url, SHOPPERS))
    sampler = PeakSampler(stub)
    sampler.start()
    seen = asyncio.run(checkout_burst(stub.url, carts))
    sampler.stopped.set()
    sampler.join()
    app, gateway = wait_for_app(stub, SHOPPERS - seen.checkouts.get(429, 0))
    return seen, sampler.peaks, app, gateway


def test_incident_burst_exhausts_the_pool_and_gateway_answers_504(start_stub, db_url):
    """incident: many 504s, requests queue for the pool, long waits or timeouts; browse still answers."""
    stub = start_stub("incident", db=db_url)
    seen, peaks, app, gateway = _burst(stub)

    assert seen.checkouts[504] >= SHOPPERS // 3, seen.checkouts
    assert set(seen.checkouts) <= {201, 504}, seen.checkouts
    assert peaks.checked_out == 5 and peaks.waiting > 0, peaks
    waits_over_2s = app.value("shop_db_pool_wait_seconds_count") - app.total("shop_db_pool_wait_seconds_bucket",
                                                                               le="2.0")
    assert app.value("shop_db_pool_timeouts_total") > 0 or waits_over_2s > 0
    assert seen.browse and set(seen.browse) == {200}, seen.browse
    assert max(seen.browse_latencies_s) < 2.0

    # Every 504 the shoppers saw is one the gateway counted, and one the app finished later.
    assert gateway.total("shop_gateway_upstream_timeouts_total", endpoint="/checkout") == seen.checkouts[504]
    assert gateway.total("shop_gateway_late_completions_total", endpoint="/checkout") == seen.checkouts[504]
    assert gateway.total("shop_gateway_responses_total", endpoint="/checkout", status="201") == seen.checkouts[201]
    assert app.total("shop_app_requests_total", endpoint="/checkout") == SHOPPERS
    app_503 = app.total("shop_app_requests_total", endpoint="/checkout", status="503")
    assert app_503 == app.value("shop_db_pool_timeouts_total")


def test_fixed_burst_has_no_504(start_stub, db_url):
    """fixed: the same burst gets no 504; what the rate limit turns away gets 429 and never reaches the app."""
    stub = start_stub("fixed", db=db_url)
    seen, peaks, app, gateway = _burst(stub)

    assert seen.checkouts[504] == 0, seen.checkouts
    assert set(seen.checkouts) <= {201, 429}, seen.checkouts
    assert seen.checkouts[201] > 0
    assert gateway.total("shop_gateway_rate_limited_total") == seen.checkouts[429]
    assert gateway.value("shop_gateway_upstream_timeouts_total") == 0
    assert app.total("shop_app_requests_total", endpoint="/checkout") == seen.checkouts[201]
    assert app.value("shop_db_pool_timeouts_total") == 0
