"""Root-cause hints: the client's symptoms lined up with the server's series, on folders written by hand (answers
worked by hand) and on folders recorded by real Locust runs against the real stub with a known cause."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from reports.analysis import analyse_folder
from reports.capacity import assess_capacity
from reports.diagnosis import diagnose
from reports.metric_names import SIGNALS, load_metric_names, shipped_metric_names_path
from reports.keep_list import DEFAULT_KEEP, KeepList
from reports.server_series import ServerSeries, route_key
from reports.slo import parse_slo
from reports.verdict import judge
from surgegate.errors import BadInput
from tests._stub_runs import steps_run
from tests.test_analysis import RunFolder

CHECKOUT_504 = {"name": "checkout-504", "endpoint": "POST /checkout", "metric": "status_rate", "status": 504,
                "bound": "1%", "scope": {"stage": "peak", "window": "10s"}}


class Scrapes:
    """server_metrics.jsonl written as the scraper writes it: a row per sample, ``up`` per scrape, t = tick."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, t: float, source: str, samples: list[tuple], up: float = 1.0) -> Scrapes:
        """One scrape: (metric, type, labels, value) samples, then ``up``."""
        for metric, kind, labels, value in samples if up else []:
            self.rows.append({"t": t, "source": source, "metric": metric, "type": kind, "labels": labels,
                              "value": value})
        self.rows.append({"t": t, "source": source, "metric": "up", "type": "gauge", "labels": {}, "value": up})
        return self

    def write(self, folder: Path, interval_s: float = 1.0) -> Path:
        """Write the file and say in the manifest that metrics were scraped."""
        (folder / "server_metrics.jsonl").write_text(
            "".join(json.dumps(row, separators=(",", ":"), sort_keys=True) + "\n" for row in self.rows))
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["server_metrics"] = {"file": "server_metrics.jsonl", "interval_s": interval_s, "sources": []}
        (folder / "manifest.json").write_text(json.dumps(manifest))
        return folder


def histogram(name: str, observations: list[tuple[float, int]], edges=(0.01, 2.0), labels=None) -> list[tuple]:
    """A cumulative histogram's samples: ``observations`` are (seconds, how many) so far."""
    labels = labels or {}
    rows = [(f"{name}_count", "histogram", labels, float(sum(n for _, n in observations))),
            (f"{name}_sum", "histogram", labels, float(sum(v * n for v, n in observations)))]
    for edge in edges:
        rows.append((f"{name}_bucket", "histogram", {**labels, "le": str(edge)},
                     float(sum(n for v, n in observations if v <= edge))))
    rows.append((f"{name}_bucket", "histogram", {**labels, "le": "+Inf"}, float(sum(n for _, n in observations))))
    return rows


def pool_incident_client(tmp_path: Path) -> RunFolder:
    """60 s; 10 product pages a second at 5 ms; 4 checkouts a second, every one a 504 after 2 s in 20-29 s."""
    folder = RunFolder(tmp_path / "run")
    for t in range(60):
        folder.add(t, "/products", times_ms=[5.0] * 10)
        bad = 20 <= t < 30
        folder.add(t, "/checkout", method="POST", status=504 if bad else 201, kind="status" if bad else "ok",
                   times_ms=[2000.0 if bad else 40.0] * 4)
    folder.sample_load(0, 60, users=100, rps=50.0)
    return folder


def in_use(t: int) -> float:
    return 5.0 if 18 <= t <= 31 else 2.0 if t < 18 else 1.0


def waiting(t: int) -> float:
    return 0.0 if t < 18 or t > 31 else 12.0 if t == 18 else 30.0


def pool_waits(t: int) -> list[tuple[float, int]]:
    """Ten connection waits a second: 10 ms, but 2.5 s from 18 s to 31 s (counted by the scrape that ends it)."""
    slow = max(0, min(t, 31) - 17)
    return [(0.01, 10 * t - 10 * slow), (2.5, 10 * slow)]


def stub_pool_scrapes(t: int) -> list[tuple]:
    return [("shop_db_pool_size_connections", "gauge", {}, 5.0),
            ("shop_db_pool_max_overflow_connections", "gauge", {}, 0.0),
            ("shop_db_pool_checked_out_connections", "gauge", {}, in_use(t)),
            ("shop_db_pool_waiting_requests", "gauge", {}, waiting(t)),
            *histogram("shop_db_pool_wait_seconds", pool_waits(t)),
            ("shop_db_pool_timeouts_total", "counter", {}, float(3 * max(0, min(t, 29) - 24))),
            ("shop_app_worker_threads", "gauge", {}, 256.0), ("shop_app_worker_threads_busy", "gauge", {}, 20.0),
            ("shop_app_worker_queue_requests", "gauge", {}, 0.0),
            *histogram("shop_payment_duration_seconds", [(0.005, 4 * t)])]


def gateway_scrapes(t: int) -> list[tuple]:
    """The gateway: a 2 s timeout; upstream timeouts on /checkout from 21 s (4 a second, to 40 by 30 s)."""
    rows = [("shop_gateway_upstream_timeout_seconds", "gauge", {}, 2.0)]
    if t >= 21:  # a labelled counter has no sample before its first increment
        rows.append(("shop_gateway_upstream_timeouts_total", "counter", {"endpoint": "/checkout"},
                     float(4 * (min(t, 30) - 20))))
    return rows


def judged(path: Path, slo: dict | None = None):
    analysis = analyse_folder(path)
    slos = parse_slo(yaml.safe_dump({"objectives": [slo or CHECKOUT_504]}), "slo.yaml")
    verdict = judge(analysis, slos)
    capacity = assess_capacity(analysis, slos, verdict)
    return analysis, verdict, capacity


def diagnosis_of(path: Path, slo: dict | None = None, names_file: Path | None = None):
    analysis, verdict, capacity = judged(path, slo)
    series = ServerSeries.read(path, load_metric_names(names_file))
    return diagnose(analysis, verdict, series, capacity.breaking_point)


def by_key(diagnosis) -> dict:
    return {s.key: s for s in diagnosis.suspects}


# -- folders written by hand ---------------------------------------------------------------------------------------


def test_pool_exhaustion_is_named_with_times_and_numbers(tmp_path):
    """504s from 20 s, the pool full from 18 s with 12 then 30 waiting, waits of 2.5 s: the pool, high, with the
    numbers of the scrapes; the gateway's 504s follow it; the payment provider is flat."""
    path = pool_incident_client(tmp_path).write()
    scrapes = Scrapes()
    for t in range(60):
        scrapes.add(t, "app", stub_pool_scrapes(t)).add(t, "gateway", gateway_scrapes(t))
    diagnosis = diagnosis_of(scrapes.write(path))
    assert (diagnosis.status, diagnosis.most_likely) == ("explained", "db_pool")
    pool = by_key(diagnosis)["db_pool"]
    assert pool.confidence == "high"
    # The window judged is 10 s before the onset (20 s) to 2 s after the last failure (29 s): ticks 10-32, 23 scrapes.
    assert pool.evidence == (
        "the pool was full (5/5 in use) at 14 of 23 scrapes from t=18 s",
        "requests waiting for a connection: up to 30 (t=19 s)",
        "connection waits averaged up to 2.5 s (t=18 s); 140 waits took longer than 2 s, the gateway's timeout",
        "15 requests gave up waiting (pool timeouts)")
    assert diagnosis.summary.startswith(
        "504s on POST /checkout began at t=20 s (stage peak, 100 users), 2 s after the database pool reached 5/5 in "
        "use with 12 requests waiting; GET /products stayed healthy (no errors, p99 5 ms). Most likely cause: database "
        "connection pool exhaustion (high confidence: the pool was full; requests queued for a connection; "
        "connection waits outlasted the gateway's timeout; pool timeouts fired; it filled before the symptoms began).")
    assert "the gateway itself (its 40 upstream timeouts follow connection waits over its 2 s timeout)" in \
        diagnosis.summary
    assert "the payment provider (its latency flat: mean at most 5 ms)" in diagnosis.summary
    assert by_key(diagnosis)["app_workers"].why == "at most 20/256 busy (t=10 s), no request queued for a thread"
    assert diagnosis.headline[0] == ("why: most likely database connection pool exhaustion (high confidence); not "
                                     "indicated: the payment provider, the app's worker threads, the gateway itself, "
                                     "the gateway's rate limit")


def test_threads_busy_waiting_for_connections_rank_after_the_pool(tmp_path):
    """Every one of 20 threads busy while the pool is exhausted: the threads are waiting for connections, so the
    pool ranks first and the threads come a level lower, said why."""
    path = pool_incident_client(tmp_path).write()
    scrapes = Scrapes()
    for t in range(60):
        busy = 20.0 if 18 <= t <= 31 else 5.0
        rows = [r for r in stub_pool_scrapes(t) if not r[0].startswith("shop_app_worker")]
        rows += [("shop_app_worker_threads", "gauge", {}, 20.0), ("shop_app_worker_threads_busy", "gauge", {}, busy),
                 ("shop_app_worker_queue_requests", "gauge", {}, 7.0 if busy == 20.0 else 0.0)]
        scrapes.add(t, "app", rows)
    diagnosis = diagnosis_of(scrapes.write(path))
    assert [(s.key, s.confidence) for s in diagnosis.suspects[:2]] == [("db_pool", "high"), ("app_workers", "medium")]
    assert by_key(diagnosis)["app_workers"].why == (
        "every worker thread was busy; requests queued for a thread; for at least half of the trouble; before the "
        "symptoms began; but its threads were waiting for database connections")
    assert "Also possible: the app's worker threads running out (medium: " in diagnosis.summary


def hikari_scrapes(t: int) -> list[tuple]:
    pool = {"pool": "HikariPool-1"}
    return [("hikaricp_connections_active", "gauge", pool, in_use(t)), ("hikaricp_connections_max", "gauge", pool, 5.0),
            ("hikaricp_connections_pending", "gauge", pool, waiting(t)),
            ("hikaricp_connections_acquire_seconds_count", "summary", pool, float(sum(n for _, n in pool_waits(t)))),
            ("hikaricp_connections_acquire_seconds_sum", "summary", pool, float(sum(v * n for v, n in pool_waits(t)))),
            ("hikaricp_connections_timeout_total", "counter", pool, float(3 * max(0, min(t, 29) - 24)))]


def otel_scrapes(t: int) -> list[tuple]:
    pool = {"db_client_connection_pool_name": "orders"}
    used, idle = {**pool, "db_client_connection_state": "used"}, {**pool, "db_client_connection_state": "idle"}
    return [("db_client_connection_count", "gauge", used, in_use(t)),
            ("db_client_connection_count", "gauge", idle, 5.0 - in_use(t)),  # must not count as in use
            ("db_client_connection_max", "gauge", pool, 5.0),
            ("db_client_connection_pending_requests", "gauge", pool, waiting(t)),
            *histogram("db_client_connection_wait_time_seconds", pool_waits(t), labels=pool)]


@pytest.mark.parametrize("scrape", [hikari_scrapes, otel_scrapes], ids=["hikaricp", "opentelemetry"])
def test_other_naming_schemes_give_the_same_finding(tmp_path, scrape):
    """HikariCP's and OpenTelemetry's names (idle connections filtered out by label) read as the stub's: the same
    pool, the same onset; without a gateway timeout, waits of 2.5 s count as slow (over 1 s)."""
    path = pool_incident_client(tmp_path).write()
    scrapes = Scrapes()
    for t in range(60):
        scrapes.add(t, "app", scrape(t))
    diagnosis = diagnosis_of(scrapes.write(path))
    pool = by_key(diagnosis)["db_pool"]
    assert (diagnosis.most_likely, pool.confidence) == ("db_pool", "high")
    assert pool.lead == "2 s after the database pool reached 5/5 in use with 12 requests waiting"
    assert pool.evidence[0] == "the pool was full (5/5 in use) at 14 of 23 scrapes from t=18 s"
    assert "connection waits averaged 2.5 s" in pool.why
    assert by_key(diagnosis)["gateway_timeout"].confidence == "no_data"
    assert diagnosis.signals["pool_in_use"] == (
        "hikaricp_connections_active" if scrape is hikari_scrapes else
        "db_client_connection_count{db_client_connection_state=used}")


def test_a_slow_payment_provider_is_named_and_the_pool_cleared(tmp_path):
    """Every checkout 504 from 2 s, payment calls of 2.5 s from the first, the pool at 3/30: the payment provider,
    high; the pool not indicated."""
    folder = RunFolder(tmp_path / "run")
    for t in range(60):
        bad = t >= 2
        folder.add(t, "/checkout", method="POST", status=504 if bad else 201, kind="status" if bad else "ok",
                   times_ms=[2000.0 if bad else 40.0] * 4)
    folder.sample_load(0, 60, users=100)
    scrapes = Scrapes()
    for t in range(60):
        scrapes.add(t, "app", [("shop_db_pool_size_connections", "gauge", {}, 20.0),
                               ("shop_db_pool_max_overflow_connections", "gauge", {}, 10.0),
                               ("shop_db_pool_checked_out_connections", "gauge", {}, 3.0),
                               ("shop_db_pool_waiting_requests", "gauge", {}, 0.0),
                               *histogram("shop_db_pool_wait_seconds", [(0.001, 4 * t)]),
                               *histogram("shop_payment_duration_seconds", [(2.5, 4 * t)], edges=(2.0, 2.5))])
        scrapes.add(t, "gateway", [("shop_gateway_upstream_timeout_seconds", "gauge", {}, 2.0)])
    diagnosis = diagnosis_of(scrapes.write(folder.write()), {**CHECKOUT_504, "scope": "run"})
    suspects = by_key(diagnosis)
    assert (diagnosis.most_likely, suspects["downstream"].confidence) == ("downstream", "high")
    assert suspects["downstream"].lead == "while the payment provider took 2.5 s a call from its first call " \
                                          "(measured at t=1 s)"
    assert suspects["downstream"].evidence == ("236 calls averaged 2.5 s, up to 2.5 s in one scrape interval (t=1 s)",
                                               "236 calls took longer than 2 s, the gateway's timeout")
    assert (suspects["db_pool"].confidence, suspects["db_pool"].why) == \
        ("not_indicated", "at most 3/30 in use (t=0 s), nobody waited for a connection")


def test_a_gateway_timeout_too_short_for_a_steady_app(tmp_path):
    """504s while the app answers checkout in a steady 36 ms and completes every request the 50 ms gateway gave up
    on, its pool idle: the gateway's timeout, high."""
    folder = RunFolder(tmp_path / "run")
    for t in range(60):
        bad = t % 5 == 0 and t >= 10
        folder.add(t, "/checkout", method="POST", status=504 if bad else 201, kind="status" if bad else "ok",
                   times_ms=[50.0 if bad else 36.0] * 4)
    folder.sample_load(0, 60, users=100)
    scrapes = Scrapes()
    for t in range(60):
        fired = float(4 * len([s for s in range(10, t + 1) if s % 5 == 0]))
        scrapes.add(t, "app", [("shop_db_pool_size_connections", "gauge", {}, 20.0),
                               ("shop_db_pool_max_overflow_connections", "gauge", {}, 10.0),
                               ("shop_db_pool_checked_out_connections", "gauge", {}, 2.0),
                               *histogram("shop_app_request_duration_seconds", [(0.036, 4 * t)],
                                          labels={"endpoint": "/checkout", "method": "POST"})])
        gateway = [("shop_gateway_upstream_timeout_seconds", "gauge", {}, 0.05)]
        if fired:
            gateway += [("shop_gateway_upstream_timeouts_total", "counter", {"endpoint": "/checkout"}, fired),
                        ("shop_gateway_late_completions_total", "counter", {"endpoint": "/checkout", "status": "201"},
                         fired)]
        scrapes.add(t, "gateway", gateway)
    diagnosis = diagnosis_of(scrapes.write(folder.write()), {**CHECKOUT_504, "scope": "run"})
    gateway = by_key(diagnosis)["gateway_timeout"]
    assert (diagnosis.most_likely, gateway.confidence) == ("gateway_timeout", "high")
    # 504s at 10, 15, .. 55 s: ten seconds of 4; the window judged ends 2 s after 55 s, so all 40 are in it.
    assert gateway.evidence == (
        "the gateway gave up on the app 40 times after its 50 ms upstream timeout, from t=10 s",
        "the app went on to complete 40 of them successfully, after the gateway had answered 504",
        "the app's own time on the endpoints that timed out averaged 36 ms, under the gateway's 50 ms timeout "
        "(POST /checkout 36 ms); at most 36 ms in a scrape interval")
    assert by_key(diagnosis)["db_pool"].confidence == "not_indicated"


def test_without_server_metrics_it_says_it_cannot_tell(tmp_path):
    """No server_metrics (the manifest's is null, as with --metrics-url none): the client's view and no guess; a folder
    from before server metrics says that instead."""
    path = pool_incident_client(tmp_path).write()
    assert "(the manifest names no metrics source)" in diagnosis_of(path).summary
    manifest = json.loads((path / "manifest.json").read_text())
    (path / "manifest.json").write_text(json.dumps({**manifest, "server_metrics": None}))
    diagnosis = diagnosis_of(path)
    assert (diagnosis.status, diagnosis.most_likely, diagnosis.suspects) == ("no_server_metrics", None, ())
    assert diagnosis.summary == ("504s on POST /checkout began at t=20 s (stage peak, 100 users). No server metrics "
                                 "were recorded (the run had --metrics-url none): no hint beyond the client's view; "
                                 "surgegate cannot tell why.")


def test_failed_scrapes_and_unknown_names_are_said_not_guessed(tmp_path):
    """Every scrape failed: said so. Metrics under no known name: said so, with the way to map them."""
    path = pool_incident_client(tmp_path).write()
    scrapes = Scrapes()
    for t in range(60):
        scrapes.add(t, "app", [], up=0.0)
    assert "Every scrape of the server's metrics failed (see scrape_gap events): no hint beyond the client's view" in \
        diagnosis_of(scrapes.write(path)).summary
    scrapes = Scrapes()
    for t in range(60):
        scrapes.add(t, "app", [("myshop_pool_busy", "gauge", {}, 5.0)])
    diagnosis = diagnosis_of(scrapes.write(path))
    assert diagnosis.status == "no_known_metrics" and "map yours with --metric-names FILE" in diagnosis.summary
    names = path / "names.yaml"
    names.write_text("signals:\n  pool_in_use: [{metric: myshop_pool_busy}]\n  pool_max: [{metric: myshop_pool_busy}]\n")
    mapped = diagnosis_of(path, names_file=names)
    assert mapped.signals["pool_in_use"] == "myshop_pool_busy" and by_key(mapped)["db_pool"].confidence == "low"


def test_a_scrape_gap_in_the_window_is_noted(tmp_path):
    """The app unscraped at 24 and 25 s: a note says so; gauges there are missing, not zero."""
    path = pool_incident_client(tmp_path).write()
    scrapes = Scrapes()
    for t in range(60):
        scrapes.add(t, "app", stub_pool_scrapes(t), up=0.0 if t in (24, 25) else 1.0)
    diagnosis = diagnosis_of(scrapes.write(path))
    assert diagnosis.notes == ("source app was not scraped at 2 of 23 scrapes in the window judged (from t=24 s)",)
    assert by_key(diagnosis)["db_pool"].evidence[0] == "the pool was full (5/5 in use) at 12 of 21 scrapes from t=18 s"


# -- the series -----------------------------------------------------------------------------------------------------


def test_counters_count_lazy_series_restarts_and_the_stop_scrape(tmp_path):
    """A labelled counter appearing at 3 s counts from 0; a restart (12 -> 3) counts 3; the stop scrape at 5.2 s
    replaces tick 5; histogram buckets answer 'how many over' with the first edge at or above."""
    path = RunFolder(tmp_path / "run").add(0, "/x").write()
    scrapes = Scrapes()
    values = {0: None, 1: None, 2: None, 3: 4.0, 4: 12.0, 5: 3.0}
    for t, value in values.items():
        rows = [] if value is None else [("shop_db_pool_timeouts_total", "counter", {"pool": "a"}, value)]
        rows += histogram("shop_db_pool_wait_seconds", [(0.5, t), (3.0, t)], edges=(0.25, 1.0, 2.0))
        scrapes.add(float(t), "app", rows)
    scrapes.add(5.2, "app", [("shop_db_pool_timeouts_total", "counter", {"pool": "a"}, 5.0)])
    series = ServerSeries.read(scrapes.write(path), load_metric_names())
    assert series.increase("pool_timeouts").tolist() == [0, 0, 0, 4, 8, 5]  # 5 at the stop scrape: 12 -> 5 restarted
    wait = series.histogram("pool_wait")
    assert wait.count.tolist()[1:5] == [2, 2, 2, 2] and wait.mean_s[1] == pytest.approx(1.75)
    edge, over = wait.over(1.5)
    assert edge == 2.0 and over.tolist()[1:5] == [1, 1, 1, 1]
    assert wait.over(5.0) is None


def test_route_keys_meet_across_naming_styles():
    """``/carts/{id}``, ``/carts/[id]`` and ``/carts/:id`` are one route."""
    assert route_key("/carts/{id}/items") == route_key("/carts/[id]/items") == route_key("/carts/:id/items")
    assert route_key("/carts") != route_key("/carts/{id}")


# -- the name mapping -----------------------------------------------------------------------------------------------


def test_shipped_names_cover_every_signal_and_are_kept_by_default():
    """Every signal has a candidate, and the default keep-list records every shipped name a hint reads (Tomcat's
    aside), but not the buckets of the app's per-endpoint latency, of which hints read only _sum and _count."""
    names = load_metric_names()
    assert set(names.signals) == set(SIGNALS)
    keep = KeepList(DEFAULT_KEEP)
    dropped = {name for name in names.metric_names if not keep.keeps(name, name)}
    assert dropped == {"tomcat_threads_busy_threads", "tomcat_threads_config_max_threads"}
    assert {"shop_db_pool_wait_seconds_bucket", "shop_payment_duration_seconds_bucket"} <= names.metric_names
    app = {f"{c.metrics[0]}_bucket" for c in names.candidates("app_latency")}
    assert not app & names.metric_names and not any(keep.keeps(name, name) for name in app)
    assert "shipped" in names.source


def test_own_names_come_first_or_alone(tmp_path):
    """A file's candidates are tried before the shipped ones, or instead of them with include_defaults: false."""
    own = tmp_path / "names.yaml"
    own.write_text("signals:\n  pool_in_use:\n    - {metric: my_pool_used, labels: {pool: 'orders*'}}\n")
    first = load_metric_names(own).candidates("pool_in_use")
    assert first[0].text == "my_pool_used{pool=orders*}" and len(first) == 6
    own.write_text("include_defaults: false\nsignals:\n  pool_in_use: [{metric: my_pool_used}]\n")
    alone = load_metric_names(own)
    assert [c.text for c in alone.candidates("pool_in_use")] == ["my_pool_used"] and not alone.candidates("pool_max")


@pytest.mark.parametrize(("text", "message"), [
    ("signals:\n  pool_in_uze: [{metric: a}]\n", "signals.pool_in_uze: unknown key, did you mean 'pool_in_use'?"),
    ("signals:\n  pool_in_use: [{metrc: a}]\n", "signals.pool_in_use[0].metrc: unknown key, did you mean 'metric'?"),
    ("signals:\n  pool_in_use: [{metric: a, scale: 0.001}]\n",
     "signals.pool_in_use[0].scale: only histograms have a scale (pool_in_use is a gauge), got 0.001"),
    ("signals:\n  pool_wait: [{metric: a, scale: -1}]\n", "signals.pool_wait[0].scale: must be a number > 0, got -1"),
    ("signals:\n  pool_in_use: [{metric: 'a b'}]\n",
     "signals.pool_in_use[0].metric: must be a metric name or a list of them (letters, digits, '_', ':'), got 'a b'"),
    ("signals:\n  pool_in_use: [{metric: a, labels: {state: 3}}]\n",
     "signals.pool_in_use[0].labels: must map label names to globs (strings), got {'state': 3}"),
    ("signals:\n  pool_in_use: []\n", "signals.pool_in_use: must be a list of candidates, got []"),
    ("include_defaults: 1\nsignals: {pool_in_use: [{metric: a}]}\n", "include_defaults: must be true or false, got 1"),
    ("signals: {pool_in_use: [{metric: a}]}\nsignals: {}\n", "line 2, column 1: invalid YAML, duplicate key 'signals'"),
    ("- a\n", "(top level): must be a mapping with a 'signals' mapping, got ['a']"),
])
def test_bad_name_files_are_one_line_naming_the_field(tmp_path, text, message):
    """Each mistake is one line: the option and file, the field, the rule and the value."""
    own = tmp_path / "names.yaml"
    own.write_text(text)
    with pytest.raises(BadInput) as error:
        load_metric_names(own)
    assert str(error.value) == f"--metric-names {own}: {message}"


def test_a_missing_name_file_is_one_line(tmp_path):
    """A file that is not there says so."""
    with pytest.raises(BadInput, match=r"^--metric-names .*nope.yaml: no such file$"):
        load_metric_names(tmp_path / "nope.yaml")
    assert shipped_metric_names_path().is_file()


def own_names_incident(tmp_path: Path) -> tuple[Path, Path]:
    """The pool incident with the pool under a shop's own names (``myshop_db_*``), and the ``--metric-names``
    file mapping them: (folder, names file)."""
    path = pool_incident_client(tmp_path).write()
    (path / "slo.yaml").write_text(yaml.safe_dump({"objectives": [CHECKOUT_504]}))
    scrapes = Scrapes()
    for t in range(60):
        scrapes.add(t, "app", [("myshop_db_busy", "gauge", {}, in_use(t)), ("myshop_db_max", "gauge", {}, 5.0),
                               ("myshop_db_queue", "gauge", {}, waiting(t))])
    scrapes.write(path)
    names = tmp_path / "names.yaml"
    names.write_text("signals:\n  pool_in_use: [{metric: myshop_db_busy}]\n  pool_max: [{metric: myshop_db_max}]\n"
                     "  pool_pending: [{metric: myshop_db_queue}]\n")
    return path, names


def test_surgegate_report_takes_metric_names(tmp_path, capsys):
    """``surgegate report DIR --metric-names FILE`` reads the shop's own names; a missing file is one Error line."""
    from surgegate.cli import main

    path, names = own_names_incident(tmp_path)
    assert main(["report", str(path), "--metric-names", str(names)]) == 1
    out = capsys.readouterr().out
    assert "  why: most likely database connection pool exhaustion (medium confidence)" in out
    assert "       504s on POST /checkout began at t=20 s (stage peak, 100 users), 2 s after the database pool reached " \
           "5/5 in use with 12 requests waiting\n" in out
    assert main(["report", str(path), "--metric-names", str(tmp_path / "nope.yaml")]) == 2
    assert capsys.readouterr().err == f"Error: --metric-names {tmp_path / 'nope.yaml'}: no such file\n"


# -- real runs against the real stub, each with a known cause ----------------------------------------------------


@pytest.fixture(scope="session")
def runs_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("steps-runs")


def _rows(folder: Path, source: str) -> dict[float, dict[str, float]]:
    """server_metrics.jsonl of one source as {t: {metric: value summed over labels}}, read without surgegate."""
    by_t: dict[float, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for line in (folder / "server_metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["source"] == source and row["value"] is not None:
            by_t[round(row["t"])][row["metric"]] += row["value"]
    return by_t


def _first_second(folder: Path, method: str, name: str, status: int) -> int:
    """The first window in windows.jsonl with this endpoint and status, read without surgegate."""
    rows = [json.loads(line) for line in (folder / "windows.jsonl").read_text().splitlines()]
    return min(int(r["t"]) for r in rows if (r["method"], r["name"], r["status"]) == (method, name, status))


def _diagnosis(verdict: dict) -> tuple[dict, dict]:
    diagnosis = verdict["diagnosis"]
    return diagnosis, {s["key"]: s for s in diagnosis["suspects"]}


def test_real_incident_run_names_the_pool_with_true_numbers(runs_root):
    """incident (5 connections, 24 queries a checkout): the run's own gate names the pool first; the gateway and the
    payment provider are not indicated; the times and numbers it quotes are those of the recorded files."""
    steps = steps_run(runs_root, "incident")
    verdict = steps.verdict
    assert steps.run.code == verdict["exit_code"] and verdict["verdict"] in ("NOT_READY", "INCONCLUSIVE")
    diagnosis, suspects = _diagnosis(verdict)
    assert (diagnosis["status"], diagnosis["most_likely"]) == ("explained", "db_pool")
    assert suspects["db_pool"]["confidence"] in ("high", "medium")
    assert suspects["gateway_timeout"]["confidence"] == suspects["downstream"]["confidence"] == "not_indicated"
    assert re.search(r"Not indicated: .*the payment provider \(its latency flat", diagnosis["summary"])
    assert "the gateway itself (its " in diagnosis["summary"]
    # The lead's numbers are the app's scrape at the pool's onset, and the symptom's second is the first 504.
    lead = re.fullmatch(r"(\d+) s (after|before) the database pool reached 5/5 in use with (\d+) requests waiting|"
                        r"at the same second as the database pool reached 5/5 in use with (\d+) requests waiting",
                        suspects["db_pool"]["lead"])
    assert lead, suspects["db_pool"]["lead"]
    scrape = _rows(steps.folder, "app")[round(suspects["db_pool"]["onset_s"])]
    assert scrape["shop_db_pool_checked_out_connections"] == 5
    assert scrape["shop_db_pool_size_connections"] + scrape["shop_db_pool_max_overflow_connections"] == 5
    assert scrape["shop_db_pool_waiting_requests"] == float(lead.group(3) or lead.group(4))
    failing = diagnosis["symptoms"]["failing"][0]
    method, name = failing["endpoint"].split(" ", 1)
    assert failing["first_s"] == _first_second(steps.folder, method, name, int(failing["what"]))


@pytest.mark.parametrize(("preset", "stub_args", "cause"), [
    ("slow_payment", (), "downstream"),
    ("thread_starved", (), "app_workers"),
    # The preset's 50 ms lets the app's ~36 ms checkouts through most of the time (3 to 43 timeouts in a run);
    # 30 ms is under the app's ~32 ms for a cart step: every one times out, the app healthy all along.
    ("short_gateway", (), "gateway_timeout"),
])
def test_real_runs_name_the_known_cause_and_clear_the_pool(runs_root, preset, stub_args, cause):
    """Each preset whose failure is not the pool: its cause first, at medium or above; the pool not blamed."""
    steps = steps_run(runs_root, preset, stub_args=stub_args)
    diagnosis, suspects = _diagnosis(steps.verdict)
    assert steps.run.code == steps.verdict["exit_code"]
    assert (diagnosis["status"], diagnosis["most_likely"]) == ("explained", cause), diagnosis["summary"]
    assert suspects[cause]["confidence"] in ("high", "medium")
    assert suspects["db_pool"]["confidence"] == "not_indicated", suspects["db_pool"]["why"]
    assert diagnosis["suspects"][0]["key"] == cause


def test_real_run_without_server_metrics_says_it_cannot_tell(runs_root):
    """incident with --metrics-url none: the client's symptoms, and no hint beyond them, in verdict.json and on the
    console."""
    steps = steps_run(runs_root, "incident", "--metrics-url", "none")
    assert not (steps.folder / "server_metrics.jsonl").exists()
    diagnosis, _ = _diagnosis(steps.verdict)
    assert (diagnosis["status"], diagnosis["suspects"], diagnosis["most_likely"]) == ("no_server_metrics", [], None)
    assert diagnosis["symptoms"]["failing"]
    assert diagnosis["summary"].endswith("No server metrics were recorded (the run had --metrics-url none): no hint "
                                         "beyond the client's view; surgegate cannot tell why.")
    assert "  why: cannot tell: no server metrics were recorded (the run had --metrics-url none); no hint beyond " \
           "the client's view\n" in steps.run.stdout
