"""Write ``flash-sale-access.log``: a made-up nginx access log of a flash sale on the stub shop.

    .venv/bin/python profiles/samples/make_sample_log.py     # rewrites the file, byte for byte the same

Not a real shop's log: generated from a fixed seed (``SEED``) so that
``surgegate profile from-log`` has something true-to-form to read and the
tests have fixed numbers. The curve (journeys started per second, log time,
2026-11-20, +0000)::

    1.6 |              ____
        |             /    \\___
        |            /         \\____
    0.2 |___________/               \\________
        +-----------+----+----+-----+--------+
      09:55       10:00 10:02 10:05        10:15
        calm        sale surge peak  decay

Each journey is one of those of ``locustfiles/journeys.py``, with its
requests on the stub's paths (``target_stub/routes.py``) and a person's
think time between them (1-5 s; a sniper's 0.05-0.3 s). Before the sale
most shoppers browse; from 10:00 a third are snipers. During the peak some
checkouts and cart creations answer 504, as on July 15. Around them: the
load balancer's health checks (``/healthz``, every 10 s), a few
``/favicon.ico`` and ``/robots.txt``, and four lines no parser should accept
(a TLS handshake sent to the plain-HTTP port, a 408 with no request line, a
line cut short, a line with a broken time): they show up in the summary as
skipped, with the first one's line number.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

SEED = 20261120
START = datetime(2026, 11, 20, 9, 55, 0, tzinfo=UTC)
END_S = 20 * 60
OUT = Path(__file__).resolve().parent / "flash-sale-access.log"
AGENTS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/132.0",
          "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Mobile/15E148 Safari/604.1",
          "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36",
          "python-requests/2.32.3")
TERMS = ("red", "blue", "phone", "laptop", "camera", "shoe", "garden", "toy")


def rate_at(t: float) -> float:
    """Journeys started per second, ``t`` seconds after 09:55 (the curve of the docstring)."""
    if t < 300:
        return 0.2
    if t < 420:
        return 0.2 + 1.4 * (t - 300) / 120
    if t < 600:
        return 1.6
    return max(0.2, 1.6 - 1.4 * (t - 600) / 600)


def mix_at(t: float) -> dict[str, float]:
    """The journey mix: browsers before the sale, a third snipers once it opens."""
    if t < 300:
        return {"browser": 70, "abandoner": 15, "buyer": 10, "sniper": 5}
    return {"browser": 35, "abandoner": 15, "buyer": 15, "sniper": 35}


class Shopper:
    """One journey's requests, as (seconds, method, target, status, bytes)."""

    def __init__(self, rng: random.Random, t: float, carts: list[int]) -> None:
        self.rng, self.t, self.carts, self.lines = rng, t, carts, []

    def hit(self, method: str, target: str, think: tuple[float, float] = (1, 5)) -> bool:
        peak = 420 <= self.t < 660
        failing = peak and (target == "/checkout" or target == "/carts") and self.rng.random() < 0.3
        status = 504 if failing else (201 if method == "POST" and target in ("/carts", "/checkout") else 200)
        self.lines.append((self.t, method, target, status, 160 if failing else self.rng.randrange(300, 9000)))
        self.t += self.rng.uniform(*think)
        return not failing

    def cart(self) -> int:
        self.carts[0] += 1
        return self.carts[0]

    def play(self, journey: str) -> None:
        rng, product = self.rng, self.rng.randrange(6, 1000)
        if journey == "browser":
            self.hit("GET", f"/products?page={rng.randint(1, 20)}&per_page=24")
            self.hit("GET", f"/search?q={rng.choice(TERMS)}&per_page=24")
            for _ in range(rng.randint(2, 3)):
                self.hit("GET", f"/products/{rng.randrange(6, 1000)}")
            return
        if journey == "sniper":
            self.hit("GET", "/sale", (0.05, 0.3))
            if self.hit("POST", "/carts", (0.05, 0.3)):
                cart = self.cart()
                self.hit("POST", f"/carts/{cart}/items", (0.05, 0.3))
                self.hit("POST", "/checkout")
            return
        self.hit("GET", f"/products?page={rng.randint(1, 20)}&per_page=24")
        self.hit("GET", f"/products/{product}")
        if self.hit("POST", "/carts"):
            cart = self.cart()
            self.hit("POST", f"/carts/{cart}/items")
            self.hit("GET", f"/carts/{cart}")
            if journey == "buyer":
                self.hit("POST", "/checkout")


def _line(rng: random.Random, t: float, method: str, target: str, status: int, size: int, client: str,
          agent: str | None = None) -> str:
    stamp = (START + timedelta(seconds=t)).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return (f'{client} - - [{stamp}] "{method} {target} HTTP/1.1" {status} {size} '
            f'"-" "{agent or rng.choice(AGENTS)}"')


def main() -> None:
    """Write the log (``OUT``)."""
    rng = random.Random(SEED)
    entries: list[tuple[float, str]] = []
    carts, t = [1000], 0.0
    while True:  # Poisson arrivals by thinning against the top rate, 1.6/s
        t += rng.expovariate(1.6)
        if t >= END_S:
            break
        if rng.random() >= rate_at(t) / 1.6:
            continue
        client = f"{rng.choice(('203.0.113', '198.51.100', '192.0.2'))}.{rng.randrange(1, 255)}"
        mix = mix_at(t)
        shopper = Shopper(rng, t, carts)
        shopper.play(rng.choices(list(mix), weights=list(mix.values()))[0])
        entries += [(at, _line(rng, at, m, target, s, b, client)) for at, m, target, s, b in shopper.lines
                    if at < END_S]
    for second in range(0, END_S, 10):
        entries.append((second + 0.5, _line(rng, second + 0.5, "GET", "/healthz", 200, 2, "10.0.0.2",
                                                 "ELB-HealthChecker/2.0")))
    for _ in range(12):
        at = rng.uniform(0, END_S)
        entries.append((at, _line(rng, at, "GET", rng.choice(("/favicon.ico", "/robots.txt")), 404, 153,
                                  f"198.51.100.{rng.randrange(1, 255)}")))
    entries += [
        (61.2, '203.0.113.250 - - [20/Nov/2026:09:56:01 +0000] "\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03'
               '\\x03" 400 157 "-" "-"'),
        (125.0, '198.51.100.77 - - [20/Nov/2026:09:57:05 +0000] "-" 408 0 "-" "-"'),
        (431.7, '192.0.2.14 - - [20/Nov/2026:10:02:11 +0000] "GET /products/41'),
        (702.3, '203.0.113.9 - - [20/Nov/2026:25:61:00 +0000] "GET /sale HTTP/1.1" 200 812 "-" "-"'),
    ]
    entries.sort(key=lambda entry: entry[0])
    OUT.write_text("".join(line + "\n" for _, line in entries), encoding="ascii")


if __name__ == "__main__":
    main()
