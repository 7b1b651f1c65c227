"""``surgegate profile from-log``: reading access logs, the journey mix, windows and intervals, bad input.

The parsers and the fit are tested in process, on hand-made lines with
hand-computed answers; the command is run for real (``.venv/bin/surgegate``
as a subprocess), and what it writes is loaded back with ``load_profile``.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

import profiles._access_log
import profiles._from_log_text
import profiles._funnel
import profiles.from_log
from locustfiles.adapter import ShopAdapter, StubShopAdapter
from locustfiles.example_adapter import ExampleRestAdapter
from profiles import load_profile
from profiles._access_log import LogReader
from profiles._funnel import JOURNEY_STEPS, STEPS, StepMatcher, fit_mix, whole_percent
from surgegate.errors import BadInput

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "profiles" / "samples" / "flash-sale-access.log"
SURGEGATE = Path(sys.executable).parent / "surgegate"
T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=timezone(timedelta(hours=1)))


def _line(at_s: float, target: str, *, method: str = "GET", status: int = 200, client: str = "203.0.113.7") -> str:
    stamp = (T0 + timedelta(seconds=at_s)).strftime("%d/%b/%Y:%H:%M:%S %z")
    return f'{client} - - [{stamp}] "{method} {target} HTTP/1.1" {status} 512 "-" "Mozilla/5.0"'


def _write(tmp_path: Path, lines: list[str] | str, name: str | None = None) -> Path:
    """Write *lines* (or text) to a new file in *tmp_path*: ``log1.log``, ``log2.log``, ... unless named."""
    path = tmp_path / (name or f"log{len(list(tmp_path.iterdir())) + 1}.log")
    path.write_text(lines if isinstance(lines, str) else "".join(line + "\n" for line in lines))
    return path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SURGEGATE), "profile", "from-log", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=60)


# Reading lines


def test_combined_lines_give_time_and_target(tmp_path):
    """A combined line gives its aware time and its path with query; an absolute URI keeps path and query only."""
    lines = [_line(0, "/products?page=2&per_page=24"), _line(61, "http://shop.example/sale?x=1", method="HEAD"),
             '192.0.2.1 - alice [20/Nov/2026:10:02:03 +0100] "POST /checkout HTTP/2.0" 201 -']  # common format
    records = list(LogReader(_write(tmp_path, lines)))
    assert [(r.line, r.time, r.target, r.count) for r in records] == [
        (1, T0, "/products?page=2&per_page=24", 1),
        (2, T0 + timedelta(seconds=61), "/sale?x=1", 1),
        (3, T0 + timedelta(seconds=123), "/checkout", 1),
    ]


def test_csv_rows_take_iso_or_unix_times_and_a_header(tmp_path):
    """A CSV gives journeys per row; ISO without an offset is UTC; '#' and blank lines are not records."""
    text = "timestamp,count\n# exported\n2026-11-20T09:00:00,3\n\n1795165210,0\n2026-11-20T10:00:05+01:00, 12\n"
    reader = LogReader(_write(tmp_path, [text.rstrip("\n")]))
    records = list(reader)
    assert reader.format == "csv"
    assert [(r.line, r.time, r.count, r.target) for r in records] == [
        (3, datetime(2026, 11, 20, 9, 0, tzinfo=UTC), 3, None),
        (5, datetime.fromtimestamp(1795165210, UTC), 0, None),
        (6, T0 + timedelta(seconds=5), 12, None),
    ]
    assert (reader.lines, reader.skipped, reader.first_bad) == (3, 0, None)


HOSTILE = [
    ('203.0.113.250 - - [20/Nov/2026:10:00:01 +0100] "\\x16\\x03\\x01\\x02\\x00" 400 157 "-" "-"',
     "request is not 'METHOD /path HTTP/x' (got '\\x16\\x03\\x01\\x02\\x00')"),
    ('198.51.100.77 - - [20/Nov/2026:10:00:02 +0100] "-" 408 0 "-" "-"',
     "request is not 'METHOD /path HTTP/x' (got '-')"),
    ('192.0.2.14 - - [20/Nov/2026:10:00:03 +0100] "GET /products/41',
     "not a combined log line (client ident user [time] \"request\" status size), got "
     "'192.0.2.14 - - [20/Nov/2026:10:00:03 +0100] \"GET /produc..."),
    ('203.0.113.9 - - [20/Nov/2026:25:61:00 +0100] "GET /sale HTTP/1.1" 200 812',
     "time is not a real date and time (got '20/Nov/2026:25:61:00 +0100')"),
    ('203.0.113.9 - - [2026-11-20 10:00:00] "GET /sale HTTP/1.1" 200 812',
     "time is not like '20/Nov/2026:09:00:03 +0000' (got '2026-11-20 10:00:00')"),
    ('203.0.113.9 - - [20/Nov/2026:10:00:04 +0100] "GET \x1b[31mred HTTP/1.1" 200 1',
     "request target is not a path (got '\\x1b[31mred')"),
    ('203.0.113.9 - - [20/Nov/2026:10:00:05 +0100] "GET sale HTTP/1.1" 200 1',
     "request target is not a path (got 'sale')"),
    ("\x00\x00\x00",
     "not a combined log line (client ident user [time] \"request\" status size), got '\\x00\\x00\\x00'"),
]


def test_hostile_lines_are_skipped_counted_and_the_first_is_reported(tmp_path):
    """Broken and hostile lines are skipped and counted, the first with its line number; good lines still count."""
    lines = [_line(0, "/products")] + [text for text, _ in HOSTILE] + ["", _line(9, "/sale")]
    reader = LogReader(_write(tmp_path, lines), "combined")
    good = list(reader)
    assert [r.target for r in good] == ["/products", "/sale"]
    assert (reader.lines, reader.skipped, reader.first_bad) == (10, len(HOSTILE), (2, HOSTILE[0][1]))
    for number, (text, reason) in enumerate(HOSTILE, start=2):  # each reason, as it would be reported first
        single = LogReader(_write(tmp_path, [text]), "combined")
        assert list(single) == [] and single.first_bad == (1, reason), number


def test_overlong_and_non_utf8_lines(tmp_path):
    """A line over 64 KiB is skipped without reading it whole; invalid UTF-8 is shown escaped, never raw."""
    path = _write(tmp_path, [])
    path.write_bytes(_line(0, "/products").encode() + b"\n" + b"A" * 70_000 + b"\n"
                     + _line(1, "/products/\xff").encode("latin-1") + b"\n" + _line(2, "/sale").encode() + b"\n")
    reader = LogReader(path, "combined")
    targets = [r.target for r in reader]
    assert targets == ["/products", "/products/\\xff", "/sale"]
    assert (reader.skipped, reader.first_bad) == (1, (2, "longer than 64 KiB"))


def test_auto_picks_the_format_that_reads_the_first_lines(tmp_path):
    """auto: combined or CSV by what most of the first lines are; neither is one line naming the first."""
    assert LogReader(_write(tmp_path, ["garbage", _line(0, "/sale"), _line(1, "/sale")])).format == "combined"
    assert LogReader(_write(tmp_path, ["2026-11-20T10:00:00Z,4"])).format == "csv"
    with pytest.raises(BadInput) as error:
        LogReader(path := _write(tmp_path, ["hello", "world"]))
    assert str(error.value) == (f"{path}: line 1: neither a combined log line nor 'timestamp,count' (got 'hello'); "
                                "none of the first 2 lines is; use --format")


# Steps and the mix


@pytest.mark.parametrize(("adapter", "target", "step"), [
    (StubShopAdapter, "/products?page=3&per_page=24", "browse"),
    (StubShopAdapter, "/products", "browse"),
    (StubShopAdapter, "/products/41", "product"),
    (StubShopAdapter, "/products/41?ref=mail", "product"),
    (StubShopAdapter, "/search?q=red", "search"),
    (StubShopAdapter, "/sale", "sale"),
    (StubShopAdapter, "/carts", "cart"),
    (StubShopAdapter, "/carts/1001/items", "cart"),
    (StubShopAdapter, "/carts/1001", "cart"),
    (StubShopAdapter, "/checkout", "checkout"),
    (StubShopAdapter, "/healthz", None),
    (StubShopAdapter, "/products/41/reviews", None),
    (StubShopAdapter, "/saleroom", None),
    (ExampleRestAdapter, "/api/v2/items?offset=20&limit=20", "browse"),
    (ExampleRestAdapter, "/api/v2/items?query=red&limit=20", "search"),
    (ExampleRestAdapter, "/api/v2/items?limit=20&query=red", "search"),
    (ExampleRestAdapter, "/api/v2/items/A-1", "product"),
    (ExampleRestAdapter, "/api/v2/promotions/current", "sale"),
    (ExampleRestAdapter, "/api/v2/baskets/b-1/lines/A-1", "cart"),
    (ExampleRestAdapter, "/api/v2/orders", "checkout"),
])
def test_adapters_url_patterns_name_the_step(adapter, target, step):
    """Each adapter's url_patterns put its own paths (with query strings) under the right step."""
    assert StepMatcher(adapter.url_patterns, "--adapter x").step_of(target) == step


@pytest.mark.parametrize(("patterns", "message"), [
    ({"browse": "^/p", "basket": "^/b"}, "--adapter x: url_patterns: unknown step 'basket'; steps are "
                                         "browse, search, product, sale, cart, checkout"),
    ({"browse": "^/p(", "sale": "^/s"}, "--adapter x: url_patterns.browse: not a regular expression "
                                        "(missing ), unterminated subpattern at position 3), got '^/p('"),
    ({"cart": "^/c"}, "--adapter x: url_patterns: needs an entry step (browse or sale), got cart"),
])
def test_bad_url_patterns_are_one_line(patterns, message):
    """An adapter's patterns are checked: known steps, valid expressions, an entry step."""
    with pytest.raises(BadInput) as error:
        StepMatcher(patterns, "--adapter x")
    assert str(error.value) == message


def test_the_mix_fit_recovers_a_known_mix_exactly():
    """The docstring's worked example: the step counts of 40/40/20/20 journeys give back 33/33/17/17."""
    fit = fit_mix({"browse": 100, "search": 40, "product": 160, "sale": 20, "cart": 220, "checkout": 40})
    assert fit.journeys == pytest.approx({"browser": 40, "abandoner": 40, "buyer": 20, "sniper": 20})
    assert fit.weights == {"browser": 33, "abandoner": 33, "buyer": 17, "sniper": 17}


def test_the_mix_fit_never_goes_negative():
    """Fewer product views than browsers make: unconstrained least squares wants negative snipers; the fit has none.

    By hand: on {browser, abandoner}, the normal equations [[8.25, 3.5], [3.5, 11]] n = [45, 20]
    give n = (425 / 78.5, 7.5 / 78.5) = (5.414, 0.0955), both >= 0, and no other subset fits better.
    """
    fit = fit_mix({"browse": 10, "search": 10, "product": 10})
    assert fit.journeys == pytest.approx({"browser": 425 / 78.5, "abandoner": 7.5 / 78.5, "buyer": 0, "sniper": 0})
    assert fit.weights == {"browser": 98, "abandoner": 2, "buyer": 0, "sniper": 0}
    assert fit.predicted["product"] == pytest.approx(2.5 * 425 / 78.5 + 7.5 / 78.5)
    with pytest.raises(ValueError):
        fit_mix({"browse": 0})


@pytest.mark.parametrize(("amounts", "shares"), [
    ({"a": 1, "b": 1, "c": 1}, {"a": 34, "b": 33, "c": 33}),
    ({"a": 2, "b": 0}, {"a": 100, "b": 0}),
    ({"a": 0.5, "b": 0.25, "c": 0.25}, {"a": 50, "b": 25, "c": 25}),
])
def test_whole_percent_adds_up_to_100(amounts, shares):
    """Largest remainders: the shares are whole and add up to exactly 100."""
    assert whole_percent(amounts) == shares


class _Recorder(ShopAdapter):
    """Answers every step at once, as a healthy shop would, and notes which step was asked for."""

    def __init__(self):
        super().__init__()
        self.steps: list[str] = []

    def _note(self, step, value):
        self.steps.append(step)
        return value

    def browse(self, client, page):
        return self._note("browse", [7, 8, 9])

    def search(self, client, term):
        return self._note("search", [7, 8])

    def view_product(self, client, product_id):
        return self._note("product", True)

    def sale_items(self, client):
        return self._note("sale", [1, 2])

    def new_cart(self, client):
        return self._note("cart", 1001)

    def add_to_cart(self, client, cart, product_id, quantity=1):
        return self._note("cart", True)

    def view_cart(self, client, cart):
        return self._note("cart", True)

    def checkout(self, client, cart, shopper):
        return self._note("checkout", "order-1")


def test_journey_steps_are_what_the_real_journeys_do():
    """JOURNEY_STEPS (which the fit and the arrival rate rest on) is what journeys.py's journeys request, on average."""
    from locustfiles.journeys import JOURNEYS, Visit
    from locustfiles.shoppers import ShopperData

    data = ShopperData(shoppers=({"name": "A", "email": "a@x", "address": "1 Road", "card_token": "tok"},),
                       search_terms=("red",))
    rng = random.Random(5)
    plays = 400
    for journey, play in JOURNEYS.items():
        adapter = _Recorder()
        for _ in range(plays):
            play(Visit(client=None, adapter=adapter, data=data, shopper=data.shopper(0), rng=rng,
                       pause=lambda _range: None))
        mean = {step: adapter.steps.count(step) / plays for step in STEPS}
        expected = {step: float(JOURNEY_STEPS[journey].get(step, 0)) for step in STEPS}
        assert mean == pytest.approx(expected, abs=0.1), journey
        assert sum(mean[step] for step in profiles._funnel.ENTRY_STEPS) == 1.0, journey  # one start per journey


def test_modules_name_their_public_surface():
    """Each from-log module lists its public names in __all__, and they exist."""
    for module in (profiles._access_log, profiles._funnel, profiles._from_log_text, profiles.from_log):
        assert module.__all__ and all(hasattr(module, name) for name in module.__all__), module.__name__
        public = {name for name, value in vars(module).items() if not name.startswith("_")
                  and getattr(value, "__module__", None) == module.__name__}
        assert public <= set(module.__all__), (module.__name__, public - set(module.__all__))


# The command, run for real

SMALL = [_line(0, "/products?page=1"), _line(1, "/products/4"), _line(1, "/products?page=2"), _line(2, "/products"),
         _line(5, "/sale"), _line(12, "/products"), _line(25, "/sale"), _line(26, "/sale"),
         _line(27, "/carts", method="POST", status=201), _line(28, "/checkout", method="POST", status=504),
         _line(35, "/healthz"), _line(41, "/products?page=3")]
"""Journey starts (browse or sale) by 10-second interval from 10:00:00: 4, 1, 2, 0, then 1 at 10:00:41."""


def _stages(path: Path) -> list[tuple[str, str, float]]:
    document = yaml.safe_load(path.read_text())
    return [(stage["name"], stage["duration"], stage["arrival_rate"]) for stage in document["stages"]]


def test_a_small_log_becomes_a_valid_open_profile(tmp_path):
    """Each interval's journeys per second, the tail as a shorter stage, the peak marked; load_profile accepts it."""
    out = tmp_path / "small.yaml"
    done = _cli(_write(tmp_path, SMALL), "-o", out, "--name", "small", "--max-in-flight", "40")
    assert (done.returncode, done.stderr) == (0, "")
    assert _stages(out) == [("w001-10h00m00s", "10s", 0.4), ("w002-10h00m10s", "10s", 0.1),
                            ("w003-10h00m20s", "10s", 0.2), ("w004-10h00m30s", "10s", 0.0),
                            ("w005-10h00m40s", "2s", 0.5)]
    profile = load_profile(out)
    assert (profile.name, profile.is_open, profile.max_in_flight, profile.time_scale) == ("small", True, 40, 1.0)
    assert profile.planned_arrivals == pytest.approx(8)
    assert [stage.name for stage in profile.stages if stage.peak] == ["w005-10h00m40s"]
    assert done.stdout.splitlines()[0] == (
        f"wrote {out}: profile 'small', 5 stages (4 of 10 s and one of 2 s) from 2026-11-20 10:00:00 +0100 "
        "to 10:00:42 +0100 (42 s), time_scale 1: replayed in 42 s")
    assert done.stdout.splitlines()[1] == "  journeys: 8 started, peak 0.5/s from 10:00:40, mean 0.19/s " \
                                          "(requests to browse or sale)"
    assert "  lines: 12 read, 0 skipped, 0 requests outside the window, 1 matched no step" in done.stdout
    text = out.read_text()
    assert "# Requests in the window: 12; 1 matched no step of --adapter stub." in text
    assert "#   browse            5       " in text  # the fit's table: the log's own count per step


@pytest.mark.parametrize(("options", "stages"), [
    (("--from", "10:00:10", "--to", "10:00:30"), [("w001-10h00m10s", "10s", 0.1), ("w002-10h00m20s", "10s", 0.2)]),
    (("--from", "+20s"), [("w001-10h00m20s", "10s", 0.2), ("w002-10h00m30s", "10s", 0.0),
                          ("w003-10h00m40s", "2s", 0.5)]),
    (("--to", "2026-11-20T09:00:20Z", "--interval", "5s"),  # 10:00:20 +0100
     [("w001-10h00m00s", "5s", 0.6), ("w002-10h00m05s", "5s", 0.2), ("w003-10h00m10s", "5s", 0.2),
      ("w004-10h00m15s", "5s", 0.0)]),
    (("--from", "20/Nov/2026:10:00:00 +0100", "--interval", "20s", "--time-scale", "0.05"),  # 2 s tail < 1 replay s
     [("w001-10h00m00s", "20s", 0.25), ("w002-10h00m20s", "20s", 0.1)]),
])
def test_window_and_interval_options(tmp_path, options, stages):
    """--from/--to (clock, offset, ISO, log format) cut the window; --interval sets the stages; short tails go."""
    out = tmp_path / "cut.yaml"
    done = _cli(_write(tmp_path, SMALL), "-o", out, *options)
    assert (done.returncode, done.stderr) == (0, "")
    assert _stages(out) == stages
    assert load_profile(out).is_open
    if "--time-scale" in options:
        assert "  left out: the last 2 s of the window (shorter than a 1 s replay stage)" in done.stdout
        assert "1 requests outside the window" in done.stdout


def test_a_csv_curve_becomes_a_profile_with_an_assumed_or_given_mix(tmp_path):
    """A CSV's counts are journeys; its mix is the documented default, said to be assumed, or --mix."""
    rows = [f"2026-11-20T09:00:{second:02d}Z,{second % 4}" for second in range(20)]
    log = _write(tmp_path, ["timestamp,count", *rows])
    out = tmp_path / "curve.yaml"
    done = _cli(log, "-o", out)
    assert (done.returncode, done.stderr) == (0, "")
    assert _stages(out) == [("w001-09h00m00s", "10s", 1.3), ("w002-09h00m10s", "10s", 1.7)]  # 0+1+2+3+0+1+2+3+0+1 = 13
    assert yaml.safe_load(out.read_text())["mix"] == dict(profiles.from_log.DEFAULT_CSV_MIX)
    assert "# Mix: assumed, a CSV has no URLs: set your own with --mix" in out.read_text()
    done = _cli(log, "-o", out, "--mix", "buyer=1,sniper=3", "--adapter", "locustfiles.adapter:ShopAdapter")
    assert done.returncode == 0, done.stderr  # an adapter without url_patterns does for a CSV
    assert yaml.safe_load(out.read_text())["mix"] == {"browser": 0, "abandoner": 0, "buyer": 1, "sniper": 3}


def test_the_sample_log_becomes_a_profile_whose_arrivals_are_its_journey_starts(tmp_path):
    """The shipped sample: every entry-step request in the window is one planned arrival; 4 bad lines reported."""
    out = tmp_path / "sample.yaml"
    done = _cli(SAMPLE, "-o", out, "--interval", "30s")
    assert (done.returncode, done.stderr) == (0, "")
    entry = re.compile(r'\[20/Nov/2026:(09|10):[0-5]\d:[0-5]\d \+0000\] "GET /(products|sale)(\?[^ ]*)? HTTP/1.1" ')
    entries = sum(1 for line in SAMPLE.read_text().splitlines() if entry.search(line))
    profile = load_profile(out)
    assert profile.planned_arrivals == pytest.approx(entries, abs=0.01)
    assert f"  journeys: {entries:,} started" in done.stdout
    assert "4 skipped (the first at line 59: request is not 'METHOD /path HTTP/x'" in done.stdout
    assert sum(profile.mix.values()) == 100
    assert profile.mix["sniper"] > profile.mix["buyer"]  # the sale brings snipers (make_sample_log.py: 35% after 10:00)


def test_the_sample_log_is_what_its_script_writes(tmp_path):
    """make_sample_log.py, from its fixed seed, writes the shipped sample byte for byte."""
    script = REPO / "profiles" / "samples" / "make_sample_log.py"
    copy = tmp_path / "make_sample_log.py"
    copy.write_text(script.read_text())
    done = subprocess.run([sys.executable, str(copy)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "flash-sale-access.log").read_bytes() == SAMPLE.read_bytes()


BAD = [
    pytest.param(lambda tmp: (_write(tmp, ""),), "Error: {log}: empty, no request to replay", id="empty"),
    pytest.param(lambda tmp: (tmp / "nope.log",), "Error: {tmp}/nope.log: no such file", id="missing"),
    pytest.param(lambda tmp: (tmp,), "Error: {tmp}: is a folder, not a log file", id="folder"),
    pytest.param(lambda tmp: (_write(tmp, ["hello", "\x1b[2J"]),),
                 "Error: {log}: line 1: neither a combined log line nor 'timestamp,count' (got 'hello'); none of the "
                 "first 2 lines is; use --format", id="unknown-format"),
    pytest.param(lambda tmp: (_write(tmp, ["hello", "\x1b[2J"]), "--format", "combined"),
                 "Error: {log}: line 1: not a combined log line (client ident user [time] \"request\" status size), "
                 "got 'hello'; none of the 2 lines could be read", id="nothing-readable"),
    pytest.param(lambda tmp: (_write(tmp, SMALL[:2]), "--format", "csv"),
                 "Error: {log}: line 1: not a 'timestamp,count' row (1 fields), got '203.0.113.7 - - "
                 "[20/Nov/2026:10:00:00 +0100] \"GET /produ...; none of the 2 lines could be read",
                 id="combined-read-as-csv"),
    pytest.param(lambda tmp: (_write(tmp, SMALL), "--from", "11:00", "--to", "12:00"),
                 "Error: {log}: no request between 2026-11-20 11:00:00 +0100 and 2026-11-20 12:00:00 +0100; the log "
                 "runs from 2026-11-20 10:00:00 +0100 to 2026-11-20 10:00:42 +0100", id="empty-window"),
    pytest.param(lambda tmp: (_write(tmp, SMALL), "--interval", "1m"),
                 "Error: --interval 60s is longer than the window (42 s): no whole interval to replay; shorten it "
                 "or widen --from/--to", id="interval-over-window"),
    pytest.param(lambda tmp: (_write(tmp, SMALL), "--time-scale", "0.05"),
                 "Error: --interval 10s at --time-scale 0.05 makes 0.5 s stages, and a stage needs >= 1 s (Locust "
                 "ticks once a second); use --interval >= 20s or --time-scale >= 0.1", id="stages-too-short"),
    pytest.param(lambda tmp: (_write(tmp, SMALL), "--from", "10:00:30", "--to", "10:00:10"),
                 "Error: --from 2026-11-20 10:00:30 +0100 is not before --to 2026-11-20 10:00:10 +0100",
                 id="from-after-to"),
    pytest.param(lambda tmp: (_write(tmp, SMALL), "--from", "soon"),
                 "Error: --from: must be +DURATION (after the first record), HH:MM[:SS], ISO 8601 or "
                 "'20/Nov/2026:09:05:00 +0000', got 'soon'", id="bad-from"),
    pytest.param(lambda tmp: (_write(tmp, SMALL), "--interval", "2.5s"),
                 "Error: --interval: must be a whole number of seconds, got '2.5s'", id="fractional-interval"),
    pytest.param(lambda tmp: (_write(tmp, SMALL), "--interval", "0"), "Error: --interval: must be > 0, got '0'",
                 id="zero-interval"),
    pytest.param(lambda tmp: (_write(tmp, SMALL), "--adapter", "nope"),
                 "Error: --adapter: unknown adapter 'nope'; use stub, example or module:Class", id="unknown-adapter"),
    pytest.param(lambda tmp: (_write(tmp, SMALL), "--adapter", "locustfiles.adapter:ShopAdapter"),
                 "Error: --adapter locustfiles.adapter:ShopAdapter: url_patterns: needs an entry step (browse or "
                 "sale), got none", id="adapter-without-url-patterns"),
    pytest.param(lambda tmp: (_write(tmp, [_line(0, "/healthz"), _line(13, "/metrics")]),),
                 "Error: {log}: no request to an entry step (browse or sale) of --adapter stub between "
                 "2026-11-20 10:00:00 +0100 and 2026-11-20 10:00:14 +0100: nothing to replay", id="no-entry-step"),
    pytest.param(lambda tmp: (_write(tmp, ["2026-11-20T09:00:00Z,4", "2026-11-20T09:01:00Z,5",
                                           "2026-11-20T09:02:00Z,6"]),),
                 "Error: --interval 10s is shorter than the 60 s between the CSV's rows: most intervals would be "
                 "empty; use --interval 60s or a multiple of it", id="csv-rows-sparser-than-interval"),
    pytest.param(lambda tmp: (_write(tmp, SMALL), "--name", "my profile"),
                 "Error: --name: must be letters, digits, '-' or '_', starting with a letter or digit, "
                 "got 'my profile'", id="bad-name"),
    pytest.param(lambda tmp: (_write(tmp, SMALL), "--max-in-flight", "0"),
                 "Error: argument --max-in-flight: must be >= 1, got '0'", id="max-in-flight-zero"),
]


@pytest.mark.parametrize(("make", "message"), BAD)
def test_bad_input_is_one_error_line_and_exit_2(tmp_path, make, message):
    """Nothing usable, or a bad option: exit 2, one 'Error:' line naming the file or option; no file written."""
    args = make(tmp_path)
    out = tmp_path / "out" / "p.yaml"
    out.parent.mkdir()
    done = _cli(*args, "-o", out)
    expected = message.format(tmp=tmp_path, log=args[0]) + "\n"
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines()[-1] + "\n" == expected
    assert "Traceback" not in done.stderr
    assert not done.stderr.startswith("Error") or done.stderr.count("\n") == 1
    assert list(out.parent.iterdir()) == []


def test_an_unwritable_output_is_one_error_line(tmp_path):
    """-o into a folder that does not exist, or naming a folder: one line, exit 2, nothing left behind."""
    log = _write(tmp_path, SMALL)
    done = _cli(log, "-o", tmp_path / "missing" / "p.yaml")
    assert (done.returncode, done.stderr) == (2, f"Error: -o: cannot write {tmp_path}/missing/p.yaml "
                                                 "(No such file or directory)\n")
    (tmp_path / "here").mkdir()
    done = _cli(log, "-o", tmp_path / "here")
    assert (done.returncode, done.stderr) == (2, f"Error: -o: {tmp_path}/here is a folder; name the profile file, "
                                                 f"e.g. {tmp_path}/here/profile.yaml\n")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["here", log.name]


def test_a_gzipped_log_reads_like_the_plain_one(tmp_path):
    """A rotated log (access.log.1.gz) is read through gzip: the same profile as the plain file."""
    plain = _write(tmp_path, SMALL)
    packed = tmp_path / "access.log.1.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert _cli(plain, "-o", tmp_path / "a.yaml", "--name", "same").returncode == 0
    done = _cli(packed, "-o", tmp_path / "b.yaml", "--name", "same")
    assert done.returncode == 0, done.stderr
    assert _stages(tmp_path / "b.yaml") == _stages(tmp_path / "a.yaml")


# Replaying the sample against the stub

REPLAY_MULTIPLIER = 4
"""The sample's rates x 4 (--peak-multiplier): about 20 journeys in the 6-second replay."""


@pytest.fixture(scope="module")
def sample_replay(tmp_path_factory):
    """The sample log made into a 6-second profile and replayed once, headless, against a fresh ``fixed`` stub.

    Returns (the profile, the run, the stub's answers by (method, name)).
    """
    from target_stub.process import StubProcess
    from tests._locust import run_locust, stub_answers

    folder = tmp_path_factory.mktemp("replay")
    out = folder / "sample.yaml"
    # 20 minutes of log in 5 stages of 4 min; at time_scale 0.005 each lasts 1.2 s, 6 s in all.
    made = _cli(SAMPLE, "-o", out, "--from", "09:55", "--to", "10:15", "--interval", "4m", "--time-scale", "0.005",
                "--max-in-flight", "50")
    assert made.returncode == 0, made.stderr
    stub = StubProcess("fixed").start()
    try:
        run = run_locust("--headless", "--profile", str(out), "--peak-multiplier", str(REPLAY_MULTIPLIER),
                         "--host", stub.url, "--stop-timeout", "20", "--only-summary",
                         "--slo", str(REPO / "tests" / "data" / "slo-errors.yaml"),  # july15's need a longer run
                         "--results-dir", str(folder / "results"), json_file=folder / "stats.json", timeout_s=120)
        seen = stub_answers(stub)
    finally:
        assert stub.stop() == 0
    (results,) = (folder / "results").iterdir()
    return load_profile(out, peak_multiplier=REPLAY_MULTIPLIER), run, seen, results


@pytest.mark.load
def test_the_sample_profile_replays_against_the_stub(sample_replay):
    """The profile made from the sample plays its stages in order against the stub, and every request is counted."""
    from tests._locust import folder_counts

    profile, run, seen, results = sample_replay
    assert run.code in (0, 1), run.stderr[-3000:]  # 1 only for cancelled requests
    stages = [line.split("'")[1] for line in run.stderr.splitlines() if "surgegate: stage" in line]
    assert stages == [stage.name for stage in profile.stages]
    assert json.loads((results / "manifest.json").read_text())["status"] == "complete"
    answered, cancelled = folder_counts(results)
    assert run.requests == answered + cancelled  # Locust and surgegate count the same requests
    for key in set(seen) | set(answered) | set(cancelled):
        assert answered[key] <= seen[key] <= answered[key] + cancelled[key], (key, answered, cancelled, seen)


@pytest.mark.load
def test_the_sample_replay_starts_the_journeys_the_log_had(sample_replay):
    """The log's journey starts, scaled, are the replay's planned arrivals; each started one sent one entry request.

    Planned: the sample's 978 journeys x 4 (--peak-multiplier) x 0.005 (time_scale) = 19.56, rounded to 20
    (profiles/schedule.py). With 50 shoppers in flight and a fast stub, none is dropped.
    """
    from tests._locust import folder_counts

    profile, run, seen, results = sample_replay
    assert profile.planned_arrivals == pytest.approx(978 * REPLAY_MULTIPLIER * 0.005, abs=0.01)
    manifest = json.loads((results / "manifest.json").read_text())
    assert manifest["totals"]["arrivals"] == {"planned": 20, "started": 20, "dropped": 0}
    recorded = sum(folder_counts(results), start=Counter())
    assert recorded[("GET", "/products")] + recorded[("GET", "/sale")] == 20
    assert seen[("GET", "/products")] + seen[("GET", "/sale")] <= 20
