"""The shop's answers as static files, served by nginx: a target fast enough to measure a load generator by.

``capture(stub_url, root)`` asks the real stub (``target_stub``) every
question the zero-think journeys ask (browser, abandoner, buyer; no snipers,
whose 50-300 ms pauses are not the generator's speed): the first
``CATALOGUE_PAGES`` catalogue pages, one search per search term of the
shopper data, every product those answers list, the sale, a cart, an added
item, a checkout, and both metrics pages; it writes each answer under
``root`` and returns the ids a bare client needs to send the same requests
(``plan.json``).

``StaticShop`` runs ``nginx`` (from apt) as a non-daemon child with its own
prefix and configuration on a free 127.0.0.1 port, optionally pinned to one
core with ``taskset``, and stops it by its PID. GETs are files; the POSTs
answer from the configuration (a new cart, an order) or, for adding an item,
from a server-side include that echoes the item back into the cart (the
``mirror`` module reads the body first): every check the adapter makes on an
answer passes, as it does against the stub, so a journey runs to its end.
``requests_served()`` reads nginx's own counter (``stub_status``): the
same instrument for every generator, wrk included.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import requests

from benchmarks._common import free_port, stop_process, tool_path
from locustfiles.journeys import CATALOGUE_PAGES
from locustfiles.shoppers import ShopperData

__all__ = ["capture", "StaticShop", "PER_PAGE"]

PER_PAGE = 24
"""What the stub adapter asks for (``StubShopAdapter.browse``/``search``)."""

_ITEM_TEMPLATE = '{"cart_id":<!--# echo var="cart" encoding="none" -->,"items":[<!--# echo var="request_body" ' \
                 'encoding="none" default="" -->],"total_cents":184579}'


def _session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


def capture(stub_url: str, root: Path) -> dict:
    """Ask the stub every question the journeys ask; write the answers under ``root``; the bare client's plan."""
    s = _session()
    root.mkdir(parents=True, exist_ok=True)
    (root / "products").mkdir(exist_ok=True)
    (root / "pages").mkdir(exist_ok=True)
    (root / "search").mkdir(exist_ok=True)

    def get(path: str) -> requests.Response:
        r = s.get(stub_url + path, timeout=30)
        r.raise_for_status()
        return r

    plan: dict = {"pages": {}, "search": {}, "terms": []}
    for page in range(1, CATALOGUE_PAGES + 1):
        r = get(f"/products?page={page}&per_page={PER_PAGE}")
        (root / "pages" / f"{page}.json").write_bytes(r.content)
        plan["pages"][str(page)] = [p["id"] for p in r.json()["items"]]
    for term in ShopperData.generate().search_terms:
        r = get(f"/search?q={quote(term)}&per_page={PER_PAGE}")
        # nginx looks the file up by $arg_q, the query argument as sent (still percent-encoded)
        (root / "search" / f"{quote(term)}.json").write_bytes(r.content)
        plan["search"][term] = [p["id"] for p in r.json()["items"]]
        plan["terms"].append(term)
    ids = sorted({i for v in plan["pages"].values() for i in v} | {i for v in plan["search"].values() for i in v})
    local, opened = threading.local(), []

    def save_product(product: int) -> None:  # ~2,300 of them: asked 8 at a time (the stub answers concurrently)
        if not hasattr(local, "session"):
            local.session = _session()
            opened.append(local.session)
        r = local.session.get(f"{stub_url}/products/{product}", timeout=30)
        r.raise_for_status()
        (root / "products" / f"{product}.json").write_bytes(r.content)

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(save_product, ids))
    finally:
        for session in opened:
            session.close()
    (root / "sale.json").write_bytes(get("/sale").content)
    (root / "metrics.txt").write_bytes(get("/metrics").content)
    (root / "metrics_app.txt").write_bytes(get("/metrics/app").content)
    cart = s.post(stub_url + "/carts", timeout=30).json()["cart_id"]
    s.post(f"{stub_url}/carts/{cart}/items", json={"product_id": ids[0], "quantity": 1}, timeout=30).raise_for_status()
    order = s.post(stub_url + "/checkout", timeout=30, json={
        "cart_id": cart, "customer": {"name": "Ada", "email": "ada@example.com", "address": "12 Row"},
        "payment": {"card_token": "tok_visa"}})
    plan["answers"] = {"order": order.json()}
    (root / "items.json").write_text(_ITEM_TEMPLATE)
    (root / "plan.json").write_text(json.dumps(plan))
    plan["products_captured"] = len(ids)
    return plan


def _config(prefix: Path, root: Path, port: int) -> str:
    temp = prefix / "tmp"
    return f"""# Written by benchmarks/_static_shop.py: the stub's answers as static files.
daemon off;
master_process off;
worker_processes 1;
error_log {prefix}/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {temp}/body;
  proxy_temp_path {temp}/proxy;
  fastcgi_temp_path {temp}/fastcgi;
  uwsgi_temp_path {temp}/uwsgi;
  scgi_temp_path {temp}/scgi;
  default_type application/json;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    root {root};
    client_body_buffer_size 16k;
    client_body_in_single_buffer on;
    location = /products {{ try_files /pages/$arg_page.json =404; }}
    location ~ ^/products/(?<product>\\d+)$ {{ try_files /products/$product.json =404; }}
    location = /search {{ try_files /search/$arg_q.json =404; }}
    location = /sale {{ try_files /sale.json =404; }}
    location = /carts {{ return 201 '{{"cart_id":${{connection}}0${{connection_requests}}}}'; }}
    location ~ ^/carts/(?<cart>\\d+)/items$ {{
      mirror /_drop;
      try_files /items.json =404;
      error_page 405 =200 /_items;
    }}
    location = /_items {{ internal; ssi on; ssi_types application/json; try_files /items.json =404; }}
    location = /_drop {{ internal; return 204; }}
    location ~ ^/carts/(?<cart>\\d+)$ {{
      return 200 '{{"cart_id":$cart,"items":[{{"product_id":7,"quantity":1,"unit_price_cents":184579}}],"total_cents":184579}}';
    }}
    location = /checkout {{ return 201 '{{"order_id":${{connection}}0${{connection_requests}},"cart_id":1,"total_cents":184579,"status":"placed"}}'; }}
    location = /metrics {{ default_type text/plain; try_files /metrics.txt =404; }}
    location = /metrics/app {{ default_type text/plain; try_files /metrics_app.txt =404; }}
    location = /nginx_status {{ stub_status; }}
  }}
}}
"""


class StaticShop:
    """nginx serving a captured shop on a free 127.0.0.1 port; ``cpu`` pins it to one core."""

    def __init__(self, root: Path, prefix: Path, cpu: int | None = None) -> None:
        self.root, self.prefix, self.cpu = root, prefix, cpu
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self._status = _session()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StaticShop:
        (self.prefix / "tmp").mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        conf = self.prefix / "nginx.conf"
        conf.write_text(_config(self.prefix, self.root, self.port))
        cmd = [tool_path("nginx"), "-p", str(self.prefix), "-c", str(conf)]
        if self.cpu is not None:
            cmd = ["taskset", "-c", str(self.cpu), *cmd]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited {self.proc.returncode}: {self.proc.stderr.read().decode()[-500:]}")
            try:
                self.requests_served()
                return self
            except requests.RequestException:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("nginx did not answer within 10 s")

    def requests_served(self) -> int:
        """nginx's own count of requests handled so far (this status request included)."""
        text = self._status.get(self.url + "/nginx_status", timeout=5).text
        return int(text.splitlines()[2].split()[2])

    def measure(self, proc: subprocess.Popen, warmup_s: float, duration_s: float, probes: dict,
                start_timeout_s: float = 60.0, started_after: int = 10) -> dict | None:
        """The rate nginx served while ``proc`` loads it, and the CPU of each probe over the same window.

        Waits until ``started_after`` requests more than now were served (the
        load began), then ``warmup_s``, then counts over ``duration_s``.
        ``probes``: name -> a function giving CPU seconds so far. None when the
        load never began or ``proc`` exited before the end of the window.
        """
        baseline = self.requests_served()
        deadline = time.monotonic() + start_timeout_s
        while self.requests_served() < baseline + started_after:
            if proc.poll() is not None or time.monotonic() > deadline:
                return None
            time.sleep(0.1)
        time.sleep(warmup_s)
        cpu0 = {name: probe() for name, probe in probes.items()}
        count0, t0 = self.requests_served(), time.monotonic()
        time.sleep(duration_s)
        count1, t1 = self.requests_served(), time.monotonic()
        cpu1 = {name: probe() for name, probe in probes.items()}
        if proc.poll() is not None:
            return None
        elapsed = t1 - t0
        return {"rps": (count1 - count0 - 1) / elapsed, "elapsed_s": elapsed,
                **{f"{name}_cpu_percent": (cpu1[name] - cpu0[name]) / elapsed * 100 for name in probes}}

    def stop(self) -> None:
        """Stop the nginx this object started, by its PID (SIGQUIT: graceful)."""
        if self.proc is not None:
            import signal

            stop_process(self.proc, first=signal.SIGQUIT, grace_s=10)
            if self.proc.stderr is not None:
                self.proc.stderr.close()

    def __enter__(self) -> StaticShop:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
