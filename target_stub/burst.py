"""A burst of concurrent checkouts, as the sale opening sends them.

Until the Locust journeys exist this is how the demo (and the stub's tests)
push the shop: prepare one cart per shopper, then send every checkout at
once, while a prober keeps browsing the catalogue to see whether browsing
stays healthy.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
from faker import Faker

__all__ = ["BurstResult", "checkout_burst", "prepare_carts"]


@dataclass
class BurstResult:
    """What the shoppers saw: status counts and browse latencies."""

    checkouts: Counter = field(default_factory=Counter)
    browse: Counter = field(default_factory=Counter)
    browse_latencies_s: list[float] = field(default_factory=list)
    burst_s: float = 0.0

    @property
    def sent(self) -> int:
        return sum(self.checkouts.values())


def _client(connections: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(trust_env=False, timeout=aiohttp.ClientTimeout(total=60.0),
                                 connector=aiohttp.TCPConnector(limit=connections))


async def _status(response_cm) -> int:
    async with response_cm as response:
        await response.read()
        return response.status


async def prepare_carts(url: str, shoppers: int, *, concurrency: int = 8, seed: int = 715) -> list[int]:
    """One cart per shopper with one product in it; their ids."""
    rng = random.Random(seed)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(client: aiohttp.ClientSession) -> int:
        async with semaphore:
            async with client.post(url + "/carts", raise_for_status=True) as response:
                cart = (await response.json())["cart_id"]
            item = {"product_id": rng.randint(1, 200), "quantity": 1}
            async with client.post(f"{url}/carts/{cart}/items", json=item, raise_for_status=True) as response:
                await response.read()
            return cart

    async with _client(concurrency) as client:
        return list(await asyncio.gather(*(one(client) for _ in range(shoppers))))


async def checkout_burst(url: str, carts: list[int], *, browse_every_s: float = 0.05, seed: int = 715) -> BurstResult:
    """Check out every cart at once; browse alongside until the last answer."""
    fake = Faker()
    fake.seed_instance(seed)
    orders = [{"cart_id": cart, "customer": {"name": fake.name(), "email": fake.email(), "address": fake.address()},
               "payment": {"card_token": f"tok_{cart}"}} for cart in carts]
    result = BurstResult()
    done = asyncio.Event()

    async def checkout(client: aiohttp.ClientSession, order: dict) -> None:
        try:
            result.checkouts[await _status(client.post(url + "/checkout", json=order))] += 1
        except aiohttp.ClientError as exc:
            result.checkouts[type(exc).__name__] += 1

    async def browse(client: aiohttp.ClientSession) -> None:
        page = 1
        while not done.is_set():
            started = time.perf_counter()
            try:
                status = await _status(client.get(f"{url}/products?page={page}"))
            except aiohttp.ClientError as exc:
                status = type(exc).__name__
            result.browse[status] += 1
            result.browse_latencies_s.append(time.perf_counter() - started)
            page = page % 100 + 1
            await asyncio.sleep(browse_every_s)

    async with _client(len(orders) + 8) as client:
        prober = asyncio.create_task(browse(client))
        started = time.perf_counter()
        await asyncio.gather(*(checkout(client, order) for order in orders))
        result.burst_s = time.perf_counter() - started
        done.set()
        await prober
    return result
