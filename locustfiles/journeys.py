"""The flash-sale funnel: four journeys, each a short story a shopper acts out.

====================  ==========================================================
journey               steps
====================  ==========================================================
``browser``           browse a page, search, look at two or three products
``abandoner``         browse, look at a product, open a cart, add it, view the
                      cart, leave
``buyer``             browse, look at a product, open a cart, add it, view the
                      cart, check out
``sniper``            straight to the sale: sale items, open a cart, add a sale
                      item, check out, with bot-like pauses, and back for more
                      within a second or so
====================  ==========================================================

A journey is a function of a ``Visit`` (the shopper's client, adapter, data,
random generator and pauses); it calls the adapter only, never builds a URL,
and stops early when a step fails, as a person would. Which journey a
shopper starts next is chosen by the profile's mix for the current stage.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from locustfiles.adapter import ShopAdapter
from locustfiles.shoppers import ShopperData

__all__ = ["JOURNEYS", "Visit", "SNIPER_THINK_S", "SNIPER_RETRY_S", "CATALOGUE_PAGES"]

SNIPER_THINK_S = (0.05, 0.3)
"""Snipers are scripts or people with a finger on the button: pauses of 50-300 ms, whatever the profile says."""

SNIPER_RETRY_S = (0.5, 1.5)
"""And they come straight back for more: 0.5-1.5 s between two sniper journeys, not a person's think time."""

CATALOGUE_PAGES = 20
"""Pages of the catalogue shoppers browse (the first ones, as people do)."""


@dataclass
class Visit:
    """What a journey needs: who shops, through which client and adapter, at what pace."""

    client: Any
    adapter: ShopAdapter
    data: ShopperData
    shopper: dict[str, str]
    rng: random.Random
    pause: Callable[[tuple[float, float] | None], None]
    """Think for a while: the profile's think time, or the given (min, max) seconds."""


def _pick(visit: Visit, ids: list[Any] | None) -> Any:
    return visit.rng.choice(ids) if ids else None


def browser(visit: Visit) -> None:
    """Look around without buying."""
    a, c = visit.adapter, visit.client
    ids = a.browse(c, visit.rng.randint(1, CATALOGUE_PAGES))
    visit.pause(None)
    found = a.search(c, visit.rng.choice(visit.data.search_terms))
    for _ in range(visit.rng.randint(2, 3)):
        product = _pick(visit, found or ids)
        if product is None:
            return
        visit.pause(None)
        a.view_product(c, product)


def _fill_cart(visit: Visit) -> Any:
    a, c = visit.adapter, visit.client
    product = _pick(visit, a.browse(c, visit.rng.randint(1, CATALOGUE_PAGES)))
    if product is None:
        return None
    visit.pause(None)
    if not a.view_product(c, product):
        return None
    visit.pause(None)
    cart = a.new_cart(c)
    if cart is None or not a.add_to_cart(c, cart, product):
        return None
    visit.pause(None)
    return cart if a.view_cart(c, cart) else None


def abandoner(visit: Visit) -> None:
    """Fill a cart, look at it, and leave."""
    _fill_cart(visit)


def buyer(visit: Visit) -> None:
    """Fill a cart and check out."""
    cart = _fill_cart(visit)
    if cart is not None:
        visit.pause(None)
        visit.adapter.checkout(visit.client, cart, visit.shopper)


def sniper(visit: Visit) -> None:
    """Go straight for a sale item the moment the sale is open."""
    a, c = visit.adapter, visit.client
    product = _pick(visit, a.sale_items(c))
    if product is None:
        return
    visit.pause(SNIPER_THINK_S)
    cart = a.new_cart(c)
    if cart is None or not a.add_to_cart(c, cart, product):
        return
    visit.pause(SNIPER_THINK_S)
    a.checkout(c, cart, visit.shopper)


JOURNEYS: dict[str, Callable[[Visit], None]] = {
    "browser": browser,
    "abandoner": abandoner,
    "buyer": buyer,
    "sniper": sniper,
}
