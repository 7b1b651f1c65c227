"""``surgegate profile from-log``: reading access logs, the journey mix, windows and intervals, bad input.

The parsers and the fit are tested in process, on hand-made lines with
hand-computed answers; the command is run for real (``.venv/bin/surgegate``
as a subprocess), and what it writes is loaded back with ``load_profile``.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
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
    ('198.51.100.77 - - [20/Nov/2026:10:00:02 +0100] "-" 408 0 "-" "-"', "request is not 'METHOD /path HTTP/x' (got '-')"),
    ('192.0.2.14 - - [20/Nov/2026:10:00:03 +0100] "GET /products/41',
     "not a combined log line (client ident user [time] \"request\" status size), got "
     "'192.0.2.14 - - [20/Nov/2026:10:00:03 +0100] \"GET /produc..."),
    ('203.0.113.9 - - [20/Nov/2026:25:61:00 +0100] "GET /sale HTTP/1.1" 200 812',
     "time is not a real date and time (got '20/Nov/2026:25:61:00 +0100')"),
    ('203.0.113.9 - - [2026-11-20 10:00:00] "GET /sale HTTP/1.1" 200 812',
     "time is not like '20/Nov/2026:09:00:03 +0000' (got '2026-11-20 10:00:00')"),
    ('203.0.113.9 - - [20/Nov/2026:10:00:04 +0100] "GET \x1b[31mred HTTP/1.1" 200 1',
     "request target is not a path (got '\\x1b[31mred')"),
    ('203.0.113.9 - - [20/Nov/2026:10:00:05 +0100] "GET sale HTTP/1.1" 200 1', "request target is not a path (got 'sale')"),
    ("\x00\x00\x00", "not a combined log line (client ident user [time] \"request\" status size), got '\\x00\\x00\\x00'"),
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
