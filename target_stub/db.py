"""The shop's database: URL checks, the pooled engine, the schema and the seed.

The engine uses SQLAlchemy's real ``QueuePool`` on both backends, so pool
exhaustion is the real thing: a request that finds all ``pool_size +
max_overflow`` connections checked out waits in the pool's queue for up to
``pool_timeout_s`` and then gets ``sqlalchemy.exc.TimeoutError``.

Service time. A read query keeps its connection for ``query_time_ms``: right
after the statement, the same connection runs ``SELECT pg_sleep(s)``. On
PostgreSQL that is the server's own ``pg_sleep``, so ``pg_stat_activity``
shows the connection active, as a slow query would; on SQLite the same name is
registered as a function that sleeps inside the database call. Writes run at
their own, real speed: SQLite has one writer at a time, and a sleep while
holding its write lock would make the file lock, not the pool, the bottleneck.
"""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import NullPool, QueuePool

from surgegate.errors import BadInput
from target_stub.catalogue import Product

__all__ = [
    "metadata", "products", "carts", "cart_items", "orders", "order_lines",
    "parse_db_url", "make_engine", "seed", "safe_url",
]

metadata = sa.MetaData()

products = sa.Table(
    "shop_products", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("category", sa.String(40), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("price_cents", sa.Integer, nullable=False),
    sa.Column("sale_price_cents", sa.Integer, nullable=True),
    sa.Column("stock", sa.Integer, nullable=False),
)
carts = sa.Table(
    "shop_carts", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("created_at", sa.Float, nullable=False),
)
cart_items = sa.Table(
    "shop_cart_items", metadata,
    sa.Column("cart_id", sa.Integer, sa.ForeignKey("shop_carts.id"), primary_key=True),
    sa.Column("product_id", sa.Integer, sa.ForeignKey("shop_products.id"), primary_key=True),
    sa.Column("quantity", sa.Integer, nullable=False),
)
orders = sa.Table(
    "shop_orders", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("cart_id", sa.Integer, sa.ForeignKey("shop_carts.id"), nullable=False, unique=True),
    sa.Column("customer_name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(200), nullable=False, index=True),
    sa.Column("address", sa.Text, nullable=False),
    sa.Column("total_cents", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)
order_lines = sa.Table(
    "shop_order_lines", metadata,
    sa.Column("order_id", sa.Integer, sa.ForeignKey("shop_orders.id"), primary_key=True),
    sa.Column("product_id", sa.Integer, sa.ForeignKey("shop_products.id"), primary_key=True),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.Column("unit_price_cents", sa.Integer, nullable=False),
)


def safe_url(url: URL) -> str:
    """The URL with its password hidden, fit for messages and logs."""
    return url.render_as_string(hide_password=True)


def parse_db_url(raw: str) -> URL:
    """Check that ``raw`` names a database the stub can use.

    Raises:
        BadInput: malformed, in-memory SQLite, or a backend other than
            SQLite and PostgreSQL (psycopg 3).
    """
    try:
        url = make_url(raw)
    except Exception:  # noqa: BLE001 - SQLAlchemy raises several types for bad URLs
        raise BadInput(f"--db: malformed database URL {raw!r}; use sqlite:///FILE or "
                       "postgresql+psycopg://USER@HOST:PORT/DB") from None
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:") or (url.database or "").startswith("file::memory:"):
            raise BadInput("--db: in-memory SQLite gets a different pool; give a file, e.g. sqlite:///shop.db")
        parent = Path(url.database).expanduser().resolve().parent
        if not parent.is_dir():
            raise BadInput(f"--db: folder {str(parent)!r} of the SQLite file does not exist")
        return url.set(drivername="sqlite+pysqlite")
    if url.get_backend_name() == "postgresql":
        if url.get_driver_name() not in ("psycopg", "postgresql"):
            raise BadInput(f"--db: driver {url.get_driver_name()!r} is not supported; use postgresql+psycopg://")
        return url.set(drivername="postgresql+psycopg")
    raise BadInput(f"--db: unsupported database {url.get_backend_name()!r} in {safe_url(url)!r}; "
                   "use sqlite:///FILE or postgresql+psycopg://...")


def _sqlite_sleep(seconds: float) -> None:
    if seconds and seconds > 0:
        time.sleep(seconds)


def _connect_args(url: URL) -> dict:
    if url.get_backend_name() == "sqlite":
        # Writers wait for SQLite's single write lock up to 30 s instead of failing.
        return {"timeout": 30}
    return {"connect_timeout": 5}


def _prepare_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.create_function("pg_sleep", 1, _sqlite_sleep)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()


def make_engine(url: URL, *, pool_size: int, max_overflow: int, pool_timeout_s: float) -> Engine:
    """The app's engine: a real ``QueuePool`` of the given size on either backend."""
    engine = sa.create_engine(
        url,
        poolclass=QueuePool,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout_s,
        connect_args=_connect_args(url),
    )
    if url.get_backend_name() == "sqlite":
        _prepare_sqlite(engine)
    return engine


def seed(url: URL, catalogue: list[Product]) -> None:
    """Recreate the shop's tables (``shop_*``, nothing else) and load the catalogue.

    Raises:
        BadInput: the database cannot be reached or written.
    """
    engine = sa.create_engine(url, poolclass=NullPool, connect_args=_connect_args(url))
    if url.get_backend_name() == "sqlite":
        _prepare_sqlite(engine)
    try:
        with engine.begin() as conn:
            metadata.drop_all(conn)
            metadata.create_all(conn)
            conn.execute(products.insert(), [
                {"id": p.id, "name": p.name, "category": p.category, "description": p.description,
                 "price_cents": p.price_cents, "sale_price_cents": p.sale_price_cents, "stock": p.stock}
                for p in catalogue
            ])
    except sa.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0]
        raise BadInput(f"--db: cannot use {safe_url(url)}: {reason}") from None
    finally:
        engine.dispose()
