"""The shop's app: FastAPI, with a bounded pool of worker threads.

Endpoints (JSON in and out)::

    GET  /products?page=&per_page=&category=   a page of the catalogue
    GET  /search?q=&page=&per_page=            products whose name or category contains q
    GET  /products/{id}                        one product, with its stock at start
    GET  /sale                                 the flash-sale items
    POST /carts                                -> 201 {"cart_id"}
    POST /carts/{id}/items  {"product_id", "quantity"}     -> the cart
    GET  /carts/{id}                           -> the cart
    POST /checkout {"cart_id", "customer": {"name", "email", "address"},
                    "payment": {"card_token"}} -> 201 {"order_id", "total_cents", "status"}
    GET  /healthz, GET /metrics

The catalogue endpoints answer from the in-memory catalogue, loaded from the
database at start, on the event loop: browsing needs neither a worker thread
nor a connection, as a shop with a catalogue cache. Carts and checkout run on
the worker threads (``app_workers``, as a threaded gunicorn or uvicorn
server has) and each takes a pooled connection. The payment provider is
called before a connection is taken, so a slow provider delays checkout
without holding the pool.

Errors: 404 / 409 ``{"error": code, "detail": ...}``; 503 ``pool_timeout``
when no connection came free within ``pool_timeout_s``; 422 for a malformed
request.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import asynccontextmanager

import anyio.to_thread
import sqlalchemy as sa
from fastapi import FastAPI, Path, Query
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from target_stub import db
from target_stub.app_metrics import AppMetrics, PoolTimeout
from target_stub.catalogue import Product
from target_stub.config import StubConfig
from target_stub.routes import endpoint_of
from target_stub.shop import Customer, Shop, ShopError

__all__ = ["create_app"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_ID = 2**31 - 1
"""Ids fit a 32-bit column on both backends; a larger one is a 422, not an overflow."""


class AddItem(_Strict):
    product_id: int = Field(ge=1, le=_ID)
    quantity: int = Field(1, ge=1, le=10)


class CustomerIn(_Strict):
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(min_length=3, max_length=200)
    address: str = Field(min_length=1, max_length=500)


class PaymentIn(_Strict):
    card_token: str = Field(min_length=1, max_length=200)


class CheckoutIn(_Strict):
    cart_id: int = Field(ge=1, le=_ID)
    customer: CustomerIn
    payment: PaymentIn


class _Catalogue:
    """The catalogue as the app serves it: loaded once, read on the event loop."""

    def __init__(self, products: list[Product]) -> None:
        self.products = products
        self.by_id = {p.id: p for p in products}
        self._haystacks = [f"{p.name} {p.category}".lower() for p in products]
        self.sale = [p.summary() for p in products if p.on_sale]

    def search(self, query: str, category: str | None = None) -> list[Product]:
        needle = query.lower()
        return [p for p, text in zip(self.products, self._haystacks, strict=True)
                if needle in text and (category is None or p.category == category)]


def _load_catalogue(engine: sa.Engine) -> _Catalogue:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(db.products).order_by(db.products.c.id)).all()
    return _Catalogue([Product(**row._mapping) for row in rows])


def _page(items: list[Product], page: int, per_page: int) -> dict:
    start = (page - 1) * per_page
    return {
        "items": [p.summary() for p in items[start:start + per_page]],
        "page": page,
        "per_page": per_page,
        "total": len(items),
        "pages": (len(items) + per_page - 1) // per_page,
    }


def _error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


class _CountRequests:
    """ASGI middleware: count every answered request, by endpoint template, method and status."""

    def __init__(self, app, metrics: AppMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        endpoint, method = endpoint_of(scope["path"]), scope["method"]
        status = 500
        started = time.perf_counter()

        async def send_and_note(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        self.metrics.in_progress.inc()
        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self.metrics.in_progress.dec()
            self.metrics.requests.labels(endpoint, method, str(status)).inc()
            self.metrics.request_duration.labels(endpoint, method).observe(time.perf_counter() - started)


def create_app(config: StubConfig) -> _CountRequests:
    """The app for ``config``, wrapped in its request-counting middleware."""
    engine = db.make_engine(db.parse_db_url(config.db_url), pool_size=config.pool_size,
                            max_overflow=config.max_overflow, pool_timeout_s=config.pool_timeout_s)
    metrics = AppMetrics(engine, pool_size=config.pool_size, max_overflow=config.max_overflow)
    shop = Shop(metrics, queries_per_checkout=config.queries_per_checkout, query_time_ms=config.query_time_ms)
    state: dict = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = config.app_workers
        metrics.watch_threads(busy=lambda: limiter.borrowed_tokens, total=lambda: limiter.total_tokens,
                              waiting=lambda: limiter.statistics().tasks_waiting)
        state["catalogue"] = await run_in_threadpool(_load_catalogue, engine)
        yield
        engine.dispose()

    app = FastAPI(title="surgegate target stub", lifespan=lifespan, docs_url=None, redoc_url=None)

    async def on_db(fn, *args, status: int = 200) -> JSONResponse:
        """Run a blocking shop call on a worker thread; its answer, or the error's."""
        try:
            return JSONResponse(await run_in_threadpool(fn, *args), status_code=status)
        except ShopError as exc:
            return _error(exc.status, exc.code, exc.detail)
        except PoolTimeout:
            return _error(503, "pool_timeout", f"no database connection within {config.pool_timeout_s:g} s")

    @app.get("/healthz")
    async def healthz():
        return JSONResponse({"status": "ok", "preset": config.preset})

    @app.get("/metrics")
    async def metrics_endpoint():
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/products")
    async def list_products(page: int = Query(1, ge=1), per_page: int = Query(24, ge=1, le=100),
                            category: str | None = Query(None, max_length=40)):
        cat = state["catalogue"]
        items = cat.products if category is None else cat.search("", category)
        return JSONResponse(_page(items, page, per_page))

    @app.get("/search")
    async def search(q: str = Query(min_length=1, max_length=100), page: int = Query(1, ge=1),
                     per_page: int = Query(24, ge=1, le=100)):
        return JSONResponse({"query": q, **_page(state["catalogue"].search(q), page, per_page)})

    @app.get("/products/{product_id}")
    async def product(product_id: int = Path(ge=1, le=_ID)):
        found = state["catalogue"].by_id.get(product_id)
        if found is None:
            return _error(404, "product_not_found", f"no product {product_id}")
        return JSONResponse(found.detail())

    @app.get("/sale")
    async def sale():
        return JSONResponse({"items": state["catalogue"].sale})

    @app.post("/carts", status_code=201)
    async def new_cart():
        return await on_db(shop.new_cart, status=201)

    @app.post("/carts/{cart_id}/items")
    async def add_item(item: AddItem, cart_id: int = Path(ge=1, le=_ID)):
        if item.product_id not in state["catalogue"].by_id:
            return _error(404, "product_not_found", f"no product {item.product_id}")
        return await on_db(shop.add_item, cart_id, item.product_id, item.quantity)

    @app.get("/carts/{cart_id}")
    async def cart(cart_id: int = Path(ge=1, le=_ID)):
        return await on_db(shop.cart, cart_id)

    @app.post("/checkout", status_code=201)
    async def checkout(order: CheckoutIn):
        started = time.perf_counter()
        if config.payment_latency_ms > 0:
            await asyncio.sleep(config.payment_latency_ms / 1000.0)  # the provider's answer time
        metrics.payment_duration.observe(time.perf_counter() - started)
        customer = Customer(order.customer.name, order.customer.email, order.customer.address)
        return await on_db(shop.checkout, order.cart_id, customer, status=201)

    return _CountRequests(app, metrics)
