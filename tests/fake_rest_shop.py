"""A tiny fake of the example REST shop (``locustfiles/example_adapter.py``), started in the test.

Standard library only: a ``ThreadingHTTPServer`` on a free loopback port in a
thread. It checks the bearer token on every request and counts what it saw,
by method and path template, so a test can reconcile Locust's counts with it.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

SKUS = [f"SKU-{n:04d}" for n in range(1, 201)]
_TEMPLATES = [
    (re.compile(r"^/api/v2/items/[^/]+$"), "/api/v2/items/[sku]"),
    (re.compile(r"^/api/v2/baskets/[^/]+/lines/[^/]+$"), "/api/v2/baskets/[token]/lines/[sku]"),
    (re.compile(r"^/api/v2/baskets/[^/]+$"), "/api/v2/baskets/[token]"),
]


class FakeRestShop:
    """The fake shop; ``seen`` counts requests by (method, template); ``auth`` the Authorization values."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.seen: Counter = Counter()
        self.auth: Counter = Counter()
        self.baskets: dict[str, list] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        shop = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _answer(self, status: int, body: dict | None = None, headers: dict | None = None) -> None:
                data = json.dumps(body or {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                path, query = parts.path, parse_qs(parts.query)
                length = int(self.headers.get("Content-Length") or 0)
                payload = json.loads(self.rfile.read(length) or b"{}") if length else {}
                template = next((t for p, t in _TEMPLATES if p.match(path)), path)
                if template == "/api/v2/items" and "query" in query:
                    template = "/api/v2/items?query"
                with shop._lock:
                    shop.seen[(self.command, template)] += 1
                    shop.auth[self.headers.get("Authorization")] += 1
                if self.headers.get("Authorization") != f"Bearer {shop.token}":
                    return self._answer(401, {"error": "unauthorized"})
                shop.route(self, self.command, path, query, payload)

            do_GET = do_POST = do_PUT = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def route(self, h, method: str, path: str, query: dict, payload: dict) -> None:
        if method == "GET" and path == "/api/v2/items":
            if "query" in query:
                return h._answer(200, {"data": [{"sku": s} for s in SKUS[:7]]})
            offset, limit = int(query.get("offset", ["0"])[0]), int(query.get("limit", ["20"])[0])
            return h._answer(200, {"data": [{"sku": s} for s in SKUS[offset:offset + limit]], "next": None})
        if method == "GET" and path.startswith("/api/v2/items/"):
            return h._answer(200, {"data": {"sku": path.rsplit("/", 1)[1]}})
        if method == "GET" and path == "/api/v2/promotions/current":
            return h._answer(200, {"skus": SKUS[:3]})
        if method == "GET" and path == "/api/v2/moved":
            return h._answer(302, {}, {"Location": "http://shop.invalid/api/v2/items"})
        if method == "POST" and path == "/api/v2/baskets":
            token = f"b-{next(self._ids)}"
            with self._lock:
                self.baskets[token] = []
            return h._answer(201, {"basket": {"token": token, "lines": []}})
        if path.startswith("/api/v2/baskets/"):
            token = path.split("/")[4]
            lines = self.baskets.get(token)
            if lines is None:
                return h._answer(404, {"error": "no basket"})
            if method == "PUT":
                lines.append({"sku": path.rsplit("/", 1)[1], "qty": payload.get("qty", 1)})
            return h._answer(200, {"basket": {"token": token, "lines": lines}})
        if method == "POST" and path == "/api/v2/orders":
            return h._answer(200, {"order": {"number": f"ORD-{next(self._ids)}"}})
        return h._answer(404, {"error": "not found"})

    def __enter__(self) -> FakeRestShop:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
