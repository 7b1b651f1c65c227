"""Bare Locust, no surgegate: the zero-think journeys' requests, for ``generator_efficiency.py`` to compare with.

    SURGEGATE_BENCH_PLAN=plan.json locust -f benchmarks/bare_locustfile.py BareFastShopper --headless ...

The same requests, in the same order and with the same names, as
``locustfiles/journeys.py`` sends with a mix of browser 60, abandoner 20,
buyer 20 and no pauses, written as one would in bare Locust: product and
cart ids are read from the answers that give them (a catalogue page, a
search, a new cart), and no answer is checked beyond Locust's own status
check (surgegate's adapter also checks the product, the cart and the order
id it gets back). No recorder, no shape, no adapter, no scraping: what
Locust alone costs. The search terms come from the plan ``_static_shop.capture``
wrote (those of surgegate's shopper data). ``BareFastShopper`` is a
``FastHttpUser`` (as surgegate's shopper), ``BareHttpShopper`` an
``HttpUser`` (requests), for context.
"""

import locust  # noqa: F401, I001  (first, so that gevent patches early)

import json
import os
import random
from urllib.parse import quote

from locust import FastHttpUser, HttpUser, constant

_PLAN = json.loads(open(os.environ["SURGEGATE_BENCH_PLAN"]).read())
_PAGES = {int(k): v for k, v in _PLAN["pages"].items()}
_TERMS = _PLAN["terms"]
_ORDER = {"customer": {"name": "Ada Lovelace", "email": "ada@example.com", "address": "12 Analytical Row"},
          "payment": {"card_token": "tok_visa"}}
_JOURNEYS = ("browser", "abandoner", "buyer")
_WEIGHTS = (60, 20, 20)


class _Shopper:
    """The journeys, over a Locust client: ``get``, ``post``."""

    wait_time = constant(0)
    rng: random.Random

    def _browse(self) -> list[int]:
        page = self.rng.randint(1, len(_PAGES))
        return [p["id"] for p in self.client.get(f"/products?page={page}&per_page=24", name="/products").json()["items"]]

    def _fill_cart(self):
        product = self.rng.choice(self._browse())
        self.client.get(f"/products/{product}", name="/products/[id]")
        cart = self.client.post("/carts", name="/carts").json()["cart_id"]
        self.client.post(f"/carts/{cart}/items", name="/carts/[id]/items", json={"product_id": product, "quantity": 1})
        self.client.get(f"/carts/{cart}", name="/carts/[id]")
        return cart

    def shop(self) -> None:
        journey = self.rng.choices(_JOURNEYS, _WEIGHTS)[0]
        if journey == "browser":
            ids = self._browse()
            term = self.rng.choice(_TERMS)
            found = [p["id"] for p in self.client.get(f"/search?q={quote(term)}&per_page=24",
                                                      name="/search").json()["items"]] or ids
            for _ in range(self.rng.randint(2, 3)):
                self.client.get(f"/products/{self.rng.choice(found)}", name="/products/[id]")
            return
        cart = self._fill_cart()
        if journey == "buyer":
            self.client.post("/checkout", name="/checkout", json={"cart_id": cart, **_ORDER})


class BareFastShopper(_Shopper, FastHttpUser):
    """Locust's fast client (geventhttpclient), as surgegate's shopper uses."""

    tasks = [_Shopper.shop]  # Locust collects @task methods from User subclasses only, not from a mixin

    def on_start(self) -> None:
        self.rng = random.Random()


class BareHttpShopper(_Shopper, HttpUser):
    """Locust's classic client (requests)."""

    tasks = [_Shopper.shop]

    def on_start(self) -> None:
        self.rng = random.Random()
