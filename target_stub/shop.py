"""What the shop does with its database: carts and checkout.

These functions block (they run on the app's worker threads) and each takes
one pooled connection for its whole duration, as a request handler of a
threaded web app does.

Checkout runs exactly ``queries_per_checkout`` queries on one connection::

    read 1          cart: exists? how many lines? total?
    read 2..N-3     the checks a bloated checkout does, in turn: stock of
                    every line, cart already ordered, orders by this email
                    (fraud velocity), current prices
    write N-2       reserve stock of every line (one UPDATE ... FROM)
    write N-1       insert the order
    write N         insert its lines (one INSERT ... SELECT)

Reads keep the connection busy for ``query_time_ms`` each (see ``db.py``);
the three writes commit together.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from target_stub.app_metrics import AppMetrics

__all__ = ["Shop", "ShopError", "Customer"]


class ShopError(Exception):
    """A request the shop refuses, with its HTTP status and a stable code."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Customer:
    """Who places an order."""

    name: str
    email: str
    address: str


_SLEEP = sa.text("SELECT pg_sleep(:s)")
_CART_SUMMARY = sa.text(
    "SELECT (SELECT count(*) FROM shop_carts WHERE id = :cart),"
    " (SELECT count(*) FROM shop_cart_items WHERE cart_id = :cart),"
    " (SELECT coalesce(sum(CAST(ci.quantity AS BIGINT) * coalesce(p.sale_price_cents, p.price_cents)), 0)"
    "  FROM shop_cart_items ci JOIN shop_products p ON p.id = ci.product_id WHERE ci.cart_id = :cart)"
)
_CHECKS = (
    ("out_of_stock", sa.text(
        "SELECT count(*) FROM shop_cart_items ci JOIN shop_products p ON p.id = ci.product_id"
        " WHERE ci.cart_id = :cart AND p.stock < ci.quantity")),
    ("already_ordered", sa.text("SELECT count(*) FROM shop_orders WHERE cart_id = :cart")),
    (None, sa.text("SELECT count(*) FROM shop_orders WHERE email = :email")),
    (None, sa.text(
        "SELECT count(*) FROM shop_cart_items ci JOIN shop_products p ON p.id = ci.product_id"
        " WHERE ci.cart_id = :cart AND p.price_cents > 0")),
)
_RESERVE = sa.text(
    "UPDATE shop_products SET stock = shop_products.stock - ci.quantity FROM shop_cart_items ci"
    " WHERE ci.cart_id = :cart AND shop_products.id = ci.product_id AND shop_products.stock >= ci.quantity"
)
_INSERT_ORDER = sa.text(
    "INSERT INTO shop_orders (cart_id, customer_name, email, address, total_cents, created_at)"
    " VALUES (:cart, :name, :email, :address, :total, :now) RETURNING id"
)
_INSERT_LINES = sa.text(
    "INSERT INTO shop_order_lines (order_id, product_id, quantity, unit_price_cents)"
    " SELECT :order, ci.product_id, ci.quantity, coalesce(p.sale_price_cents, p.price_cents)"
    " FROM shop_cart_items ci JOIN shop_products p ON p.id = ci.product_id WHERE ci.cart_id = :cart"
)
_NEW_CART = sa.text("INSERT INTO shop_carts (created_at) VALUES (:now) RETURNING id")
_ADD_ITEM = sa.text(
    "INSERT INTO shop_cart_items (cart_id, product_id, quantity)"
    " SELECT :cart, :product, :quantity WHERE EXISTS (SELECT 1 FROM shop_carts WHERE id = :cart)"
    " ON CONFLICT (cart_id, product_id) DO UPDATE SET quantity = shop_cart_items.quantity + excluded.quantity"
)
_CART_LINES = sa.text(
    "SELECT ci.product_id, ci.quantity, coalesce(p.sale_price_cents, p.price_cents)"
    " FROM shop_cart_items ci JOIN shop_products p ON p.id = ci.product_id"
    " WHERE ci.cart_id = :cart ORDER BY ci.product_id"
)
_CART_EXISTS = sa.text("SELECT count(*) FROM shop_carts WHERE id = :cart")


class Shop:
    """Carts and orders, on pooled connections, with every query counted."""

    def __init__(self, metrics: AppMetrics, *, queries_per_checkout: int, query_time_ms: float) -> None:
        self._metrics = metrics
        self._reads_per_checkout = queries_per_checkout - 3
        self._query_time_s = query_time_ms / 1000.0
        self._reads = metrics.queries.labels(kind="read")
        self._writes = metrics.queries.labels(kind="write")

    def _read(self, conn: Connection, stmt: sa.TextClause, params: dict) -> sa.Row:
        return self._read_all(conn, stmt, params)[0]

    def _read_all(self, conn: Connection, stmt: sa.TextClause, params: dict) -> list[sa.Row]:
        # Counted whether or not it succeeds: a query that failed still ran.
        self._reads.inc()
        rows = conn.execute(stmt, params).all()
        if self._query_time_s > 0:
            conn.execute(_SLEEP, {"s": self._query_time_s})
        return rows

    def _write(self, conn: Connection, stmt: sa.TextClause, params: dict) -> sa.CursorResult:
        self._writes.inc()
        return conn.execute(stmt, params)

    def new_cart(self) -> dict:
        """Open an empty cart."""
        with self._metrics.connection() as conn:
            cart_id = self._write(conn, _NEW_CART, {"now": time.time()}).scalar_one()
            conn.commit()
        return {"cart_id": cart_id}

    def add_item(self, cart_id: int, product_id: int, quantity: int) -> dict:
        """Add ``quantity`` of a product to a cart; the cart after it."""
        with self._metrics.connection() as conn:
            added = self._write(conn, _ADD_ITEM, {"cart": cart_id, "product": product_id, "quantity": quantity})
            conn.commit()
            if added.rowcount == 0:
                raise ShopError(404, "cart_not_found", f"no cart {cart_id}")
            lines = self._read_all(conn, _CART_LINES, {"cart": cart_id})
        return _cart_view(cart_id, lines)

    def cart(self, cart_id: int) -> dict:
        """A cart's lines and total."""
        with self._metrics.connection() as conn:
            lines = self._read_all(conn, _CART_LINES, {"cart": cart_id})
            if not lines and not self._read(conn, _CART_EXISTS, {"cart": cart_id})[0]:
                raise ShopError(404, "cart_not_found", f"no cart {cart_id}")
        return _cart_view(cart_id, lines)

    def checkout(self, cart_id: int, customer: Customer) -> dict:
        """Place the order of a cart, in ``queries_per_checkout`` queries on one connection."""
        params = {"cart": cart_id, "email": customer.email}
        with self._metrics.connection() as conn:
            exists, lines, total = self._read(conn, _CART_SUMMARY, params)
            total = int(total)  # PostgreSQL's sum of bigints is numeric
            if not exists:
                raise ShopError(404, "cart_not_found", f"no cart {cart_id}")
            if not lines:
                raise ShopError(409, "empty_cart", f"cart {cart_id} is empty")
            for i in range(self._reads_per_checkout - 1):
                refusal, stmt = _CHECKS[i % len(_CHECKS)]
                if self._read(conn, stmt, params)[0] and refusal:
                    raise ShopError(409, refusal, f"cart {cart_id}: {refusal.replace('_', ' ')}")
            try:
                reserved = self._write(conn, _RESERVE, params).rowcount
                if reserved != lines:
                    conn.rollback()
                    raise ShopError(409, "out_of_stock", f"cart {cart_id}: out of stock")
                order_id = self._write(conn, _INSERT_ORDER, {
                    **params, "name": customer.name, "address": customer.address,
                    "total": total, "now": time.time()}).scalar_one()
                self._write(conn, _INSERT_LINES, {"cart": cart_id, "order": order_id})
                conn.commit()
            except sa.exc.IntegrityError:
                conn.rollback()
                raise ShopError(409, "already_ordered", f"cart {cart_id} is already ordered") from None
        return {"order_id": order_id, "cart_id": cart_id, "total_cents": total, "status": "placed"}


def _cart_view(cart_id: int, lines: list[sa.Row]) -> dict:
    items = [{"product_id": pid, "quantity": qty, "unit_price_cents": price} for pid, qty, price in lines]
    return {"cart_id": cart_id, "items": items, "total_cents": sum(q * p for _, q, p in lines)}
