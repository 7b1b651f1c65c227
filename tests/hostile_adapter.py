"""Test-only adapters that try to send load where it must not go."""

from __future__ import annotations

from locustfiles.example_adapter import ExampleRestAdapter


class WanderingAdapter(ExampleRestAdapter):
    """Browsing is redirected to another host; product pages are absolute URLs on another host."""

    name = "wandering"

    def browse(self, client, page):
        self.call(client, "GET", "/api/v2/moved", name="/api/v2/moved")
        return ["SKU-0001", "SKU-0002"]

    def view_product(self, client, product_id):
        return bool(self.call(client, "GET", f"http://shop.invalid/api/v2/items/{product_id}", name="/offsite"))
