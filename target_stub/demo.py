"""``python -m target_stub.demo``: July 15 in the stub's own numbers, then the fixes, in seconds.

For each of the ``incident`` and ``fixed`` presets: start the stub on a free
loopback port, prepare one cart per shopper, send every checkout at once while
a prober browses the catalogue, and print what the stub's own metrics show:
504s at the gateway, the pool in use and the requests waiting for it, pool
timeouts, answers the app finished after the gateway had given up.

No Locust, no verdict: a quick look at the stub itself. ``make demo``
(``surgegate.demo``) is the full replay, judged.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from dataclasses import dataclass

from target_stub.burst import BurstResult, checkout_burst, prepare_carts
from target_stub.process import StubProcess
from target_stub.scrape import Samples

__all__ = ["main", "run_preset", "PeakSampler", "Peaks", "wait_for_app"]


@dataclass
class Peaks:
    """The highest values of the app's gauges seen while the burst ran."""

    checked_out: float = 0.0
    waiting: float = 0.0
    threads_busy: float = 0.0


class PeakSampler(threading.Thread):
    """Scrape the app every ``every_s`` while a burst runs, keeping the peaks of its gauges."""

    def __init__(self, stub: StubProcess, every_s: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.stub, self.every_s = stub, every_s
        self.peaks = Peaks()
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.every_s):
            try:
                s = self.stub.scrape_app()
            except Exception:  # noqa: BLE001 - a missed sample is not worth failing the demo
                continue
            p = self.peaks
            p.checked_out = max(p.checked_out, s.value("shop_db_pool_checked_out_connections"))
            p.waiting = max(p.waiting, s.value("shop_db_pool_waiting_requests"))
            p.threads_busy = max(p.threads_busy, s.value("shop_app_worker_threads_busy"))


def wait_for_app(stub: StubProcess, expected: int, timeout_s: float = 60.0) -> tuple[Samples, Samples]:
    """Wait until the app has answered every checkout that reached it, and the gateway has read every late answer.

    Raises:
        TimeoutError: not settled within ``timeout_s``; the figures would be incomplete.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        app, gateway = stub.scrape_app(), stub.scrape_gateway()
        answered = app.total("shop_app_requests_total", endpoint="/checkout") >= expected
        late_read = (gateway.total("shop_gateway_late_completions_total")
                     == gateway.total("shop_gateway_upstream_timeouts_total"))
        if answered and late_read:
            return app, gateway
        if time.monotonic() > deadline:
            raise TimeoutError(f"the stub did not settle within {timeout_s:g} s: the figures would be incomplete")
        time.sleep(0.2)


def run_preset(preset: str, shoppers: int, out=sys.stdout, db: str | None = None) -> dict:
    """One burst against a fresh stub with ``preset``; the figures, also printed."""
    print(f"\n== preset {preset}: starting the stub", file=out, flush=True)
    with StubProcess(preset, db=db) as stub:
        print(f"   stub at {stub.url}; preparing {shoppers} carts", file=out, flush=True)
        carts = asyncio.run(prepare_carts(stub.url, shoppers))
        print(f"   sale opens: {shoppers} checkouts at once", file=out, flush=True)
        sampler = PeakSampler(stub)
        sampler.start()
        burst: BurstResult = asyncio.run(checkout_burst(stub.url, carts))
        sampler.stopped.set()
        sampler.join()
        limited = burst.checkouts.get(429, 0)
        app, gateway = wait_for_app(stub, shoppers - limited)
        code = stub.stop()
    figures = {
        "preset": preset,
        "checkouts": burst.sent,
        "ok": burst.checkouts.get(201, 0),
        "gateway_504": int(gateway.total("shop_gateway_upstream_timeouts_total")),
        "rate_limited_429": int(gateway.total("shop_gateway_rate_limited_total")),
        "late_completions": int(gateway.total("shop_gateway_late_completions_total")),
        "late_placed": int(gateway.total("shop_gateway_late_completions_total", status="201")),
        "late_pool_timeouts": int(gateway.total("shop_gateway_late_completions_total", status="503")),
        "pool_size": int(app.value("shop_db_pool_size_connections") + app.value("shop_db_pool_max_overflow_connections")),
        "pool_peak_in_use": int(sampler.peaks.checked_out),
        "pool_peak_waiting": int(sampler.peaks.waiting),
        "pool_timeouts": int(app.value("shop_db_pool_timeouts_total")),
        "pool_waits_over_2s": int(app.value("shop_db_pool_wait_seconds_count")
                                  - app.total("shop_db_pool_wait_seconds_bucket", le="2.0")),
        "browse_ok": burst.browse.get(200, 0),
        "browse_total": sum(burst.browse.values()),
        "browse_max_s": max(burst.browse_latencies_s, default=0.0),
        "stub_exit_code": code,
    }
    f = figures
    share = f["gateway_504"] / f["checkouts"] if f["checkouts"] else 0.0
    print(f"   checkouts: {f['checkouts']} sent, {f['ok']} placed, {f['gateway_504']} answered 504 by the gateway "
          f"({share:.0%}), {f['rate_limited_429']} rate-limited (429)", file=out)
    print(f"   database pool: {f['pool_peak_in_use']}/{f['pool_size']} in use at peak, "
          f"{f['pool_peak_waiting']} requests waiting for a connection at peak, "
          f"{f['pool_waits_over_2s']} waits over the 2 s gateway timeout, {f['pool_timeouts']} pool timeouts", file=out)
    print(f"   after the gateway had answered 504, the app still answered {f['late_completions']} of them: "
          f"{f['late_placed']} orders placed that no shopper saw, {f['late_pool_timeouts']} pool timeouts", file=out)
    print(f"   browsing meanwhile: {f['browse_ok']}/{f['browse_total']} pages OK, slowest {f['browse_max_s']:.2f} s",
          file=out, flush=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m target_stub.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--shoppers", type=int, default=300, help="concurrent checkouts in the burst (default 300)")
    args = parser.parse_args(argv)
    print("surgegate demo: the July 15 flash sale against the stub shop, before and after the fixes")
    incident = run_preset("incident", args.shoppers)
    fixed = run_preset("fixed", args.shoppers)
    print("\n== verdict in the stub's own numbers")
    print(f"   incident: {incident['gateway_504']} of {incident['checkouts']} checkouts got a 504; "
          f"the pool ({incident['pool_size']} connections) had up to {incident['pool_peak_waiting']} requests waiting.")
    print(f"   fixed:    {fixed['gateway_504']} 504s; {fixed['rate_limited_429']} shoppers were asked to retry (429) "
          "instead of timing out.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
