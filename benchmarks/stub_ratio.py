"""The stub under ``incident``: browse throughput vs checkout capacity, and the pool as what breaks first.

    .venv/bin/python benchmarks/stub_ratio.py                 # 3 rounds of 10 s each (issue 10, item 7)
    .venv/bin/python benchmarks/stub_ratio.py --rounds 5 --duration 20
    .venv/bin/python benchmarks/stub_ratio.py --smoke         # one round of 3 s, for the tests

Each round starts a fresh stub with the ``incident`` preset (a pool of 5
connections, 24 queries of 30 ms per checkout) and measures, one after the
other:

``browse``    wrk (one thread, ``--connections``) cycling through the catalogue pages and product pages
              (served from the app's memory: no worker thread, no connection); requests/s answered 200
``checkout``  ``--connections`` clients each checking out one prepared cart after another (carts made
              before the window, so only checkout runs in it); the app's own count of orders placed per
              second (``shop_app_requests_total{endpoint="/checkout",status="201"}``, answers the gateway
              had already given up on included: it is what the pool got through), the 201s the clients
              saw, and, sampled every 0.1 s, the pool's connections in use and requests waiting

With the stub's CPU (gateway and app processes) over each window, so that
the checkout capacity is seen to be the pool's (connections all in use,
requests waiting, the CPU mostly idle) and not the machine's. Printed
``key: value`` (median of the rounds, then ``_spread``):

    browse_rps, browse_stub_cpu_percent
    checkout_capacity_per_s, checkout_ok_seen_per_s, checkout_stub_cpu_percent
    pool_in_use_max, pool_size, pool_waiting_max, pool_in_use_mean
    ratio_browse_to_checkout        per round; target >= 10

wrk comes from apt (``apt-get install -y wrk``): without it the script exits
2, and ``--smoke`` browses with an aiohttp client instead, saying so (its
figure is then the client's limit as much as the stub's). Exit 0 when the
ratio is met and the pool was full with requests waiting (always 0 in
smoke if the pool was full), 1 when not, 3 when a round failed. Only
127.0.0.1 is loaded; every process is started here, bounded, and stopped
by its PID.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (  # noqa: E402
    EXIT_INCONCLUSIVE, in_scratch_folder, EXIT_MET, EXIT_MISSED, median_spread, print_header, ratio_line, require_tools,
    tool_path, tree_cpu_s)
from target_stub.burst import prepare_carts  # noqa: E402
from target_stub.process import StubProcess  # noqa: E402

TARGET_RATIO = 10.0
PAGES = 20
PRODUCTS = 480
ORDER = {"customer": {"name": "Ada Lovelace", "email": "ada@example.com", "address": "12 Analytical Row"},
         "payment": {"card_token": "tok_visa"}}


@dataclass(frozen=True)
class Settings:
    rounds: int
    duration_s: float
    connections: int
    smoke: bool


def parse_args(argv: list[str] | None = None) -> Settings:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="one round of 3 s per measure, for the tests")
    p.add_argument("--rounds", type=int, help="rounds (default 3; smoke 1)")
    p.add_argument("--duration", type=float, help="seconds measured, browse and checkout each (default 10; smoke 3)")
    p.add_argument("--connections", type=int, default=20, help="concurrent connections / clients (default 20)")
    a = p.parse_args(argv)
    s = Settings(rounds=a.rounds or (1 if a.smoke else 3), duration_s=a.duration or (3.0 if a.smoke else 10.0),
                 connections=a.connections, smoke=a.smoke)
    if s.rounds < 1:
        p.error(f"--rounds: must be >= 1, got {s.rounds}")
    if s.duration_s < 1:
        p.error(f"--duration: must be >= 1, got {s.duration_s:g}")
    if s.connections < 6:
        p.error(f"--connections: must be >= 6 (more than the incident pool's 5), got {s.connections}")
    return s


def browse_paths() -> list[str]:
    return ([f"/products?page={p}&per_page=24" for p in range(1, PAGES + 1)]
            + [f"/products/{i}" for i in range(1, PRODUCTS + 1)])


def browse_wrk(s: Settings, stub: StubProcess, work: Path) -> tuple[float, int]:
    """wrk over the catalogue: (requests/s, non-2xx answers)."""
    script = work / "browse.lua"
    paths = ",\n".join(f'"{p}"' for p in browse_paths())
    script.write_text(f"local paths = {{\n{paths}\n}}\nlocal i = 0\n"
                      "request = function()\n  i = i % #paths + 1\n  return wrk.format('GET', paths[i])\nend\n")
    done = subprocess.run([tool_path("wrk"), "-t1", f"-c{s.connections}", f"-d{s.duration_s:g}s", "-s", str(script),
                           stub.url], capture_output=True, text=True, timeout=s.duration_s + 30)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", done.stdout).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", done.stdout)
    return rps, int(non_2xx.group(1)) if non_2xx else 0


async def _browse_aiohttp(url: str, connections: int, duration_s: float) -> tuple[float, int]:
    paths, ok, bad = browse_paths(), 0, 0
    end = time.monotonic() + duration_s

    async def one(client: aiohttp.ClientSession, i: int) -> None:
        nonlocal ok, bad
        while time.monotonic() < end:
            async with client.get(url + paths[i % len(paths)]) as r:
                await r.read()
                ok, bad = (ok + 1, bad) if r.status == 200 else (ok, bad + 1)
            i += connections

    async with aiohttp.ClientSession(trust_env=False, connector=aiohttp.TCPConnector(limit=connections)) as client:
        t0 = time.monotonic()
        await asyncio.gather(*(one(client, i) for i in range(connections)))
        return (ok + bad) / (time.monotonic() - t0), bad


class PoolSampler(threading.Thread):
    """The app's pool gauges every 0.1 s while the checkouts run."""

    def __init__(self, stub: StubProcess) -> None:
        super().__init__(daemon=True)
        self.stub, self.stop_event = stub, threading.Event()
        self.in_use: list[float] = []
        self.waiting: list[float] = []

    def run(self) -> None:
        while not self.stop_event.is_set():
            m = self.stub.scrape_app()
            self.in_use.append(m.value("shop_db_pool_checked_out_connections"))
            self.waiting.append(m.value("shop_db_pool_waiting_requests"))
            self.stop_event.wait(0.1)


async def _checkouts(url: str, carts: list[int], connections: int, duration_s: float) -> int:
    """Check out carts from ``connections`` clients, each one after another, for ``duration_s``; 201s seen."""
    queue = list(reversed(carts))
    seen = 0
    end = time.monotonic() + duration_s

    async def client_loop(client: aiohttp.ClientSession) -> None:
        nonlocal seen
        while queue and time.monotonic() < end:
            cart = queue.pop()
            try:
                async with client.post(url + "/checkout", json={"cart_id": cart, **ORDER}) as r:
                    await r.read()
                    if r.status == 201 and time.monotonic() <= end:
                        seen += 1
            except aiohttp.ClientError:
                pass

    timeout = aiohttp.ClientTimeout(total=duration_s + 30)
    async with aiohttp.ClientSession(trust_env=False, timeout=timeout,
                                     connector=aiohttp.TCPConnector(limit=connections)) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(connections)))
    return seen


def app_orders(stub: StubProcess) -> float:
    return stub.scrape_app().total("shop_app_requests_total", endpoint="/checkout", status="201")


def one_round(s: Settings, work: Path, use_wrk: bool) -> dict:
    with StubProcess("incident") as stub:
        cpu0 = tree_cpu_s(stub.proc.pid)
        t0 = time.monotonic()
        if use_wrk:
            browse_rps, non_2xx = browse_wrk(s, stub, work)
        else:
            browse_rps, non_2xx = asyncio.run(_browse_aiohttp(stub.url, s.connections, s.duration_s))
        browse_cpu = (tree_cpu_s(stub.proc.pid) - cpu0) / (time.monotonic() - t0) * 100
        # Enough carts for the window: ~8 orders/s get through, the rest wait and time out at 2 s.
        carts = asyncio.run(prepare_carts(stub.url, int(s.duration_s * s.connections) + s.connections))
        time.sleep(1.0)  # let the pool settle after preparing
        sampler = PoolSampler(stub)
        orders0, cpu0, t0 = app_orders(stub), tree_cpu_s(stub.proc.pid), time.monotonic()
        sampler.start()
        seen = asyncio.run(_checkouts(stub.url, carts, s.connections, s.duration_s))
        elapsed = time.monotonic() - t0
        orders1, cpu1 = app_orders(stub), tree_cpu_s(stub.proc.pid)
        sampler.stop_event.set()
        sampler.join()
        pool_size = stub.scrape_app().value("shop_db_pool_size_connections")
    capacity = (orders1 - orders0) / elapsed
    return {"browse_rps": browse_rps, "browse_non_2xx": non_2xx, "browse_stub_cpu_percent": browse_cpu,
            "checkout_capacity_per_s": capacity, "checkout_ok_seen_per_s": seen / s.duration_s,
            "checkout_stub_cpu_percent": (cpu1 - cpu0) / elapsed * 100,
            "pool_size": pool_size, "pool_in_use_max": max(sampler.in_use, default=0),
            "pool_in_use_mean": sum(sampler.in_use) / max(len(sampler.in_use), 1),
            "pool_waiting_max": max(sampler.waiting, default=0),
            "ratio_browse_to_checkout": browse_rps / capacity if capacity else float("inf")}


def run(s: Settings, work: Path) -> int:
    missing = require_tools("wrk", smoke=s.smoke)
    if missing:
        print("browse_client: aiohttp (wrk missing): the figure is the client's limit as much as the stub's")
    rounds = []
    for round_no in range(s.rounds):
        r = one_round(s, work, use_wrk=not missing)
        if r["checkout_capacity_per_s"] <= 0:
            print(f"error: round {round_no + 1}: no checkout was placed", file=sys.stderr)
            return EXIT_INCONCLUSIVE
        print(f"round {round_no + 1}: browse {r['browse_rps']:.0f} req/s (stub CPU {r['browse_stub_cpu_percent']:.0f}%);"
              f" checkout {r['checkout_capacity_per_s']:.2f}/s placed, {r['checkout_ok_seen_per_s']:.2f}/s seen "
              f"(stub CPU {r['checkout_stub_cpu_percent']:.0f}%, pool {r['pool_in_use_max']:.0f}/"
              f"{r['pool_size']:.0f}, up to {r['pool_waiting_max']:.0f} waiting); ratio "
              f"{r['ratio_browse_to_checkout']:.1f}", flush=True)
        rounds.append(r)
    for key, digits in (("browse_rps", 1), ("browse_non_2xx", 0), ("browse_stub_cpu_percent", 0),
                        ("checkout_capacity_per_s", 2), ("checkout_ok_seen_per_s", 2), ("checkout_stub_cpu_percent", 0),
                        ("pool_in_use_max", 0), ("pool_in_use_mean", 2), ("pool_waiting_max", 0),
                        ("ratio_browse_to_checkout", 1)):
        print(ratio_line(key, [r[key] for r in rounds], digits))
    print(f"pool_size: {rounds[-1]['pool_size']:.0f}")
    pool_full = all(r["pool_in_use_max"] >= r["pool_size"] and r["pool_waiting_max"] > 0 for r in rounds)
    print(f"pool_breaks_first: {'yes' if pool_full else 'no'}")
    print(f"target_ratio: {TARGET_RATIO:g}")
    met = pool_full and median_spread([r["ratio_browse_to_checkout"] for r in rounds])[0] >= TARGET_RATIO
    print(f"target_met: {'yes' if met else 'no'}")
    return EXIT_MET if met else EXIT_MISSED


def main(argv: list[str] | None = None) -> int:
    s = parse_args(argv)
    print_header(f"{s.rounds} rounds x {s.duration_s:g} s browse + {s.duration_s:g} s checkout, {s.connections} "
                 f"connections, stub preset incident{' (smoke)' if s.smoke else ''}")
    return in_scratch_folder("stub", lambda work: run(s, work))


if __name__ == "__main__":
    sys.exit(main())
