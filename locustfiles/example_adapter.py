"""An example adapter for a differently shaped REST shop: how to point surgegate elsewhere.

The shop it speaks to (a typical "API v2" of a hosted shop platform)::

    GET  /api/v2/items?offset=&limit=          {"data": [{"sku": "A-1", ...}], "next": ...}
    GET  /api/v2/items?query=                  same shape
    GET  /api/v2/items/{sku}                   {"data": {"sku": ...}}
    GET  /api/v2/promotions/current            {"skus": ["A-1", ...]}
    POST /api/v2/baskets                       201 {"basket": {"token": "b-..."}}
    PUT  /api/v2/baskets/{token}/lines/{sku}   {"qty": 1}  -> 200 {"basket": {"lines": [{"sku", "qty"}]}}
    GET  /api/v2/baskets/{token}               200 {"basket": {...}}
    POST /api/v2/orders                        {"basket": token, "buyer": {...}} -> 200 {"order": {"number": "..."}}

Every request carries ``Authorization: Bearer $EXAMPLE_SHOP_TOKEN``; the
token comes only from the environment and is never printed or written.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from locustfiles.adapter import ShopAdapter, Shopper

__all__ = ["ExampleRestAdapter"]

PAGE_SIZE = 20


class ExampleRestAdapter(ShopAdapter):
    """The example REST shop (``--adapter example``)."""

    name = "example"
    secret_env = ("EXAMPLE_SHOP_TOKEN",)
    url_patterns = {  # first match wins: search (a query= parameter) before browse (the same path)
        "search": r"^/api/v2/items/?\?(.*&)?query=",
        "browse": r"^/api/v2/items/?(\?|$)",
        "product": r"^/api/v2/items/[^/?]+/?(\?|$)",
        "sale": r"^/api/v2/promotions/current/?(\?|$)",
        "cart": r"^/api/v2/baskets(/[^?]*)?(\?|$)",
        "checkout": r"^/api/v2/orders/?(\?|$)",
    }
    endpoint_names = ("/api/v2/items", "/api/v2/items?query", "/api/v2/items/[sku]", "/api/v2/promotions/current",
                      "/api/v2/baskets", "/api/v2/baskets/[token]/lines/[sku]", "/api/v2/baskets/[token]",
                      "/api/v2/orders")
    default_slo = "locustfiles/example_slo.yaml"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret('EXAMPLE_SHOP_TOKEN')}"}

    def browse(self, client, page: int) -> list[Any] | None:
        return self.call(client, "GET", f"/api/v2/items?offset={(page - 1) * PAGE_SIZE}&limit={PAGE_SIZE}",
                         name="/api/v2/items", read=lambda body: [item["sku"] for item in body["data"]])

    def search(self, client, term: str) -> list[Any] | None:
        return self.call(client, "GET", f"/api/v2/items?query={quote(term)}&limit={PAGE_SIZE}",
                         name="/api/v2/items?query", read=lambda body: [item["sku"] for item in body["data"]])

    def view_product(self, client, product_id: Any) -> bool:
        return bool(self.call(client, "GET", f"/api/v2/items/{quote(str(product_id))}", name="/api/v2/items/[sku]",
                              read=lambda body: body["data"]["sku"] == product_id or None))

    def sale_items(self, client) -> list[Any] | None:
        return self.call(client, "GET", "/api/v2/promotions/current", name="/api/v2/promotions/current",
                         read=lambda body: list(body["skus"]))

    def new_cart(self, client) -> Any:
        return self.call(client, "POST", "/api/v2/baskets", name="/api/v2/baskets", ok=(201,),
                         read=lambda body: body["basket"]["token"])

    def add_to_cart(self, client, cart: Any, product_id: Any, quantity: int = 1) -> bool:
        return bool(self.call(client, "PUT", f"/api/v2/baskets/{cart}/lines/{quote(str(product_id))}",
                              name="/api/v2/baskets/[token]/lines/[sku]", json={"qty": quantity},
                              read=lambda body: any(line["sku"] == product_id for line in body["basket"]["lines"])
                              or None))

    def view_cart(self, client, cart: Any) -> bool:
        return bool(self.call(client, "GET", f"/api/v2/baskets/{cart}", name="/api/v2/baskets/[token]",
                              read=lambda body: body["basket"]["token"] == cart or None))

    def checkout(self, client, cart: Any, shopper: Shopper) -> Any:
        order = {"basket": cart, "buyer": {"full_name": shopper["name"], "email": shopper["email"],
                                           "shipping_address": shopper["address"]},
                 "payment_token": shopper["card_token"]}
        return self.call(client, "POST", "/api/v2/orders", name="/api/v2/orders", json=order,
                         read=lambda body: body["order"]["number"])
