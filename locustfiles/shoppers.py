"""Shopper data: names, emails, addresses, cards and search terms, made before the run.

Faker is slow (tens of microseconds a name) and random: both have no place on
the request path. ``ShopperData.generate`` makes a fixed pool from a seed at
start; users take shoppers from it in turn, so the same seed gives the same
shoppers in every run.
"""

from __future__ import annotations

from dataclasses import dataclass

from faker import Faker

__all__ = ["ShopperData"]

_TERMS_EXTRA = ("audio", "phone", "laptop", "camera", "gaming", "kitchen", "garden", "toy", "book", "shoe", "sport")


@dataclass(frozen=True)
class ShopperData:
    """A pool of shoppers and of search terms."""

    shoppers: tuple[dict[str, str], ...]
    search_terms: tuple[str, ...]

    @classmethod
    def generate(cls, count: int = 1000, seed: int = 20240715) -> ShopperData:
        """``count`` shoppers and a few hundred search terms from ``seed``."""
        fake = Faker("en_US")
        fake.seed_instance(seed)
        shoppers = tuple(
            {"name": fake.name(), "email": fake.unique.email(), "address": fake.address().replace("\n", ", "),
             "card_token": f"tok_{fake.sha1()[:16]}"}
            for _ in range(count)
        )
        terms = tuple(dict.fromkeys([fake.color_name().lower() for _ in range(300)] + list(_TERMS_EXTRA)))
        return cls(shoppers=shoppers, search_terms=terms)

    def shopper(self, index: int) -> dict[str, str]:
        """The shopper at ``index`` (wrapping around the pool)."""
        return self.shoppers[index % len(self.shoppers)]
