"""The gateway in front of the app, as nginx was on July 15.

It forwards every request to the app and waits ``gateway_timeout_s`` for the
answer (nginx's ``proxy_read_timeout``). When the app is slower, the gateway
answers **504** and, like a real upstream, the app goes on working on the
request: the gateway keeps reading that late answer in the background and
counts it, so that "requests the app completed after the gateway had already
answered 504" is a number, not a guess.

Optionally it rate-limits checkout with a token bucket (nginx's ``limit_req``
with ``burst`` and ``nodelay``): a request that finds the bucket empty gets
**429** with ``Retry-After`` at once and never reaches the app.

Metrics (registry of its own, at ``/metrics`` on the gateway; the app's own,
read from the app when asked, at ``/metrics/app``, so that a load generator
needs only the shop's URL). Both are monitoring, not shop traffic: they are
answered whatever the rate limit, and counted under ``endpoint="/metrics"``
only (a 502 when the app's could not be read is not an upstream error):

=================================================  =========  ===========================================
shop_gateway_responses_total{endpoint,method,status}  counter  responses the gateway sent
shop_gateway_upstream_timeouts_total{endpoint}       counter  504s: the app did not answer in time
shop_gateway_rate_limited_total{endpoint}            counter  429s from the rate limit
shop_gateway_upstream_errors_total{endpoint}         counter  502s: the app could not be reached
shop_gateway_late_completions_total{endpoint,status}  counter  app answers that came after the 504
shop_gateway_request_duration_seconds{endpoint,method}  histogram  time to answer the client
shop_gateway_requests_in_flight                      gauge    requests being handled now
shop_gateway_upstream_timeout_seconds                gauge    the configured upstream timeout
shop_gateway_rate_limit_checkout_rps                 gauge    the configured checkout rate (0 = off)
=================================================  =========  ===========================================
"""

from __future__ import annotations

import asyncio
import math
import time

import aiohttp
from yarl import URL
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from target_stub.app_metrics import LATENCY_BUCKETS_S
from target_stub.routes import endpoint_of

__all__ = ["Gateway", "TokenBucket"]

_HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailers",
    b"transfer-encoding", b"upgrade", b"host", b"content-length",
})
_METRICS = "/metrics"
_APP_METRICS_PATH = "/metrics/app"
_APP_METRICS_TIMEOUT_S = 5.0
"""How long the gateway waits for the app's metrics: the app serves them on its event loop, in milliseconds
even when every worker thread is busy; a scraper gives up sooner anyway (0.8 x its interval)."""
_LATE_READ_TIMEOUT_S = 300.0
"""How long the gateway keeps reading an answer it already gave up on: far
beyond any pool timeout or payment latency the stub can be given."""


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved; one per request."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def take(self) -> float:
        """Take a token: 0.0 if there was one, else the seconds until there is."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate


class _GatewayMetrics:
    def __init__(self, timeout_s: float, rate_rps: float) -> None:
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.responses = Counter("shop_gateway_responses", "Responses sent", ["endpoint", "method", "status"],
                                 registry=r)
        self.timeouts = Counter("shop_gateway_upstream_timeouts", "504s: the app did not answer in time",
                                ["endpoint"], registry=r)
        self.rate_limited = Counter("shop_gateway_rate_limited", "429s from the rate limit", ["endpoint"],
                                    registry=r)
        self.upstream_errors = Counter("shop_gateway_upstream_errors", "502s: the app could not be reached",
                                       ["endpoint"], registry=r)
        self.late = Counter("shop_gateway_late_completions", "App answers that came after the gateway's 504",
                            ["endpoint", "status"], registry=r)
        self.duration = Histogram("shop_gateway_request_duration_seconds", "Time to answer the client",
                                  ["endpoint", "method"], buckets=LATENCY_BUCKETS_S, registry=r)
        self.in_flight = Gauge("shop_gateway_requests_in_flight", "Requests being handled", registry=r)
        Gauge("shop_gateway_upstream_timeout_seconds", "Upstream read timeout", registry=r).set(timeout_s)
        Gauge("shop_gateway_rate_limit_checkout_rps", "Checkout rate limit (0 = off)", registry=r).set(rate_rps)


class Gateway:
    """An ASGI app that forwards to ``upstream_url`` with a read timeout."""

    def __init__(self, upstream_url: str, *, timeout_s: float, rate_limit_rps: float = 0.0,
                 rate_limit_burst: int = 0) -> None:
        self.upstream_url = upstream_url
        self.timeout_s = timeout_s
        self.bucket = TokenBucket(rate_limit_rps, rate_limit_burst) if rate_limit_rps > 0 else None
        self.metrics = _GatewayMetrics(timeout_s, rate_limit_rps)
        self._client: aiohttp.ClientSession | None = None
        self._late: set[asyncio.Task] = set()

    @property
    def client(self) -> aiohttp.ClientSession:
        if self._client is None:  # made on first use, inside the serving event loop
            self._client = aiohttp.ClientSession(
                trust_env=False, auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=_LATE_READ_TIMEOUT_S, connect=5.0),
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=30),
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
            )
        return self._client

    async def aclose(self, grace_s: float = 10.0) -> None:
        """Wait (bounded) for answers still coming in after a 504, then close."""
        if self._late:
            await asyncio.wait(self._late, timeout=grace_s)
        if self._client is not None:
            await self._client.close()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        endpoint = _METRICS if path == _APP_METRICS_PATH else endpoint_of(path)
        started = time.perf_counter()
        status = 500
        self.metrics.in_flight.inc()
        try:
            status, headers, body = await self._answer(scope, receive, endpoint)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        finally:
            self.metrics.in_flight.dec()
            self.metrics.responses.labels(endpoint, method, str(status)).inc()
            self.metrics.duration.labels(endpoint, method).observe(time.perf_counter() - started)

    async def _answer(self, scope, receive, endpoint: str) -> tuple[int, list, bytes]:
        if scope["path"] == _METRICS:
            return 200, [(b"content-type", CONTENT_TYPE_LATEST.encode())], generate_latest(self.metrics.registry)
        if scope["path"] == _APP_METRICS_PATH:
            return await self._app_metrics(scope)
        if endpoint == "/checkout" and self.bucket is not None:
            wait_s = self.bucket.take()
            if wait_s > 0:
                self.metrics.rate_limited.labels(endpoint).inc()
                return _json(429, b'{"error":"rate_limited","detail":"too many checkouts, retry later"}',
                             [(b"retry-after", str(max(1, math.ceil(wait_s))).encode())])
        raw_path = scope.get("raw_path") or scope["path"].encode()
        if not raw_path.startswith(b"/") or raw_path.startswith(b"//"):
            # "//host/x" would make the upstream client go to another host: never a proxy.
            return _json(400, b'{"error":"bad_request","detail":"the path must start with a single /"}')
        body = await _read_body(receive)
        query = scope["query_string"]
        url = URL(self.upstream_url + raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else ""),
                  encoded=True)
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _HOP_BY_HOP]
        upstream = asyncio.ensure_future(self._forward(scope["method"], url, headers, body))
        try:
            response = await asyncio.wait_for(asyncio.shield(upstream), self.timeout_s)
        except aiohttp.ClientError:  # before TimeoutError: aiohttp's connect timeout is both
            self.metrics.upstream_errors.labels(endpoint).inc()
            return _json(502, b'{"error":"bad_gateway","detail":"the app could not be reached"}')
        except TimeoutError:
            self.metrics.timeouts.labels(endpoint).inc()
            self._late.add(upstream)
            upstream.add_done_callback(lambda task: self._late_done(task, endpoint))
            return _json(504, b'{"error":"gateway_timeout","detail":"the app did not answer in time"}')
        return response

    async def _app_metrics(self, scope) -> tuple[int, list, bytes]:
        """The app's ``/metrics``, read now; 502 when it cannot be read within ``_APP_METRICS_TIMEOUT_S``."""
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _HOP_BY_HOP]
        url = URL(self.upstream_url + _METRICS)
        try:
            return await asyncio.wait_for(self._forward(scope["method"], url, headers, b""), _APP_METRICS_TIMEOUT_S)
        except (aiohttp.ClientError, TimeoutError):
            return _json(502, b'{"error":"bad_gateway","detail":"the app\'s metrics could not be read"}')

    async def _forward(self, method: str, url: URL, headers: list, body: bytes) -> tuple[int, list, bytes]:
        """Send the request to the app and read its whole answer."""
        sent = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
        async with self.client.request(method, url, headers=sent, data=body or None,
                                       allow_redirects=False) as response:
            content = await response.read()
            out = [(k, v) for k, v in response.raw_headers
                   if k.lower() not in _HOP_BY_HOP and k.lower() not in (b"date", b"server")]
            return response.status, out, content

    def _late_done(self, task: asyncio.Task, endpoint: str) -> None:
        self._late.discard(task)
        if not task.cancelled() and task.exception() is None:
            self.metrics.late.labels(endpoint, str(task.result()[0])).inc()


def _json(status: int, body: bytes, extra: list | None = None) -> tuple[int, list, bytes]:
    return status, [(b"content-type", b"application/json"), *(extra or [])], body


async def _read_body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)
