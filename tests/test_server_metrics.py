"""Server-side metrics: scraped from the real stub and a real PostgreSQL, gaps instead of crashes, no secrets.

The pure parts (``reports.server_metrics`` and the modules it uses) run in this process; the glue
(``locustfiles.server_scrape``) imports gevent, so it runs only inside real
Locust processes, on a locustfile written by the test.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from prometheus_client import CollectorRegistry, Counter as PromCounter, Gauge, Histogram, generate_latest
from prometheus_client import GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from locustfiles.targets import host_allowed
from reports.results_folder import ResultsFolder
from reports.keep_list import DEFAULT_KEEP, KeepList, load_keep_list
from reports.prometheus_source import PrometheusSource, parse_exposition
from reports.redaction import redact_argv
from reports.server_metrics import build_scraper
from reports.server_rows import EVENTS_FILE, ROWS_FILE, ScrapeError
from surgegate.errors import BadInput
from surgegate.net import is_loopback
from tests._locust import LOCUSTFILE, REPO, SHORT_PROFILE, locust_env, run_locust
from tests._shop import session

SECRET = "s3cr3t-Pa55word"
"""A password put in DSNs; the throwaway PostgreSQL trusts every local connection, so any password works."""


# -- helpers ----------------------------------------------------------------------------------------------------------


def _stub_sources(stub) -> dict[str, str]:
    """The stub's sources as the stub adapter names them: the gateway's metrics and the app's through it."""
    return {"gateway": stub.url + "/metrics", "app": stub.url + "/metrics/app"}


def _series(rows: list[dict], source: str, metric: str) -> dict[tuple, float]:
    """``{sorted label pairs: value}`` of one metric of one source."""
    return {tuple(sorted(r["labels"].items())): r["value"] for r in rows
            if r["source"] == source and r["metric"] == metric}


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, read back, closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def silent_port():
    """A loopback port that accepts connections (the kernel's backlog) and never answers a byte."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


def _pg_dsn(pg_url: str, dbname: str | None = None, password: str | None = None) -> str:
    """The test PostgreSQL's SQLAlchemy URL as a libpq URL, optionally for another database and with a password."""
    dsn = pg_url.replace("postgresql+psycopg://", "postgresql://")
    if password:
        dsn = dsn.replace("postgres@", f"postgres:{password}@", 1)
    if dbname:
        dsn = dsn.rsplit("/", 1)[0] + "/" + dbname
    return dsn


@pytest.fixture
def fresh_db(pg_url):
    """A database of its own on the test PostgreSQL, so that connection counts in it are exact."""
    name = f"sm_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_pg_dsn(pg_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(_pg_dsn(pg_url), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _bad(**kwargs) -> str:
    """The one-line error ``build_scraper`` raises for these options."""
    kwargs.setdefault("host_ok", is_loopback)
    with pytest.raises(BadInput) as err:
        build_scraper(kwargs.pop("urls", []), **kwargs)
    return str(err.value)


# -- scraping the real stub -------------------------------------------------------------------------------------------


def test_one_scrape_holds_exactly_what_was_sent(start_stub):
    """After known requests, one scrape of gateway and app holds those exact counts, per endpoint and status."""
    stub = start_stub("incident")
    http = session()
    sent = [("GET", "/products", 200)] * 7 + [("GET", "/sale", 200)] * 4 + [("POST", "/carts", 201)] * 3 \
        + [("GET", "/products/999999", 404)] * 2
    for method, path, status in sent:
        assert http.request(method, stub.url + path, timeout=30).status_code == status
    expected = Counter((("endpoint", "/products/{id}" if p.startswith("/products/") else p), ("method", m),
                        ("status", str(s))) for m, p, s in sent)
    with build_scraper([], default_sources=_stub_sources(stub), host_ok=is_loopback) as scraper:
        rows, gaps = scraper.scrape_once(0.0)
        assert gaps == []
        gateway = _series(rows, "gateway", "shop_gateway_responses_total")
        assert gateway == dict(expected)  # the gateway's own scrape is counted after it answers
        app = _series(rows, "app", "shop_app_requests_total")
        assert {k: v for k, v in app.items() if dict(k)["endpoint"] not in ("/healthz", "/metrics")} == dict(expected)
        assert _series(rows, "app", "shop_db_pool_size_connections") == {(): 5.0}
        pool_wait = {r["metric"] for r in rows if r["metric"].startswith("shop_db_pool_wait_seconds")}
        assert pool_wait == {f"shop_db_pool_wait_seconds_{s}" for s in ("bucket", "sum", "count")}
        assert _series(rows, "app", "shop_db_pool_wait_seconds_count") == {(): 3.0}  # one connection per cart
        assert _series(rows, "app", "up") == _series(rows, "gateway", "up") == {(): 1.0}
        assert {r["t"] for r in rows} == {0.0}

        # Both scrapes reached the gateway, and it counted them where it counts its own: endpoint="/metrics".
        rows, _ = scraper.scrape_once(1.0)
        metrics = {k: v for k, v in _series(rows, "gateway", "shop_gateway_responses_total").items()
                   if dict(k)["endpoint"] == "/metrics"}
        assert metrics == {(("endpoint", "/metrics"), ("method", "GET"), ("status", "200")): 2.0}
        assert not any(r["labels"].get("endpoint") == "other" for r in rows)


def test_rows_are_one_json_line_per_sample(start_stub, tmp_path):
    """Each row has t, source, metric, type, labels and value, and survives a JSON round trip unchanged."""
    stub = start_stub("incident")
    with build_scraper([], default_sources=_stub_sources(stub), host_ok=is_loopback) as scraper:
        rows, _ = scraper.scrape_once(2.5)
    folder = ResultsFolder(tmp_path)
    folder.append_lines(ROWS_FILE, rows)
    back = folder.read_lines(ROWS_FILE)
    assert back == rows
    assert {frozenset(r) for r in back} == {frozenset({"t", "source", "metric", "type", "labels", "value"})}
    bucket = next(r for r in back if r["metric"] == "shop_db_pool_wait_seconds_bucket" and r["labels"]["le"] == "+Inf")
    assert bucket == {"t": 2.5, "source": "app", "metric": "shop_db_pool_wait_seconds_bucket", "type": "histogram",
                      "labels": {"le": "+Inf"}, "value": 0.0}


def test_a_source_that_is_down_is_a_gap_not_an_error(start_stub):
    """A refused source gives up = 0 and a gap with its reason; the other sources are scraped as usual."""
    stub = start_stub("incident")
    dead = f"http://127.0.0.1:{_closed_port()}/metrics"
    with build_scraper([f"gateway={stub.url}/metrics", f"dead={dead}"], host_ok=is_loopback) as scraper:
        rows, gaps = scraper.scrape_once(3.0)
    assert gaps == [{"t": 3.0, "event": "scrape_gap", "source": "dead", "reason": "connection refused"}]
    assert [r["metric"] for r in rows if r["source"] == "dead"] == ["up", "scrape_duration_seconds"]
    assert _series(rows, "dead", "up") == {(): 0.0}
    assert _series(rows, "gateway", "up") == {(): 1.0}


def test_http_errors_and_bodies_that_are_not_metrics_are_gaps(start_stub):
    """A 404 and a JSON body are gaps with short reasons, not exceptions."""
    stub = start_stub("incident")
    urls = [f"missing={stub.url}/nope", f"json={stub.url}/sale"]
    with build_scraper(urls, host_ok=is_loopback) as scraper:
        _, gaps = scraper.scrape_once(0.0)
    reasons = {g["source"]: g["reason"] for g in gaps}
    assert reasons["missing"] == "HTTP 404"
    assert reasons["json"].startswith("unparseable body: ")


def test_a_silent_source_times_out_within_the_interval(silent_port):
    """A source that accepts and never answers costs 0.8 x the interval, then is a gap."""
    with build_scraper([f"silent=http://127.0.0.1:{silent_port}/metrics"], interval="0.2",
                       host_ok=is_loopback) as scraper:
        assert scraper.timeout_s == pytest.approx(0.16)
        started = time.perf_counter()
        rows, gaps = scraper.scrape_once(0.0)
        took_s = time.perf_counter() - started
    assert [g["reason"] for g in gaps] == ["timed out after 0.16 s"]
    assert 0.15 <= took_s < 0.5
    assert _series(rows, "silent", "scrape_duration_seconds")[()] == pytest.approx(took_s, abs=0.05)


def test_a_failing_source_is_logged_once_and_again_when_it_answers(start_stub, caplog):
    """Three failed scrapes log one warning; the first good one after them logs that it answers again."""
    port = _closed_port()
    caplog.set_level(logging.INFO, logger="surgegate")
    with build_scraper([f"gateway=http://127.0.0.1:{port}/metrics"], host_ok=is_loopback) as scraper:
        for t in range(3):
            assert len(scraper.scrape_once(float(t))[1]) == 1
        start_stub("incident", args=["--port", str(port)])
        rows, gaps = scraper.scrape_once(3.0)
    assert gaps == [] and _series(rows, "gateway", "up") == {(): 1.0}
    assert [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "surgegate"] == [
        ("WARNING", "surgegate: server metrics: cannot scrape gateway (connection refused); "
                    "recording gaps until it answers"),
        ("INFO", "surgegate: server metrics: gateway answers again after 3 failed scrapes"),
    ]


def test_run_scrapes_every_interval_and_once_more_at_stop(start_stub, tmp_path):
    """Each source on its own clock: a tick every interval, a final scrape at stop, a dead one delays nobody."""
    stub = start_stub("incident")
    folder = ResultsFolder(tmp_path)
    urls = [f"gateway={stub.url}/metrics", f"dead=http://127.0.0.1:{_closed_port()}/metrics"]
    scraper = build_scraper(urls, interval="0.2", host_ok=is_loopback)
    stop_at = time.time() + 1.1
    started_at_s = time.time()
    runner = threading.Thread(target=scraper.run, args=(started_at_s, folder.append_lines,
                                                        lambda: time.time() >= stop_at))
    runner.start()
    runner.join(timeout=1.1 + scraper.stop_grace_s + 1)
    assert not runner.is_alive()
    returned_after_s = time.time() - stop_at
    scraper.close()
    assert returned_after_s < scraper.stop_grace_s
    rows = folder.read_lines(ROWS_FILE)
    ticks = [r["t"] for r in rows if r["source"] == "gateway" and r["metric"] == "up"]
    *regular, last = ticks  # 0, 0.2, ... 1.0 (a busy machine may skip one), and one more at stop
    assert regular[0] < 0.1 and len(regular) >= 5
    slots = [round(t / 0.2) for t in regular]
    assert slots == sorted(set(slots)) and all(abs(t - 0.2 * n) < 0.1 for t, n in zip(regular, slots))
    assert last == pytest.approx(1.1, abs=0.15)
    dead = [r["value"] for r in rows if r["source"] == "dead" and r["metric"] == "up"]
    gaps = folder.read_lines(EVENTS_FILE)  # one per failed scrape, and no last scrape for a failing source
    assert len(dead) >= 5 and set(dead) == {0.0} and len(gaps) == len(dead)
    assert {(g["event"], g["source"], g["reason"]) for g in gaps} == {("scrape_gap", "dead", "connection refused")}


def test_run_stops_and_raises_when_the_folder_cannot_be_written(start_stub, tmp_path):
    """The folder vanishing mid-run stops every loop at once and hands the OSError to run's caller."""
    stub = start_stub("incident")
    folder = ResultsFolder(tmp_path / "run")
    scraper = build_scraper([], default_sources=_stub_sources(stub), interval="0.2", host_ok=is_loopback)
    started = time.perf_counter()
    with pytest.raises(FileNotFoundError):
        scraper.run(time.time(), folder.append_lines, lambda: time.perf_counter() - started > 10)  # no folder
    assert time.perf_counter() - started < 2
    scraper.close()


# -- what is kept ----------------------------------------------------------------------------------------------------


def _mixed_exposition() -> str:
    """Real prometheus_client output: process, GC and platform collectors beside pool, HTTP and shop metrics."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    GCCollector(registry=registry)
    PlatformCollector(registry=registry)
    Gauge("shop_db_pool_checked_out_connections", "in use", registry=registry).set(3)
    PromCounter("shop_gateway_responses", "sent", ["endpoint"], registry=registry).labels("/checkout").inc(7)
    Histogram("shop_db_pool_wait_seconds", "wait", buckets=(0.1, 1.0), registry=registry).observe(0.5)
    Gauge("hikaricp_connections_pending", "pending", ["pool"], registry=registry).labels("HikariPool-1").set(4)
    Gauge("db_client_connections_usage", "usage", ["state"], registry=registry).labels("used").set(9)
    Histogram("http_server_request_duration_seconds", "http", buckets=(1.0,), registry=registry).observe(0.2)
    Gauge("jvm_memory_used_bytes", "heap", registry=registry).set(1e9)
    return generate_latest(registry).decode()


def test_the_default_keep_list_drops_unrelated_metrics():
    """Process, GC, platform and JVM metrics are dropped; pool, HTTP and shop metrics are kept, histograms whole,
    but for the buckets of per-endpoint request latency, which no reader reads."""
    rows = parse_exposition(_mixed_exposition(), KeepList(DEFAULT_KEEP))
    assert sorted({r["metric"] for r in rows}) == [
        "db_client_connections_usage", "hikaricp_connections_pending",
        "http_server_request_duration_seconds_count",
        "http_server_request_duration_seconds_sum", "shop_db_pool_checked_out_connections",
        "shop_db_pool_wait_seconds_bucket", "shop_db_pool_wait_seconds_count", "shop_db_pool_wait_seconds_sum",
        "shop_gateway_responses_total",
    ]  # no _created: series creation times are not measurements
    pending = next(r for r in rows if r["metric"] == "hikaricp_connections_pending")
    assert pending == {"metric": "hikaricp_connections_pending", "type": "gauge", "labels": {"pool": "HikariPool-1"},
                       "value": 4.0}
    buckets = {r["labels"]["le"]: r["value"] for r in rows if r["metric"] == "shop_db_pool_wait_seconds_bucket"}
    assert buckets == {"0.1": 0.0, "1.0": 1.0, "+Inf": 1.0}


_TRICKY_EXPOSITION = """\
# a comment, then a counter without _total, one with it, and a sample before any header
loose_gauge 1
# HELP jobs_done Done without _total in the header
# TYPE jobs_done counter
jobs_done{queue="a"} 3
# TYPE shop_db_queries_total counter
shop_db_queries_total 7
# TYPE shop_app_wait_seconds histogram
shop_app_wait_seconds_bucket{le="1.0"} 2
stray_between 5
shop_app_wait_seconds_sum 0.5
shop_app_wait_seconds_count 2
# TYPE shop_payment_lag summary
shop_payment_lag{quantile="0.5"} 0.1
shop_payment_lag_count 4
shop_payment_lag_sum 0.4
# HELP shop_gateway_up help only: untyped
shop_gateway_up 1
shop_gateway_up_extra 2

# TYPE twice counter
twice 1
# TYPE dropped_family gauge
dropped_family 1
twice 2
loose_after_dropped 3
"""
"""Every grouping rule of prometheus_client's parser: counters with and without _total, a stray sample that
ends a histogram (its _sum and _count then stand alone), summaries, HELP without TYPE, comments and blank lines,
and strays after the header of a family nothing of which is kept (the header must stay: it ends the family before)."""


_KEEP_LISTS = [
    DEFAULT_KEEP, ("shop_*",), ("jobs_*", "loose_gauge"), ("jobs_done_total",), ("shop_app_wait_seconds",),
    ("shop_app_wait_seconds_sum",), ("stray_*", "shop_payment_lag"), ("*", "!*_bucket", "!shop_gateway_up_extra"),
    ("shop_db_queries",), ("process_*", "python_*", "!process_cpu_*"), ("nothing_matches",),
    ("shop_app_wait_seconds_sum", "!shop_app_wait_seconds"),  # the _sum after the stray stands alone: kept
    ("twice",), ("loose_*",), ("twice_total",),
]


def test_lines_left_unparsed_change_nothing(start_stub):
    """What a keep-list keeps is the same whether the lines it drops are parsed or not, on real pages (the stub
    after some traffic, prometheus_client's own collectors) and on a page of every grouping rule."""
    stub = start_stub("incident")
    with session() as s:
        for path in ("/products", "/search?q=lamp", "/products/1", "/sale"):
            s.get(stub.url + path, timeout=10)
        pages = [s.get(stub.url + path, timeout=10).text for path in ("/metrics", "/metrics/app")]
    for patterns in _KEEP_LISTS:
        keep = KeepList(tuple(patterns))

        def parsed_whole(text: str) -> list[dict]:
            return [{"metric": kept.name, "type": family.type, "labels": dict(kept.labels), "value": float(kept.value)}
                    for family in text_string_to_metric_families(text) for kept in family.samples
                    if keep.keeps(family.name, kept.name)]

        decided: dict = {}
        for text in (*pages, _mixed_exposition(), _TRICKY_EXPOSITION):
            for _ in range(2):  # the second time from the decisions kept between scrapes
                assert parse_exposition(text, keep, decided) == parsed_whole(text), (patterns, text[:80])


def test_lines_the_keep_list_drops_are_not_parsed():
    """A malformed line in a family nobody keeps does not fail the scrape (it is never parsed); in a kept one it does."""
    keep = KeepList(("shop_*",))
    text = "# TYPE jvm_threads gauge\njvm_threads{broken 1\n# TYPE shop_db_up gauge\nshop_db_up 1\n"
    assert parse_exposition(text, keep) == [{"metric": "shop_db_up", "type": "gauge", "labels": {}, "value": 1.0}]
    with pytest.raises(ScrapeError, match="unparseable body"):
        parse_exposition(text.replace("shop_db_up 1", "shop_db_up{broken 1"), keep)


def test_a_config_file_keeps_only_what_it_names(tmp_path):
    """A keep-list of a name and a glob keeps those; include_defaults puts the default list before them."""
    path = tmp_path / "metrics.yaml"
    path.write_text("keep:\n  - jvm_memory_used_bytes\n  - process_cpu_*\n")
    keep = load_keep_list(str(path))
    assert keep == KeepList(("jvm_memory_used_bytes", "process_cpu_*"), origin=str(path))
    assert {r["metric"] for r in parse_exposition(_mixed_exposition(), keep)} == {
        "jvm_memory_used_bytes", "process_cpu_seconds_total"}
    path.write_text("keep: [jvm_*]\ninclude_defaults: true\n")
    assert load_keep_list(str(path)).patterns == (*DEFAULT_KEEP, "jvm_*")


def test_the_last_matching_pattern_decides():
    """'!' drops what it matches; a later pattern keeps it again, so a file can take back a bucket the defaults drop."""
    keep = KeepList(("shop_app_*", "!shop_app_*_bucket", "shop_app_request_duration_seconds_bucket"))
    assert keep.keeps("shop_app_request_duration_seconds", "shop_app_request_duration_seconds_bucket")
    assert not keep.keeps("shop_app_wait_seconds", "shop_app_wait_seconds_bucket")
    assert keep.keeps("shop_app_wait_seconds", "shop_app_wait_seconds_count")
    assert not keep.keeps("jvm_threads", "jvm_threads")
    assert not KeepList(("!shop_app_*", "shop_app_*x")).keeps("shop_app_y", "shop_app_y")
    defaults = KeepList(DEFAULT_KEEP)
    assert not defaults.keeps("shop_app_request_duration_seconds", "shop_app_request_duration_seconds_bucket")
    assert defaults.keeps("shop_app_request_duration_seconds", "shop_app_request_duration_seconds_sum")
    assert defaults.keeps("shop_db_pool_wait_seconds", "shop_db_pool_wait_seconds_bucket")


def test_a_config_file_can_take_back_what_the_defaults_drop(tmp_path):
    """include_defaults puts the defaults first, so the file's own patterns, after them, decide."""
    path = tmp_path / "metrics.yaml"
    path.write_text("keep: [shop_app_request_duration_seconds_bucket, '!shop_payment_*']\ninclude_defaults: true\n")
    keep = load_keep_list(str(path))
    assert keep.keeps("shop_app_request_duration_seconds", "shop_app_request_duration_seconds_bucket")
    assert not keep.keeps("shop_payment_duration_seconds", "shop_payment_duration_seconds_count")
    assert keep.keeps("shop_db_pool_waiting_requests", "shop_db_pool_waiting_requests")


@pytest.mark.parametrize(("text", "error"), [
    ("keep: [shop_*]\nkepp: [x]\n", "kepp: unknown key, did you mean 'keep'?"),
    ("keep: [shop_*]\nsources: [x]\n", "sources: unknown key; expected one of: include_defaults, keep"),
    ("keep:\n  - shop_*\n  - 3\n", "keep[1]: must be a metric name or glob (a string), got 3"),
    ("keep:\n  - {shop: 1}\n", "keep[0]: must be a metric name or glob (a string), got {'shop': 1}"),
    ("keep: ['shop db']\n", "keep[0]: must be letters, digits, '_', ':' and the glob characters * ? [ ] ! -, "
                            "after an optional '!' (drop), got 'shop db'"),
    ("keep: ['!']\n", "keep[0]: must be letters, digits, '_', ':' and the glob characters * ? [ ] ! -, "
                       "after an optional '!' (drop), got '!'"),
    ("keep: ['!jvm_*']\n", "keep: must name at least one metric to keep (or set include_defaults: true), "
                            "got ['!jvm_*']"),
    ("keep:\n  - jvm_*\n  - !jvm_gc_*\n", "line 3, column 5: invalid YAML, could not determine a constructor for "
                                          "the tag '!jvm_gc_*' (a value starting with '!' must be quoted: '!name')"),
    ("keep: shop_*\n", "keep: must be a list of metric names or globs, got 'shop_*'"),
    ("keep: []\n", "keep: must name at least one metric to keep (or set include_defaults: true), got []"),
    ("include_defaults: true\n", "keep: required key is missing"),
    ("keep: [a]\ninclude_defaults: yes please\n", "include_defaults: must be true or false, got 'yes please'"),
    ("keep: [a]\nkeep: [b]\n", "line 2, column 1: invalid YAML, duplicate key 'keep'"),
    ("- shop_*\n", "(top level): must be a mapping with a 'keep' list, got ['shop_*']"),
    ("keep: [a\n", "line 2, column 1: invalid YAML, expected ',' or ']', but got '<stream end>'"),
])
def test_a_bad_config_file_is_one_line_naming_option_file_and_field(tmp_path, text, error):
    """Every mistake in --metrics-config is one BadInput line: the option, the file, the field, the value."""
    path = tmp_path / "metrics.yaml"
    path.write_text(text)
    assert _bad(config=str(path)) == f"--metrics-config {path}: {error}"


def test_a_missing_config_file_is_bad_input(tmp_path):
    """A config file that is not there is named as such."""
    assert _bad(config=str(tmp_path / "nope.yaml")) == f"--metrics-config {tmp_path / 'nope.yaml'}: no such file"


# -- options ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"interval": "0.1"}, "--metrics-interval: must be >= 0.2 and <= 60 seconds, got 0.1"),
    ({"interval": "61"}, "--metrics-interval: must be >= 0.2 and <= 60 seconds, got 61"),
    ({"interval": "nan"}, "--metrics-interval: must be >= 0.2 and <= 60 seconds, got nan"),
    ({"interval": "1s"}, "--metrics-interval: must be a number of seconds, got '1s'"),
    ({"urls": ["ftp://127.0.0.1/metrics"]},
     "--metrics-url: must be an http(s) URL such as http://127.0.0.1:8000/metrics, or NAME=URL, "
     "got 'ftp://127.0.0.1/metrics'"),
    ({"urls": ["http://u:hunter2@127.0.0.1:99999/metrics"]},
     "--metrics-url: must be an http(s) URL such as http://127.0.0.1:8000/metrics, or NAME=URL, "
     "got 'http://u:***@127.0.0.1:99999/metrics'"),
    ({"urls": ["http://10.1.2.3:9100/metrics"]},
     "--metrics-url: 10.1.2.3 is not a loopback address; surgegate scrapes only loopback unless told otherwise: "
     "add --allow-target 10.1.2.3"),
    ({"urls": ["a=http://127.0.0.1/m", "a=http://127.0.0.1/n"]}, "--metrics-url: the name 'a' is given twice"),
    ({"urls": ["none", "http://127.0.0.1/m"]},
     "--metrics-url: 'none' turns scraping off and cannot be given with URLs"),
    ({"urls": ["postgresql=http://127.0.0.1/m"], "pg_dsn": "postgresql://127.0.0.1/x"},
     "--metrics-url: the name 'postgresql' is taken by --pg-dsn's rows; choose another"),
    ({"pg_dsn": "postgresql://shop:pw@db.example.com/shop"},
     "--pg-dsn: db.example.com is not a loopback address; surgegate connects only to loopback unless told "
     "otherwise: add --allow-target db.example.com"),
    ({"pg_dsn": "host=127.0.0.1,10.0.0.9 dbname=shop"},
     "--pg-dsn: 10.0.0.9 is not a loopback address; surgegate connects only to loopback unless told "
     "otherwise: add --allow-target 10.0.0.9"),
    ({"pg_dsn": "postgresql://127.0.0.1:54x/shop"}, "--pg-dsn: port must be a number in 1..65535, got '54x'"),
])
def test_bad_options_are_one_line_before_anything_is_sent(kwargs, error):
    """Each bad option is one BadInput line naming it, and never shows a password."""
    assert _bad(**kwargs) == error


def test_an_unparseable_dsn_is_not_echoed():
    """libpq quotes pieces of a bad DSN, which may be its password: the error keeps libpq's words, not the quotes."""
    message = _bad(pg_dsn=f"postgresql://shop:{SECRET} x@127.0.0.1/shop")
    assert SECRET not in message
    assert message == ('--pg-dsn: not a PostgreSQL connection string (unexpected spaces found in "...", use '
                       'percent-encoded spaces (%20) instead); e.g. postgresql://user@127.0.0.1:5432/shop '
                       '(the string is not shown: it may hold a password)')


def test_pghost_in_the_environment_is_checked_too(monkeypatch):
    """A DSN without a host connects to $PGHOST: that host obeys the loopback rule as well."""
    monkeypatch.setenv("PGHOST", "db.example.com")
    assert _bad(pg_dsn="dbname=shop").startswith("--pg-dsn: db.example.com is not a loopback address")


def test_allowed_hosts_and_defaults():
    """--allow-target admits a host; no URL means the defaults; 'none' means no Prometheus source at all."""
    allowed = frozenset({"metrics.internal"})
    scraper = build_scraper(["http://metrics.internal:9100/metrics", "http://127.0.0.1:9100/metrics",
                             "http://127.0.0.1:9100/other"], host_ok=lambda h: host_allowed(h, allowed))
    assert [s["name"] for s in scraper.describe()["sources"]] == [
        "metrics.internal:9100", "127.0.0.1:9100", "127.0.0.1:9100/other"]
    defaults = {"gateway": "http://127.0.0.1:8000/metrics"}
    assert build_scraper([], default_sources=defaults, host_ok=is_loopback).describe()["sources"] == [
        {"name": "gateway", "kind": "prometheus", "url": "http://127.0.0.1:8000/metrics"}]
    assert build_scraper(["none"], default_sources=defaults, host_ok=is_loopback) is None
    assert build_scraper([], host_ok=is_loopback) is None


def test_redact_argv_hides_the_dsn_and_url_passwords():
    """The command line as a manifest records it: --pg-dsn's value and URL passwords are ***."""
    argv = ["locust", "--pg-dsn", f"postgresql://u:{SECRET}@127.0.0.1/db", f"--pg-d=host=x password={SECRET}",
            "--metrics-url", f"app=http://u:{SECRET}@127.0.0.1:1/metrics", "--host", "http://127.0.0.1:8000"]
    assert redact_argv(argv) == ["locust", "--pg-dsn", "***", "--pg-d=***", "--metrics-url",
                                    "app=http://u:***@127.0.0.1:1/metrics", "--host", "http://127.0.0.1:8000"]


# -- PostgreSQL -------------------------------------------------------------------------------------------------------


def test_pg_activity_counts_connections_by_state(pg_url, fresh_db):
    """Two idle connections and one idle in a transaction show up as exactly that; the scraper's own does not."""
    with build_scraper(["none"], pg_dsn=_pg_dsn(pg_url, fresh_db), host_ok=is_loopback) as scraper:
        rows, gaps = scraper.scrape_once(0.0)
        assert gaps == []
        before = {dict(k)["state"]: v for k, v in _series(rows, "postgresql", "pg_stat_activity_count").items()
                  if dict(k)["datname"] == fresh_db}
        assert before == {"active": 0, "idle": 0, "idle in transaction": 0, "idle in transaction (aborted)": 0}
        idle = [psycopg.connect(_pg_dsn(pg_url, fresh_db), autocommit=True) for _ in range(2)]
        busy = psycopg.connect(_pg_dsn(pg_url, fresh_db))
        try:
            busy.execute("SELECT 1")  # opens a transaction and leaves it open
            time.sleep(0.2)
            rows, gaps = scraper.scrape_once(1.0)
        finally:
            for conn in (*idle, busy):
                conn.close()
    assert gaps == []
    after = {dict(k)["state"]: v for k, v in _series(rows, "postgresql", "pg_stat_activity_count").items()
             if dict(k)["datname"] == fresh_db}
    assert after == {"active": 0, "idle": 2, "idle in transaction": 1, "idle in transaction (aborted)": 0}
    age = _series(rows, "postgresql", "pg_stat_activity_max_tx_duration")[
        (("datname", fresh_db), ("state", "idle in transaction"))]
    assert 0.15 < age < 30
    with psycopg.connect(_pg_dsn(pg_url)) as conn:
        max_connections = float(conn.execute("SHOW max_connections").fetchone()[0])
    assert _series(rows, "postgresql", "pg_settings_max_connections") == {(): max_connections}
    assert {r["t"] for r in rows} == {1.0} and _series(rows, "postgresql", "up") == {(): 1.0}


def test_pg_connection_is_remade_after_it_is_lost(pg_url, fresh_db):
    """The scraper's connection killed by the server: one gap, then the next scrape reconnects."""
    sqlalchemy_url = pg_url.rsplit("/", 1)[0] + "/" + fresh_db  # postgresql+psycopg:// is accepted as well
    with build_scraper(["none"], pg_dsn=sqlalchemy_url, host_ok=is_loopback) as scraper:
        assert scraper.scrape_once(0.0)[1] == []
        with psycopg.connect(_pg_dsn(pg_url), autocommit=True) as admin:
            killed = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                   "WHERE application_name = 'surgegate-server-metrics' AND datname = %s",
                                   (fresh_db,)).fetchone()[0]
        assert killed == 1
        time.sleep(0.2)
        _, gaps = scraper.scrape_once(1.0)
        assert [(g["source"], g["event"]) for g in gaps] == [("postgresql", "scrape_gap")]
        rows, gaps = scraper.scrape_once(2.0)
    assert gaps == [] and _series(rows, "postgresql", "up") == {(): 1.0}


def test_the_dsn_password_is_never_shown(pg_url, fresh_db):
    """describe() gives host, port and dbname only; a failed connect's reason has no password either."""
    dsn = _pg_dsn(pg_url, fresh_db, password=SECRET)
    with build_scraper(["none"], pg_dsn=dsn, host_ok=is_loopback) as scraper:
        described = scraper.describe()
        rows, gaps = scraper.scrape_once(0.0)
    assert gaps == [] and rows
    port = dsn.rsplit(":", 1)[1].split("/")[0]
    assert described["sources"] == [{"name": "postgresql", "kind": "pg_stat_activity", "host": "127.0.0.1",
                                     "port": port, "dbname": fresh_db}]
    closed = f"postgresql://postgres:{SECRET}@127.0.0.1:{_closed_port()}/{fresh_db}"
    with build_scraper(["none"], pg_dsn=closed, host_ok=is_loopback) as scraper:
        text = json.dumps([scraper.describe(), scraper.scrape_once(0.0)])
    assert SECRET not in text and "connection refused" in text.lower()


# -- inside real Locust ------------------------------------------------------------------------------------------------

_PROBE_LOCUSTFILE = '''
"""The glue in a real Locust process, wired as the flash-sale locustfile wires it, plus a gevent probe."""
import locust  # noqa: I001 - first, so that gevent patches before psycopg is imported

import json
import sys
import time
from pathlib import Path

import gevent
from locust import HttpUser, constant, events, task

from locustfiles import server_scrape
from locustfiles.adapter import StubShopAdapter
from locustfiles.targets import normalise_hosts
from reports.redaction import redact_argv
from reports.results_folder import ResultsFolder
from surgegate.errors import BadInput

state = {}


@events.init_command_line_parser.add_listener
def _options(parser, **_kw):
    server_scrape.add_options(parser)
    parser.add_argument("--out-dir", default="")
    parser.add_argument("--allow-target", action="append", default=[])


@events.init.add_listener
def _init(environment, **_kw):
    options = environment.parsed_options
    adapter = StubShopAdapter(allowed_hosts=normalise_hosts(options.allow_target))
    try:
        state["scraper"] = server_scrape.from_options(options, environment.host, adapter)
    except BadInput as exc:
        print(f"Error: {exc}", file=sys.stderr, flush=True)
        sys.exit(2)
    state["folder"] = ResultsFolder(Path(options.out_dir))


@events.test_start.add_listener
def _start(environment, **_kw):
    folder, scraper = state["folder"], state["scraper"]
    folder.write_json("describe.json", {"describe": scraper.describe(),
                                        "argv": redact_argv(sys.argv)})
    state["loop"] = server_scrape.ScrapeLoop(scraper, time.time(), folder.append_lines)
    state["gaps"] = []
    state["probe"] = gevent.spawn(_probe)


def _probe():
    last = time.perf_counter()
    while True:
        gevent.sleep(0.02)
        now = time.perf_counter()
        state["gaps"].append(now - last)
        last = now


@events.test_stop.add_listener
def _stop(environment, **_kw):
    started = time.perf_counter()
    state["loop"].stop()
    state["probe"].kill()
    state["folder"].write_json("probe.json", {"max_pause_s": max(state["gaps"]), "ticks": len(state["gaps"]),
                                              "stop_s": time.perf_counter() - started})


class Shopper(HttpUser):
    wait_time = constant(0.05)

    @task
    def browse(self):
        self.client.get("/products")
'''


def _run_probe(tmp_path: Path, *args: str, env: dict | None = None, run_time: str = "5s",
               during: Callable[[ResultsFolder], None] | None = None):
    """Run the probe locustfile headless for ``run_time``, calling ``during(folder)`` while it runs."""
    locustfile = tmp_path / "probe_locustfile.py"
    locustfile.write_text(_PROBE_LOCUSTFILE)
    folder = ResultsFolder(tmp_path / "out")
    folder.path.mkdir()
    cmd = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", "4", "-r", "4",
           "-t", run_time, "--out-dir", str(folder.path), *args]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                          env=locust_env(env)) as proc:
        try:
            if during is not None:
                during(folder)
            stdout, stderr = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr), folder


@pytest.mark.load
def test_inside_locust_a_hanging_database_does_not_stall_the_shoppers(start_stub, silent_port, tmp_path):
    """A DSN to a port that never answers: 2 s connects, gaps, and the event loop never pauses for them."""
    stub = start_stub("incident")
    dsn = f"postgresql://postgres:{SECRET}@127.0.0.1:{silent_port}/shop"
    done, folder = _run_probe(tmp_path, "--host", stub.url, env={"SURGEGATE_PG_DSN": dsn})
    assert done.returncode == 0, done.stderr[-3000:]
    probe = folder.read_json("probe.json")
    assert probe["max_pause_s"] < 0.5, probe  # a blocking wait would stop everything for the whole 2 s connect
    assert probe["stop_s"] < 6
    described = folder.read_json("describe.json")["describe"]
    assert [(s["name"], s.get("url", "").replace(stub.url, "")) for s in described["sources"]] == [
        ("gateway", "/metrics"), ("app", "/metrics/app"), ("postgresql", "")]
    rows = folder.read_lines(ROWS_FILE)
    up = Counter((r["source"], r["value"]) for r in rows if r["metric"] == "up")
    assert up[("gateway", 1.0)] >= 5 and up[("app", 1.0)] >= 5 and up[("postgresql", 1.0)] == 0
    gaps = folder.read_lines(EVENTS_FILE)
    assert gaps and {(g["source"], g["reason"]) for g in gaps} == {("postgresql", "connection timeout expired")}
    products = [r["value"] for r in rows if r["metric"] == "shop_gateway_responses_total"
                and r["labels"] == {"endpoint": "/products", "method": "GET", "status": "200"}]
    assert len(products) >= 5 and products == sorted(products) and products[-1] > 50  # load went on meanwhile
    everything = done.stdout + done.stderr + "".join(p.read_text() for p in folder.path.iterdir())
    assert SECRET not in everything
    assert done.stderr.count("cannot scrape postgresql") == 1  # logged once, however many gaps


@pytest.mark.load
def test_inside_locust_pg_activity_and_named_urls_are_recorded(start_stub, pg_url, tmp_path):
    """Named --metrics-url, --pg-dsn with a password on the command line: rows from both, and no secret anywhere.

    Meanwhile the test locks pg_database for 3 s: each pg_stat_activity query waits for its 0.8 s
    statement timeout, and the shoppers' event loop must go on all the while.
    """
    stub = start_stub("incident")
    dsn = _pg_dsn(pg_url, password=SECRET)

    def lock_the_catalogue(folder: ResultsFolder) -> None:
        deadline = time.time() + 60
        while not any(r["source"] == "postgresql" and r["value"] == 1.0 and r["metric"] == "up"
                      for r in folder.read_lines(ROWS_FILE)):
            assert time.time() < deadline, "the scraper never reached PostgreSQL"
            time.sleep(0.1)
        with psycopg.connect(_pg_dsn(pg_url)) as conn:
            conn.execute("LOCK TABLE pg_catalog.pg_database IN ACCESS EXCLUSIVE MODE")
            time.sleep(3.0)
            conn.rollback()

    done, folder = _run_probe(tmp_path, "--host", stub.url, "--metrics-url", f"edge={stub.url}/metrics",
                              "--metrics-interval", "1", "--pg-dsn", dsn, run_time="8s", during=lock_the_catalogue)
    assert done.returncode == 0, done.stderr[-3000:]
    probe = folder.read_json("probe.json")
    assert probe["max_pause_s"] < 0.5, probe  # psycopg's C wait would block for each 0.8 s timeout
    written = folder.read_json("describe.json")
    assert [s["name"] for s in written["describe"]["sources"]] == ["edge", "postgresql"]
    assert written["argv"][written["argv"].index("--pg-dsn") + 1] == "***"
    rows = folder.read_lines(ROWS_FILE)
    up = [(r["t"], r["value"]) for r in rows if r["source"] == "postgresql" and r["metric"] == "up"]
    assert up[0][1] == 1.0 and up[-1][1] == 1.0 and sum(1 for _, v in up if v == 0.0) >= 2  # failed, then recovered
    assert len([r for r in rows if r["source"] == "edge" and r["metric"] == "up" and r["value"] == 1.0]) >= 7
    assert any(r["metric"] == "pg_stat_activity_count" for r in rows)
    gaps = folder.read_lines(EVENTS_FILE)
    assert {(g["source"], g["reason"]) for g in gaps} == {
        ("postgresql", "canceling statement due to statement timeout")}
    assert SECRET not in done.stdout + done.stderr + "".join(p.read_text() for p in folder.path.iterdir())


@pytest.mark.load
def test_inside_locust_a_bad_metrics_option_exits_2_before_any_request(start_stub, tmp_path):
    """A non-loopback --metrics-url: one Error line, exit 2, and the shop saw nothing."""
    stub = start_stub("incident")
    done, _ = _run_probe(tmp_path, "--host", stub.url, "--metrics-url", "http://10.1.2.3:9100/metrics")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "Error: --metrics-url: 10.1.2.3 is not a loopback address; surgegate scrapes only loopback unless told "
        "otherwise: add --allow-target 10.1.2.3")
    assert stub.scrape_gateway().get("shop_gateway_responses_total", {}) == {}


@pytest.mark.load
@pytest.mark.skipif("server_scrape" not in LOCUSTFILE.read_text(),
                    reason="needs locustfiles/flash_sale.py and recording.py to wire locustfiles/server_scrape.py")
def test_a_flash_sale_run_writes_server_metrics(start_stub, tmp_path):
    """A real run of the locustfile against the stub writes gateway and app rows from t = 0 to the end; of the
    per-endpoint request latency, _sum and _count but no buckets (the pool's wait keeps its buckets)."""
    stub = start_stub("incident")
    run = run_locust("--headless", "--profile", str(SHORT_PROFILE), "--host", stub.url,
                     "--results-dir", str(tmp_path), "--run-id", "sm", "--stop-timeout", "20")
    assert run.code in (0, 1), run.stderr[-3000:]
    folder = ResultsFolder(tmp_path / "sm")
    manifest = folder.read_json("manifest.json")
    assert [s["name"] for s in manifest["server_metrics"]["sources"]] == ["gateway", "app"]
    rows = folder.read_lines(ROWS_FILE)
    ticks = sorted({r["t"] for r in rows if r["source"] == "gateway" and r["metric"] == "up"})
    assert ticks[0] < 0.5 and ticks[-1] > manifest["profile"]["total_s"] - 2
    final = _series([r for r in rows if r["t"] == ticks[-1]], "gateway", "shop_gateway_responses_total")
    seen = stub.scrape_gateway()["shop_gateway_responses_total"]
    shop = {k: v for k, v in seen.items() if dict(k)["endpoint"] != "/metrics"}
    assert {k: v for k, v in final.items() if dict(k)["endpoint"] != "/metrics"} == shop
    names = {r["metric"] for r in rows}
    assert {"shop_app_request_duration_seconds_count", "shop_app_request_duration_seconds_sum",
            "shop_gateway_request_duration_seconds_count", "shop_db_pool_wait_seconds_bucket",
            "shop_payment_duration_seconds_bucket"} <= names
    assert not names & {"shop_app_request_duration_seconds_bucket", "shop_gateway_request_duration_seconds_bucket"}


def test_a_server_dripping_its_body_cannot_hold_a_scrape_past_its_timeout():
    """One byte every 0.3 s: the scrape gives up at its deadline (0.8 s), long before the body ends (12 s)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop, sent = threading.Event(), []

    def drip() -> None:
        conn, _ = server.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 40\r\n\r\n")
        try:
            for _ in range(40):
                if stop.wait(0.3):
                    break
                conn.sendall(b"#")
                sent.append(1)
        except OSError:
            pass
        conn.close()

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    source = PrometheusSource("drip", f"http://127.0.0.1:{server.getsockname()[1]}/metrics", 0.8)
    with pytest.raises(ScrapeError, match=r"^timed out after 0.8 s$"):
        source.collect(KeepList(DEFAULT_KEEP))
    bytes_sent_when_it_gave_up = len(sent)
    stop.set()
    thread.join(timeout=30)
    source.close()
    server.close()
    assert bytes_sent_when_it_gave_up < 40  # it did not wait for the whole body
