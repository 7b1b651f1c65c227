"""report.html, the readiness report: from a real run's folder, opened in real headless Chromium; hostile names;
numbers checked against the folder; long runs binned; before/after with `surgegate compare --html`.

Chromium is Debian's (`/usr/bin/chromium`, installed by `.ci/run`). Without it the browser tests are skipped,
unless `SURGEGATE_REQUIRE_CHROMIUM` is set (as in CI), which makes that a failure.
"""

from __future__ import annotations

import json
import os
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from reports.analysis import analyse_folder
from reports.gate import evaluate_folder
from reports.metric_names import load_metric_names
from reports.pool_metrics import POOL_SIGNALS, pool_series
from reports.render_html import render_html
from reports.server_series import ServerSeries
from reports.slo import load_slo
from reports.timeline import build_timeline
from reports.verdict import judge
from surgegate.cli import main
from tests._chromium import Chromium, find_chromium
from tests._locust import REPO
from tests.test_analysis import RunFolder
from tests.test_diagnosis import CHECKOUT_504, Scrapes, in_use, own_names_incident, pool_incident_client, waiting
from tests.test_gate_outputs import hostile_run, write_slo

CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
SECTIONS = ("capacity", "breaking-point", "charts", "objectives", "endpoints", "stages", "checks", "comparison")
"""The page's sections in their order (capacity only when the gate assessed it)."""
HOSTILE_STAGE = "<img src=x onerror=alert(1)>\x1b[31m\u202e"


@pytest.fixture
def browser(tmp_path):
    """A headless Chromium for the test; skipped without one unless SURGEGATE_REQUIRE_CHROMIUM is set."""
    if find_chromium() is None:
        if os.environ.get("SURGEGATE_REQUIRE_CHROMIUM", "") not in ("", "0"):
            pytest.fail("SURGEGATE_REQUIRE_CHROMIUM is set but /usr/bin/chromium is missing (apt-get install chromium)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    with Chromium(tmp_path) as chromium:
        yield chromium


@pytest.fixture(scope="module")
def real_runs(surge_runs) -> dict[str, Path]:
    """The 28 s surge played by real Locust against the real stub, `incident` then `fixed`: their results folders."""
    folders = {}
    for preset, code in (("incident", 1), ("fixed", 0)):
        surge = surge_runs(preset)
        assert surge.run.code == code, surge.run.stdout[-3000:] + surge.run.stderr[-3000:]
        folders[preset] = surge.folder
    return folders


class _Page(HTMLParser):
    """The parsed page: every element (tag, attributes) and the text, as a browser's parser sees them."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict]] = []
        self.texts: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.texts.append(data)

    @property
    def text(self) -> str:
        """The text as one line: nodes joined by a space, runs of whitespace made one, none before punctuation."""
        return re.sub(r" ([,.;])", r"\1", re.sub(r"\s+", " ", " ".join(self.texts)))

    def tags(self) -> set[str]:
        return {tag for tag, _ in self.elements}


_PAGE_VALUES = {
    "verdict": "document.querySelector('#verdict h1').firstChild.textContent",
    "svgs": "document.querySelectorAll('figure svg').length",
    "chart_heights": "[...document.querySelectorAll('figure svg')]"
                     ".map(s => Math.round(s.getBoundingClientRect().height))",
    "scripts": "document.querySelectorAll('script').length",
    "overflow": "document.documentElement.scrollWidth - document.documentElement.clientWidth",
    "sections": "[...document.querySelectorAll('section[id]')].map(s => s.id)",
}


def _assert_self_contained(page, url: str) -> None:
    assert page.requests == [url], page.requests  # the file itself, nothing else
    assert page.failed_requests == [] and page.console_errors == [], (page.failed_requests, page.console)


def test_real_incident_run_renders_in_chromium_with_its_verdict_and_charts(real_runs, browser, tmp_path):
    """incident: report.html opens in Chromium with no request but itself, no console error, NOT READY and its
    four charts drawn, prints to PDF; the screenshot is kept in the test's folder."""
    folder = real_runs["incident"]
    report = folder / "report.html"
    verdict = json.loads((folder / "verdict.json").read_text())
    assert verdict["verdict"] == "NOT_READY"
    url = report.as_uri()
    page = browser.open_page(url, evaluate=_PAGE_VALUES, pdf=True)
    (tmp_path / "report-incident.png").write_bytes(page.screenshot_png)
    _assert_self_contained(page, url)
    assert page.values["verdict"] == "NOT READY"
    assert page.values["svgs"] == 4 and all(height > 100 for height in page.values["chart_heights"])
    assert page.values["scripts"] == 0 and page.values["overflow"] <= 0
    assert page.values["sections"] == [s for s in SECTIONS if s in page.values["sections"]]  # in the order
    assert {"breaking-point", "charts", "objectives", "endpoints", "stages", "checks"} <= set(page.values["sections"])
    assert page.screenshot_png.startswith(b"\x89PNG") and len(page.screenshot_png) > 50_000
    assert page.pdf.startswith(b"%PDF") and page.pdf.count(b"/Type /Page\n") + page.pdf.count(b"/Type/Page") >= 2


def test_real_incident_report_numbers_are_the_folders(real_runs):
    """What the page says is what the folder holds: the first breach, every endpoint's requests, the pool's peak."""
    folder = real_runs["incident"]
    html = (folder / "report.html").read_text()
    text = _Page(html).text
    verdict = json.loads((folder / "verdict.json").read_text())
    first = min(o["first_failure"]["t_s"] for o in verdict["objectives"] if o["status"] == "fail")
    assert f"First breach at {first} s" in text
    for endpoint in verdict["summary"]["endpoints"]:
        assert f"{endpoint['endpoint']} {endpoint['requests']:,} {endpoint['failures']:,} " in text
        share = 100 * endpoint["statuses"].get("504", 0) / endpoint["requests"]
        assert f"{endpoint['requests']:,} {endpoint['failures']:,} {endpoint['error_rate_pct']:.3g}% {share:.3g}% " \
               in text
    rows = [json.loads(line) for line in (folder / "server_metrics.jsonl").read_text().splitlines()]
    peak = max(r["value"] for r in rows if r["metric"] == "shop_db_pool_checked_out_connections")
    waiting = max(r["value"] for r in rows if r["metric"] == "shop_db_pool_waiting_requests")
    assert peak == 5 and waiting > 5
    assert f"at most {peak:g} in use of 5, {waiting:g} waiting" in text
    for objective in verdict["objectives"]:
        assert objective["name"] in text and objective["observed_text"] in text


def test_real_comparison_report_shows_before_and_after(real_runs, browser, tmp_path, capsys):
    """`surgegate compare incident fixed --html FILE`: the fixed run's report with before/after, checkout's 504
    objective going from its incident value to 0%, the charts side by side; it opens cleanly in Chromium."""
    out = tmp_path / "incident-vs-fixed.html"
    code = main(["compare", str(real_runs["incident"]), str(real_runs["fixed"]), "--html", str(out)])
    stdout = capsys.readouterr().out
    assert code in (0, 1) and stdout.endswith(f"report: {out}\n")
    page_text = _Page(out.read_text()).text
    before = json.loads((real_runs["incident"] / "verdict.json").read_text())
    incident_504 = next(o for o in before["objectives"] if o["name"] == "checkout-504-peak-windows")
    assert f"checkout-504-peak-windows status 504 rate {incident_504['observed_text']} 0% " in page_text
    assert "fail -> pass" in page_text and "Before: run incident, NOT READY; after: this run, READY." in page_text
    # What the fix came to, in the team's words: checkout's 504s gone, and the capacity held before and after.
    assert re.search(r"504s on POST /checkout: [0-9.]+% -> 0%", page_text), page_text[:3000]
    assert re.search(r"capacity: (held [0-9]+ users|no level held) -> (at least )?[0-9]+ users", page_text)
    url = out.as_uri()
    page = browser.open_page(url, evaluate=_PAGE_VALUES)
    _assert_self_contained(page, url)
    assert page.values["verdict"] == "READY" and page.values["svgs"] == 8
    assert page.values["sections"] == [s for s in SECTIONS if s in page.values["sections"]]
    assert page.values["sections"][-1] == "comparison"


def hostile_stage_run(tmp_path: Path) -> Path:
    """hostile_run (names of 10 kB with markup and control characters) plus a hostile stage and server metrics."""
    path = hostile_run(tmp_path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["profile"]["stages"][0]["name"] = HOSTILE_STAGE
    manifest["run_id"] = "<script>alert('id')</script>"
    manifest["target"] = "http://x/\"><svg onload=alert(1)>"
    (path / "manifest.json").write_text(json.dumps(manifest))
    (path / "server_metrics.jsonl").write_text(
        json.dumps({"t": 1.0, "source": "<b>app</b>", "metric": "shop_db_pool_checked_out_connections",
                    "type": "gauge", "labels": {"pool": "</svg><script>alert(2)</script>"}, "value": 3}) + "\n")
    return path


def test_hostile_names_are_text_never_elements(tmp_path):
    """Markup in endpoint, SLO, stage and run names, reasons and metric labels: no element is injected (no script,
    no img, no event handler), the text is shown escaped, and no control character reaches the page."""
    path = hostile_stage_run(tmp_path)
    evaluate_folder(path)
    html = (path / "report.html").read_text()
    page = _Page(html)
    assert "script" not in page.tags() and "img" not in page.tags() and "iframe" not in page.tags()
    assert not [attrs for _, attrs in page.elements if any(name.startswith("on") for name in attrs)]
    assert all(attrs.get("href", "").startswith("#") for tag, attrs in page.elements if tag == "a")
    assert not CONTROL.search(html)
    text = page.text
    escaped = "</testcase><script>alert(1)</script>|x|\\x00\\x01\\x08\\x0b\\x1b[2J\\x7f\\x9b\\u202e]]>&amp;yyy"
    assert f"GET {escaped}" in text  # the endpoint's name, as text, control characters made visible
    assert "pool gone </error><![CDATA[\\x00\\x1b]0;pwned\\x07 |" in text  # the manifest's reason
    assert "<img src=x onerror=alert(1)>\\x1b[31m\\u202e" in text  # the stage, in its table and on the charts
    assert "<script>alert('id')</script>" in text
    assert len(html) < 400_000  # 10 kB names are cut, not repeated in full


def test_hostile_report_opens_cleanly_in_chromium(tmp_path, browser):
    """The hostile folder's page runs no script and makes no request in a real browser."""
    path = hostile_stage_run(tmp_path)
    evaluate_folder(path)
    url = (path / "report.html").as_uri()
    page = browser.open_page(url, evaluate={**_PAGE_VALUES,
                                            "title": "document.title", "images": "document.images.length"})
    _assert_self_contained(page, url)
    assert page.values["scripts"] == 0 and page.values["images"] == 0 and page.values["verdict"] == "INCONCLUSIVE"
    assert page.values["title"].startswith("surgegate: INCONCLUSIVE - run <script>alert('id')</script>")


def test_report_is_rebuilt_byte_for_byte_from_a_copy(tmp_path):
    """Two copies of a folder in different places give the same report.html: no path, no time of rendering."""
    first = breached_folder(tmp_path / "a" / "run")
    second = breached_folder(tmp_path / "b" / "elsewhere" / "run")
    evaluate_folder(first)
    evaluate_folder(second)
    assert (first / "report.html").read_bytes() == (second / "report.html").read_bytes()
    assert str(tmp_path) not in (first / "report.html").read_text()


def breached_folder(path: Path, *, seconds: int = 60) -> Path:
    """60 s at 10 GET /products and 4 POST /checkout a second; checkout answers 504 in seconds 20-29."""
    folder = RunFolder(path, stages=(("warm", 0.0, 10.0, 10, False), ("peak", 10.0, 40.0, 100, True),
                                     ("cool", 40.0, float(seconds), 10, False)))
    for t in range(seconds):
        folder.add(t, "/products", times_ms=[5.0] * 10)
        bad = 20 <= t < 30
        folder.add(t, "/checkout", method="POST", status=504 if bad else 201, kind="status" if bad else "ok",
                   times_ms=[2000.0 if bad else 40.0] * 4)
    folder.sample_load(0, seconds, users=100, rps=14.0)
    written = folder.write()
    write_slo(written / "slo.yaml",
              {"name": "checkout-504", "endpoint": "POST /checkout", "metric": "status_rate", "status": 504,
               "bound": "1%", "scope": {"stage": "peak", "window": "5s"}})
    return written


def test_timeline_series_are_counted_by_hand(tmp_path):
    """Per second: 14 requests, checkout's 504 rate 100% in seconds 20-29 and 0 elsewhere (overall 4/14), p50 of
    checkout 40 ms then 2 s; the breaking point is second 20."""
    path = breached_folder(tmp_path / "run")
    analysis = analyse_folder(path)
    verdict = judge(analysis, load_slo(path / "slo.yaml"))
    timeline = build_timeline(analysis, verdict)
    assert timeline.bin_s == 1 and timeline.breach_s == 20 and list(timeline.x_s[:2]) == [0.5, 1.5]
    assert np.all(timeline.requests_per_s == 14)
    assert np.allclose(timeline.status_504_pct[20:30], 100 * 4 / 14) and np.all(timeline.status_504_pct[:20] == 0)
    assert np.all(timeline.endpoint_504_pct["POST /checkout"][20:30] == 100)
    assert np.all(timeline.ok_per_s[20:30] == 10) and np.all(timeline.ok_per_s[:20] == 14)
    checkout = timeline.latency_ms["POST /checkout"]
    assert list(timeline.latency_ms) == ["POST /checkout", "GET /products"]  # checkout first, then the busiest
    # the buckets' middles: 40 ms reads 40.016, 2 s 2000.384
    assert checkout["p50"][19] == 40.016 and checkout["p50"][20] == 2000.384 and timeline.pool is None


def test_long_runs_are_binned_and_render_in_seconds(tmp_path):
    """An hour (3,600 s, 3 endpoints, pool gauges every second among other metrics) is drawn in 6 s bins:
    600 points a line, sums and bin percentiles exact, rendered in a few seconds into a file of modest size."""
    seconds = 3600
    folder = RunFolder(tmp_path / "hour", stages=(("before", 0.0, 1200.0, 50, False),
                                                  ("peak", 1200.0, 2400.0, 300, True),
                                                  ("after", 2400.0, 3600.0, 50, False)))
    for t in range(seconds):
        folder.add(t, "/products", times_ms=[5.0, 6.0, 7.0])
        folder.add(t, "/checkout", method="POST", times_ms=[40.0 + (t % 6) * 10])
        folder.add(t, "/carts", method="POST", times_ms=[20.0])
    folder.sample_load(0, seconds, users=300, rps=5.0)
    path = folder.write()
    with open(path / "server_metrics.jsonl", "w") as f:
        for t in range(seconds):
            f.write("".join(json.dumps({"labels": {"endpoint": f"/e{i}"}, "metric": "shop_app_requests_total",
                                        "source": "app", "t": t + 0.01, "type": "counter", "value": t}) + "\n"
                            for i in range(20)))
            for metric, value in (("shop_db_pool_checked_out_connections", t % 7),
                                  ("shop_db_pool_size_connections", 5), ("shop_db_pool_max_overflow_connections", 2),
                                  ("shop_db_pool_waiting_requests", t % 11)):
                f.write(json.dumps({"labels": {}, "metric": metric, "source": "app", "t": t + 0.01, "type": "gauge",
                                    "value": value}) + "\n")
    write_slo(path / "slo.yaml", {"name": "checkout-p95", "endpoint": "POST /checkout", "metric": "p95",
                                  "bound": "1s"})
    analysis = analyse_folder(path)
    verdict = judge(analysis, load_slo(path / "slo.yaml"))
    started = time.perf_counter()
    html = render_html(verdict, analysis)
    elapsed = time.perf_counter() - started
    assert elapsed < 15, elapsed  # about 0.5 s on the 2-core development machine (a shared CI machine: slack)
    assert len(html.encode()) < 600_000
    timeline = build_timeline(analysis, verdict)
    assert timeline.bin_s == 6 and len(timeline.x_s) == 600 and timeline.x_s[0] == 3.0
    assert np.all(timeline.requests_per_s == 5)
    checkout = timeline.latency_ms["POST /checkout"]  # each bin holds 40, 50, .. 90 ms once: p50 60, p99 90
    assert np.all(checkout["p50"] == 60.016) and np.all(checkout["p99"] == 90.016)  # the buckets' middles
    pool = timeline.pool
    assert len(pool.t_s) == 600 and np.all(pool.limit == 7) and pool.peak_waiting == 10 and pool.peak_in_use == 6
    assert "in bins of 6 s" in html


class _Finding:
    """A capacity or diagnosis as the gate hands it over: an object with ``to_json()`` (and a breaking point)."""

    def __init__(self, document: dict, breaking_point: dict | None = None) -> None:
        self.document, self.breaking_point = document, breaking_point

    def to_json(self) -> dict:
        return self.document


def test_capacity_and_root_cause_sections_appear_when_given(tmp_path):
    """Capacity and diagnosis (issue 8) are shown in their places, summary first and escaped, and the capacity's
    breaking point is the one marked; without them the page has neither heading."""
    path = breached_folder(tmp_path / "run")
    analysis = analyse_folder(path)
    verdict = judge(analysis, load_slo(path / "slo.yaml"))
    plain = _Page(render_html(verdict, analysis)).text
    assert "Headroom and capacity" not in plain and "Root-cause hints" not in plain
    assert "First breach at 20 s (stage peak, 100 users, 14 req/s)" in plain
    point = {"t_s": 18, "stage": "peak", "users": 90, "rps": 12.5, "objective": "checkout-504",
             "metric": "status 504 rate", "observed_text": "50%"}
    capacity = _Finding({"summary": ["Held 100 users <b>bold</b>."], "breaking_point": point,
                         "expected_peak": {"name": "the <i>July 15</i> peak", "source": "a guess"},
                         "headroom": [{"unit": "rps", "endpoint": "POST /checkout", "expected": 16.2,
                                       "held_ratio": 0.5, "reached_ratio": 0.8, "broke_ratio": None,
                                       "outcome": "survives", "text": "held 0.5x"}],
                         "levels": [{"name": "peak", "stage": "peak", "first_s": 10, "stop_s": 40, "users": 100,
                                     "requests_per_s": 14.0, "ok_per_s": 12.7, "error_rate_pct": 9.05,
                                     "p95_ms": 2000.0, "status": "failed", "failed": ["checkout-504"]}],
                         "a_field_from_the_future": {"x": 1}}, point)
    diagnosis = _Finding({"summary": "The pool ran out </p><script>alert(1)</script>", "most_likely": "pool",
                          "suspects": [{"key": "pool", "name": "pool exhaustion", "confidence": "high",
                                        "why": "it was full", "evidence": ["5/5 in use"]},
                                       {"key": "x", "name": "the payment provider", "confidence": "\"><b>",
                                        "why": "flat"}],
                          "symptoms": {"failing": [{"text": "504s on POST /checkout began at t=20 s"}],
                                       "healthy": ["GET /products"]}})
    html = render_html(verdict, analysis, capacity=capacity, diagnosis=diagnosis)
    page = _Page(html)
    assert "script" not in page.tags() and "b" not in page.tags() and "i" not in page.tags()
    text = page.text
    assert "Held 100 users <b>bold</b>." in text and "The pool ran out </p><script>alert(1)</script>" in text
    assert "Against the <i>July 15</i> peak" in text and "16.2 req/s of POST /checkout 0.50x 0.80x - survives" in text
    assert "peak peak 10\u201340 s 100 14 req/s 12.7 req/s 9.05% 2 s failed checkout-504" in text
    assert "pool exhaustion (most likely) high it was full 5/5 in use" in text
    assert "Failing: 504s on POST /checkout began at t=20 s. Healthy: GET /products." in text
    assert "First breach at 18 s (stage peak, 90 users, 12.5 req/s; checkout-504 status 504 rate 50%)" in text
    assert "the red dashed line is the first second an objective breached (18 s)" in text
    positions = [text.index(heading) for heading in ("Headroom and capacity", "Breaking point", "Root-cause hints",
                                                     "Over time", "Objectives")]
    assert positions == sorted(positions)


def test_no_server_metrics_is_said_not_drawn(tmp_path):
    """A folder without server_metrics.jsonl: three charts, and the page says no server metrics were recorded."""
    path = breached_folder(tmp_path / "run")
    evaluate_folder(path)
    html = (path / "report.html").read_text()
    assert html.count("<svg") == 3 and "No server metrics recorded" in html


def test_empty_run_is_inconclusive_and_still_a_page(tmp_path):
    """Nothing recorded: INCONCLUSIVE, every section still there, no chart fails for want of data."""
    path = RunFolder(tmp_path / "run").write()
    write_slo(path / "slo.yaml", {"name": "any-p95", "metric": "p95", "bound": "1s"})
    evaluate_folder(path)
    page = _Page((path / "report.html").read_text())
    assert "INCONCLUSIVE" in page.text and "no request was recorded" in page.text
    assert sum(1 for tag, _ in page.elements if tag == "svg") == 3


def test_pool_reader_takes_hikaricp_names_and_skips_torn_lines(tmp_path):
    """HikariCP's gauges stand in for the stub's; a torn line is counted and skipped; several pools are summed."""
    rows = []
    for t in (0, 1, 2):
        for pool in ("a", "b"):
            rows += [{"t": t + 0.01, "source": "app", "metric": "hikaricp_connections_active",
                      "labels": {"pool": pool}, "type": "gauge", "value": 2 * t + 1},
                     {"t": t + 0.01, "source": "app", "metric": "hikaricp_connections_max", "labels": {"pool": pool},
                      "type": "gauge", "value": 10},
                     {"t": t + 0.01, "source": "app", "metric": "hikaricp_connections_pending",
                      "labels": {"pool": pool}, "type": "gauge", "value": t}]
    text = "".join(json.dumps(row) + "\n" for row in rows) + '{"t": 3.01, "metric": "hikaricp_connections_active", "val'
    (tmp_path / "server_metrics.jsonl").write_text(text)
    pool = pool_series(ServerSeries.read(tmp_path, load_metric_names(), signals=POOL_SIGNALS))
    assert list(pool.t_s) == [0.5, 1.5, 2.5] and list(pool.in_use) == [2.0, 6.0, 10.0]
    assert list(pool.limit) == [20.0] * 3 and list(pool.waiting) == [0.0, 2.0, 4.0] and pool.unreadable == 1
    assert pool.metrics == ("hikaricp_connections_active", "hikaricp_connections_max", "hikaricp_connections_pending")
    assert pool_series(ServerSeries.read(tmp_path / "missing", load_metric_names())) is None


def otel_pool_run(tmp_path: Path) -> Path:
    """pool_incident_client's 60 s with OpenTelemetry's pool gauges (db.client.connection.*): two pools,
    ``orders`` (5 connections, in use and waiting as in the incident) and ``carts`` (3, all always in use)."""
    path = pool_incident_client(tmp_path).write()
    write_slo(path / "slo.yaml", CHECKOUT_504)
    scrapes = Scrapes()
    for t in range(60):
        samples = []
        for pool, size, used, pending in (("orders", 5.0, in_use(t), waiting(t)), ("carts", 3.0, 3.0, 0.0)):
            name = {"db_client_connection_pool_name": pool}
            samples += [("db_client_connection_count", "gauge", {**name, "db_client_connection_state": "used"}, used),
                        ("db_client_connection_count", "gauge", {**name, "db_client_connection_state": "idle"},
                         size - used),
                        ("db_client_connection_max", "gauge", name, size),
                        ("db_client_connection_pending_requests", "gauge", name, pending)]
        scrapes.add(t + 0.004, "app", samples)
    return scrapes.write(path)


def test_opentelemetry_pool_gauges_are_charted_with_the_pool_then(tmp_path):
    """OpenTelemetry's names give the pool chart and the pool at the breaking point: the used connections of both
    pools (idle ones not counted), their maxima added, the waiting requests; the hints quote the same numbers."""
    path = otel_pool_run(tmp_path)
    result = evaluate_folder(path)
    html = (path / "report.html").read_text()
    text = _Page(html).text
    # 504s on checkout from 20 s; at 20 s orders has 5 of 5 in use and 30 waiting, carts 3 of 3: 8 of 8, 30 waiting
    assert result.capacity.breaking_point["t_s"] == 20 and "First breach at 20 s" in text
    assert "Then the server's pool (second 20, its nearest scrape): 8 of 8 connections in use, 30 requests " \
           "waiting." in text
    assert html.count("<svg") == 4 and "No server metrics recorded" not in text
    assert "From server_metrics.jsonl (db_client_connection_count{db_client_connection_state=used}, " \
           "db_client_connection_max, db_client_connection_pending_requests)" in text
    assert "at most 8 in use of 8, 30 waiting." in text  # peaks: 5 + 3 from 18 s to 31 s
    assert result.diagnosis.most_likely == "db_pool" and "the database pool reached 8/8 in use with 12 requests " \
        "waiting" in result.console  # at 18 s, as the chart has it
    timeline = build_timeline(result.analysis, result.verdict)  # read again, by the shipped names: the same series
    assert timeline.pool.in_use.tolist() == [in_use(t) + 3 for t in range(60)]
    assert timeline.pool.waiting.tolist() == [waiting(t) for t in range(60)]
    assert set(timeline.pool.limit.tolist()) == {8.0} and timeline.pool.t_s[20] == 20.5


def test_names_mapped_only_by_metric_names_file_are_charted(tmp_path, capsys):
    """A shop's own pool names, given with ``surgegate report DIR --metric-names FILE``: the rejudged report has
    the pool chart and the pool at the breaking point, rebuilt byte for byte; without the file it has neither."""
    path, names = own_names_incident(tmp_path)
    assert main(["report", str(path)]) == 1
    assert "No server metrics recorded" in (path / "report.html").read_text()
    assert main(["report", str(path), "--metric-names", str(names)]) == 1
    capsys.readouterr()
    first = (path / "rejudged" / "report.html").read_bytes()
    text = _Page(first.decode()).text
    assert "First breach at 20 s" in text and "No server metrics recorded" not in text
    assert "Then the server's pool (second 20, its nearest scrape): 5 of 5 connections in use, 30 requests " \
           "waiting." in text
    assert "From server_metrics.jsonl (myshop_db_busy, myshop_db_max, myshop_db_queue)" in text
    assert "at most 5 in use of 5, 30 waiting." in text and first.count(b"<svg") == 4
    assert main(["report", str(path), "--metric-names", str(names)]) == 1
    assert (path / "rejudged" / "report.html").read_bytes() == first


def test_compare_html_to_an_unwritable_place_is_one_error_line(tmp_path, capsys):
    """--html into a folder that does not exist: one Error line naming the option and the file, exit 2."""
    run = breached_folder(tmp_path / "run")
    target = tmp_path / "no" / "such" / "report.html"
    code = main(["compare", str(run), str(run), "--html", str(target)])
    err = capsys.readouterr().err
    assert code == 2 and err == f"Error: --html: cannot write {target}: No such file or directory\n"


def test_rendering_imports_neither_locust_nor_pyplot():
    """The report is drawn without Locust or gevent, and without pyplot's global state."""
    import subprocess
    import sys

    code = ("import sys, reports.render_html, reports.gate\n"
            "bad = sorted(m for m in sys.modules\n"
            "             if m.split('.')[0] in ('locust', 'gevent') or m == 'matplotlib.pyplot')\n"
            "print(bad)")
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert (process.returncode, process.stdout) == (0, "[]\n")


def test_template_is_package_data():
    """The template ships with the package (pyproject's package-data), next to the renderer."""
    import tomllib

    shipped = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["reports"]
    assert "templates/*.j2" in shipped and "*.yaml" in shipped  # the template, and reports/metric_names.yaml
    assert (REPO / "reports" / "templates" / "report.html.j2").is_file()
