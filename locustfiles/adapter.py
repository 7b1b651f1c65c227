"""The target adapter: everything specific to one shop, in one place.

Journeys say *what* a shopper does (``adapter.add_to_cart(client, cart,
product)``); the adapter says *how* this shop does it: paths, payloads, auth
headers, and how to read product ids and order ids from its answers.
Journeys never build a URL.

To point surgegate at another shop, write one subclass of ``ShopAdapter``
(see ``locustfiles/example_adapter.py``) and run with
``--adapter mypackage.mymodule:MyAdapter``.

Every request goes through ``ShopAdapter.call``, which applies the checks a
person would write and leaves the status code on the response for the
recorder:

* an expected status whose body cannot be read (a checkout answering 201
  without an order id) fails with ``CheckFailed``;
* 429 fails with ``RateLimited`` (rate-limited, not a server error);
* a redirect is never followed (it could lead to another host): it fails
  with ``RefusedTarget``;
* a request to a host that was not allowed is not sent at all: it is
  reported as failed with ``RefusedTarget`` and a response time of 0.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from greenlet import GreenletExit
from orjson import loads as orjson_loads

from locustfiles.targets import host_allowed
from surgegate.errors import BadInput

_ABSOLUTE = re.compile(r"^https?://", re.IGNORECASE)
"""Locust's own test (``absolute_http_url_regexp``) for a URL that does not go to the host."""

__all__ = ["ShopAdapter", "StubShopAdapter", "CheckFailed", "RateLimited", "RefusedTarget", "Cancelled", "Shopper"]


class CheckFailed(Exception):
    """The shop answered with an expected status, but not with what a shopper needs."""


class RateLimited(Exception):
    """The shop answered 429: the shopper was asked to come back later."""


class RefusedTarget(Exception):
    """surgegate refused to send a request, or follow a redirect, to a host that was not allowed."""


class Cancelled(Exception):
    """The shopper was stopped while the request was in flight; the shop may or may not have seen it."""


Shopper = Mapping[str, str]
"""A shopper's details: name, email, address, card_token."""


class ShopAdapter:
    """Base of every adapter; subclasses implement the steps for their shop.

    Attributes:
        name: how ``--adapter`` names it.
        secret_env: environment variables holding secrets this adapter needs
            (API tokens). Read once, never printed nor written to results; a
            missing one is a ``BadInput`` naming the variable.
        url_patterns: funnel step (browse, search, product, sale, cart,
            checkout) -> regular expression searched in a logged request
            target, path and query string (``/products?page=2``), for
            ``surgegate profile from-log``. Steps are tried in the order
            written and the first match wins (see ``profiles/_funnel.py``).
        metrics_paths: source name -> path, on the target host, of a Prometheus
            endpoint to scrape during the run when no ``--metrics-url`` is
            given (see ``locustfiles/server_scrape.py``); empty for none.
            The names become the ``source`` of ``server_metrics.jsonl``.
        endpoint_names: the request names this adapter reports (``/products/[id]``);
            an SLO file's endpoint patterns are checked against them before
            any load, so a typo cannot leave an objective with nothing to judge.
            Empty: not checked.
        default_slo: the SLO file used when ``--slo`` is not given, relative to
            the project's root; None for the shipped ``slo.yaml`` (written for
            the stub's endpoints).
    """

    name = "base"
    secret_env: tuple[str, ...] = ()
    url_patterns: Mapping[str, str] = {}
    metrics_paths: Mapping[str, str] = {}
    endpoint_names: tuple[str, ...] = ()
    default_slo: str | None = None

    def __init__(self, *, allowed_hosts: frozenset[str] = frozenset(), environ: Mapping[str, str] = os.environ):
        missing = [var for var in self.secret_env if not environ.get(var)]
        if missing:
            raise BadInput(f"--adapter {self.name}: environment variable {missing[0]} is not set "
                           "(it holds the shop's API token)")
        self._secrets = {var: environ[var] for var in self.secret_env}
        self.allowed_hosts = allowed_hosts
        self._has_headers = type(self).headers is not ShopAdapter.headers
        """Whether ``headers`` is this shop's own (the base's says None: not asked on every request)."""
        self._host_verdicts: dict[str, str] = {}
        """base_url -> "" when its host is allowed, else the host (one entry per target)."""

    def __repr__(self) -> str:  # never show the secrets
        return f"<{type(self).__name__} {self.name}>"

    def secret(self, var: str) -> str:
        """The value of a secret environment variable named in ``secret_env``."""
        return self._secrets[var]

    def headers(self) -> dict[str, str] | None:
        """Headers for every request (auth); None for none."""
        return None

    # -- the one way a request is sent ---------------------------------------------------------------

    def call(self, client, method: str, path: str, *, name: str, json: Any = None, ok: tuple[int, ...] = (200,),
             read: Callable[[Any], Any] | None = None) -> Any:
        """Send one request through Locust's ``client`` and check it.

        Args:
            client: the user's ``FastHttpSession``.
            method, path: relative path (with query string) on the target.
            name: the endpoint template the recorder groups by, e.g. ``/products/[id]``.
            json: the body, sent as JSON.
            ok: statuses that count as success.
            read: reads what the journey needs from the parsed JSON body; a
                ``None`` result or a ``KeyError``/``TypeError``/``ValueError``
                fails the request with ``CheckFailed``.

        Returns:
            ``read``'s result (or True without ``read``) on success, else None.
        """
        if path[:1] != "/" or self._host_verdicts.get(client.base_url) != "":  # else: to an allowed base_url
            target = self._refusal(client, path)
            if target is not None:
                _report(client, method, name, path, RefusedTarget(
                    f"refused: {target!r} is not an allowed target (see --allow-target)"))
                return None
        # Locust's catch_response, without its with-block: ``request`` has put its own status check's outcome
        # (its error for a bad status or no answer, else None) in ``request_meta["exception"]``, which is what
        # ``ResponseContextManager.__exit__`` would report; it is overridden below as ``success()`` and
        # ``failure()`` would, and the event fired once. The same record, without the context manager's
        # enter, exit, success or failure and second status check on every request (issue 10). An exception
        # other than those caught below propagates unreported, as it does out of Locust's with-block.
        try:
            response = client.request(method, path, name=name, json=json,
                                      headers=self.headers() if self._has_headers else None,
                                      catch_response=True, allow_redirects=False)
        except GreenletExit:
            # The shopper was stopped while waiting for the answer (end of run, ramp-down, Ctrl-C):
            # Locust would drop the request silently; it is reported, so nothing sent goes uncounted.
            _report(client, method, name, path, Cancelled("stopped before the answer came"))
            raise
        meta = response.request_meta
        status = response.status_code
        if status in ok:
            if read is None:
                meta["exception"] = None
                client.request_event.fire(**meta)
                return True
            try:
                value = read(_json(response))
            except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
                meta["exception"] = CheckFailed(f"{status} without the expected body ({type(exc).__name__}: {exc})")
            else:
                meta["exception"] = None if value is not None else CheckFailed(f"{status} without the expected body")
                client.request_event.fire(**meta)
                return value
        elif status == 429:
            meta["exception"] = RateLimited("rate-limited (429)")
        elif 300 <= status < 400:
            location = (response.headers or {}).get("location", "?")
            meta["exception"] = RefusedTarget(f"redirect ({status}) to {location} not followed")
        elif 200 <= status < 300:
            meta["exception"] = CheckFailed(f"unexpected status {status}, expected {' or '.join(map(str, ok))}")
        # any other status: Locust's own error, which keeps the code, is already in meta
        client.request_event.fire(**meta)
        return None

    def _refusal(self, client, path: str) -> str | None:
        """The host a request would go to, if it is not allowed; else None."""
        # Absolute exactly when Locust's client treats it so (rare); anything else goes to base_url, whose
        # verdict is cached (``call`` reads the cache first: this is on every request's way).
        if _ABSOLUTE.match(path):
            return self._verdict(path) or None
        verdict = self._host_verdicts.get(client.base_url)
        if verdict is None:
            verdict = self._host_verdicts[client.base_url] = self._verdict(client.base_url)
        return verdict or None

    def _verdict(self, url: str) -> str:
        """"" when the host of ``url`` is allowed, else that host."""
        host = urlsplit(url).hostname or ""
        return "" if host_allowed(host, self.allowed_hosts) else host

    # -- the steps of the funnel, for subclasses ------------------------------------------------------

    def browse(self, client, page: int) -> list[Any] | None:
        """A page of the catalogue; the product ids on it."""
        raise NotImplementedError

    def search(self, client, term: str) -> list[Any] | None:
        """Search; the product ids found."""
        raise NotImplementedError

    def view_product(self, client, product_id: Any) -> bool:
        """Look at one product."""
        raise NotImplementedError

    def sale_items(self, client) -> list[Any] | None:
        """The product ids of the flash sale."""
        raise NotImplementedError

    def new_cart(self, client) -> Any:
        """Open a cart; its reference."""
        raise NotImplementedError

    def add_to_cart(self, client, cart: Any, product_id: Any, quantity: int = 1) -> bool:
        """Put a product in the cart."""
        raise NotImplementedError

    def view_cart(self, client, cart: Any) -> bool:
        """Look at the cart."""
        raise NotImplementedError

    def checkout(self, client, cart: Any, shopper: Shopper) -> Any:
        """Place the order; its order id (None if it was not placed)."""
        raise NotImplementedError


def _report(client, method: str, name: str, path: str, exception: Exception) -> None:
    """Report a request that got no answer from the shop: refused, or cancelled."""
    client.request_event.fire(
        request_type=method, name=name, response_time=0, response_length=0, response=None, context={},
        exception=exception, start_time=time.time(), url=path,
    )


def _json(response) -> Any:
    """The parsed body, by orjson: a quarter of the CPU of Locust's ``response.json()`` (issue 10).

    ``response.json()`` decodes a text with the encoding it reads from the
    Content-Type header on every response, then parses it with the standard
    library; orjson reads the UTF-8 bytes JSON travels in (RFC 8259) directly.
    A body orjson refuses (not UTF-8, NaN, an integer past 64 bits, or not
    JSON at all) goes through ``response.json()``, whose answer or error then
    stands, as before.
    """
    content = response.content
    if content:
        try:
            return orjson_loads(content)
        except ValueError:  # orjson.JSONDecodeError is one
            pass
    return response.json()


def _ids(body: Any) -> list[Any]:
    """The ids of a list of products (a catalogue page, a search, the sale)."""
    return [item["id"] for item in body["items"]]


class StubShopAdapter(ShopAdapter):
    """The shop of ``target_stub`` (the default adapter)."""

    name = "stub"
    url_patterns = {
        "browse": r"^/products/?(\?|$)",
        "search": r"^/search/?(\?|$)",
        "product": r"^/products/[^/?]+/?(\?|$)",
        "sale": r"^/sale/?(\?|$)",
        "cart": r"^/carts(/[^/?]+(/items)?)?/?(\?|$)",
        "checkout": r"^/checkout/?(\?|$)",
    }
    metrics_paths = {"gateway": "/metrics", "app": "/metrics/app"}  # the app's own, through the gateway
    endpoint_names = ("/products", "/search", "/products/[id]", "/sale", "/carts", "/carts/[id]/items", "/carts/[id]",
                      "/checkout")

    def browse(self, client, page: int) -> list[Any] | None:
        return self.call(client, "GET", f"/products?page={page}&per_page=24", name="/products", read=_ids)

    def search(self, client, term: str) -> list[Any] | None:
        return self.call(client, "GET", f"/search?q={quote(term)}&per_page=24", name="/search", read=_ids)

    def view_product(self, client, product_id: Any) -> bool:
        return bool(self.call(client, "GET", f"/products/{product_id}", name="/products/[id]",
                              read=lambda body: body["id"] == product_id or None))

    def sale_items(self, client) -> list[Any] | None:
        return self.call(client, "GET", "/sale", name="/sale", read=_ids)

    def new_cart(self, client) -> Any:
        return self.call(client, "POST", "/carts", name="/carts", ok=(201,), read=lambda body: body["cart_id"])

    def add_to_cart(self, client, cart: Any, product_id: Any, quantity: int = 1) -> bool:
        return bool(self.call(client, "POST", f"/carts/{cart}/items", name="/carts/[id]/items",
                              json={"product_id": product_id, "quantity": quantity},
                              read=lambda body: any(i["product_id"] == product_id for i in body["items"]) or None))

    def view_cart(self, client, cart: Any) -> bool:
        return bool(self.call(client, "GET", f"/carts/{cart}", name="/carts/[id]",
                              read=lambda body: body["cart_id"] == cart or None))

    def checkout(self, client, cart: Any, shopper: Shopper) -> Any:
        order = {"cart_id": cart,
                 "customer": {"name": shopper["name"], "email": shopper["email"], "address": shopper["address"]},
                 "payment": {"card_token": shopper["card_token"]}}
        return self.call(client, "POST", "/checkout", name="/checkout", json=order, ok=(201, 200),
                         read=lambda body: body.get("order_id"))
