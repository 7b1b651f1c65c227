"""The gateway's /metrics/app: the app's own metrics through the shop's URL, counted as monitoring."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from target_stub.scrape import parse
from tests._shop import session


def test_the_gateway_serves_the_apps_own_metrics(start_stub):
    """/metrics/app on the gateway is the app's /metrics: the same series, in the Prometheus text format."""
    stub = start_stub("incident")
    http = session()
    through = http.get(stub.url + "/metrics/app", timeout=10)
    assert through.status_code == 200 and through.headers["content-type"].startswith("text/plain")
    direct = http.get(stub.app_url + "/metrics", timeout=10)
    families = {f.name for f in text_string_to_metric_families(through.text)}
    assert families == {f.name for f in text_string_to_metric_families(direct.text)}
    assert "shop_db_pool_checked_out_connections" in families and "shop_gateway_responses" not in families
    assert parse(through.text).value("shop_db_pool_size_connections") == 5


def test_app_metrics_scrapes_are_counted_under_the_metrics_endpoint(start_stub):
    """Three reads of /metrics/app: the gateway counts exactly three under endpoint="/metrics", none elsewhere."""
    stub = start_stub("incident")
    http = session()
    for _ in range(3):
        assert http.get(stub.url + "/metrics/app", timeout=10).status_code == 200
    gateway = stub.scrape_gateway()  # counted after it answers: not in its own numbers
    assert gateway["shop_gateway_responses_total"] == {
        (("endpoint", "/metrics"), ("method", "GET"), ("status", "200")): 3.0}
    assert gateway.total("shop_gateway_upstream_errors_total") == gateway.total(
        "shop_gateway_upstream_timeouts_total") == 0
    assert stub.scrape_app().total("shop_app_requests_total", endpoint="/metrics") == 3
