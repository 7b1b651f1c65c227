"""The shop's catalogue, generated from a fixed seed.

The same seed gives the same products, prices and stock on every start and on
every machine, so a run can be compared with another.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from faker import Faker

__all__ = ["Product", "generate_catalogue", "CATEGORIES", "SALE_ITEMS"]

CATEGORIES = (
    "audio", "phones", "laptops", "cameras", "gaming", "kitchen",
    "garden", "toys", "books", "fashion", "shoes", "sports",
)

SALE_ITEMS = 5
"""Products on flash sale: the first ones of the catalogue, ids 1..5."""

_SALE_STOCK = 1_000_000
"""Sale items have stock for any replay: selling out would turn the test of the
shop's capacity into a test of its stock."""


@dataclass(frozen=True)
class Product:
    """A product as the shop shows it."""

    id: int
    name: str
    category: str
    description: str
    price_cents: int
    sale_price_cents: int | None
    stock: int

    @property
    def on_sale(self) -> bool:
        """Whether the product is part of the flash sale."""
        return self.sale_price_cents is not None

    @property
    def unit_price_cents(self) -> int:
        """What one unit costs now."""
        return self.sale_price_cents if self.sale_price_cents is not None else self.price_cents

    def summary(self) -> dict:
        """The product as listed on a page of results."""
        return {
            "id": self.id,
            "name": self.name,
            "category": self.category,
            "price_cents": self.price_cents,
            "sale_price_cents": self.sale_price_cents,
            "on_sale": self.on_sale,
        }

    def detail(self) -> dict:
        """The product as its own page shows it."""
        return {**self.summary(), "description": self.description, "stock": self.stock}


def generate_catalogue(size: int, seed: int) -> list[Product]:
    """``size`` products with ids 1..size; the first ``SALE_ITEMS`` are on sale."""
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    products = []
    for pid in range(1, size + 1):
        category = CATEGORIES[rng.randrange(len(CATEGORIES))]
        name = f"{fake.color_name()} {fake.word().capitalize()} {category[:-1] if category.endswith('s') else category}"
        price = rng.randrange(499, 199_999)
        on_sale = pid <= SALE_ITEMS
        products.append(
            Product(
                id=pid,
                name=("Flash sale: " + name) if on_sale else name,
                category=category,
                description=fake.sentence(nb_words=12),
                price_cents=price,
                sale_price_cents=price * 6 // 10 if on_sale else None,
                stock=_SALE_STOCK if on_sale else rng.randrange(50, 500),
            )
        )
    return products
