"""Start the stub: the app in a process of its own, the gateway in this one.

Two processes, as nginx and the app server were two: on this 2-core machine
each gets a core, and the gateway's clock keeps time while the app is busy,
so a 504 means the app was late, not that the gateway was starved.

    client --> gateway (this process, asyncio) --> app (child process, threads) --> pool --> database

Both sockets are bound here before anything starts, so a port in use is
reported at once. The app child is told to die with this process (Linux
``PR_SET_PDEATHSIG``), so a killed stub leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import json
import signal
import socket
import subprocess
import sys
import time
from typing import TextIO

import requests
import uvicorn
from prometheus_client import disable_created_metrics

from surgegate.errors import BadInput, SurgegateError
from target_stub._say import say
from target_stub.config import StubConfig
from target_stub.gateway import Gateway

__all__ = ["bind", "run_stub"]

_APP_START_TIMEOUT_S = 60.0


def bind(host: str, port: int, option: str) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0 = any free port).

    Raises:
        BadInput: the port is in use or the address cannot be bound.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise BadInput(f"--host: cannot resolve {host!r}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise BadInput(f"{option}: {host}:{port} is already in use") from None
        raise BadInput(f"{option}: cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _start_app(config: StubConfig, sock: socket.socket) -> subprocess.Popen:
    # The config goes over stdin, not argv: the database URL may hold a password, and argv is public.
    app = subprocess.Popen(
        [sys.executable, "-m", "target_stub._app_process", str(sock.fileno())],
        pass_fds=(sock.fileno(),), preexec_fn=_die_with_parent, stdin=subprocess.PIPE,
    )
    assert app.stdin is not None
    app.stdin.write(json.dumps(config.to_json_dict()).encode())
    app.stdin.close()
    return app


def _wait_until_ready(app: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + _APP_START_TIMEOUT_S
    with requests.Session() as client:
        client.trust_env = False
        while time.monotonic() < deadline:
            if app.poll() is not None:
                raise SurgegateError(f"the app process exited with code {app.returncode} while starting")
            try:
                if client.get(url + "/healthz", timeout=2.0).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
    raise SurgegateError(f"the app did not answer at {url} within {_APP_START_TIMEOUT_S:g} s")


def _stop(app: subprocess.Popen) -> None:
    if app.poll() is None:
        app.send_signal(signal.SIGTERM)
        try:
            app.wait(timeout=15)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait()


class _Signals:
    """SIGTERM and Ctrl-C: abort while starting; once serving, only note them.

    uvicorn catches both while it serves and, once shut down, raises the
    caught signal again; it then lands here as a note instead of killing the
    process, so the app child is still stopped cleanly. A signal that came in
    the moment before uvicorn took over is noted too, and honoured at once.
    """

    def __init__(self) -> None:
        self.serving = False
        self.received: list[int] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, sig: int, _frame) -> None:
        self.received.append(sig)
        if not self.serving:
            raise KeyboardInterrupt


async def _serve_gateway(gateway: Gateway, sock: socket.socket, app: subprocess.Popen, signals: _Signals) -> int:
    server = uvicorn.Server(uvicorn.Config(gateway, lifespan="off", log_level="warning", access_log=False,
                                           http="httptools", timeout_graceful_shutdown=5,
                                           timeout_keep_alive=75))  # nginx keepalive_timeout default
    crashed = False

    async def watch_app() -> None:
        nonlocal crashed
        while not server.should_exit:
            if signals.received:  # came in the instant between our check and uvicorn's own handler
                server.should_exit = True
            if app.poll() is not None:
                say(sys.stderr, f"target_stub: the app process exited with code {app.returncode}; stopping")
                crashed = True
                server.should_exit = True
            await asyncio.sleep(0.2)

    if signals.received:  # asked to stop before uvicorn was listening for it
        server.should_exit = True
    watcher = asyncio.create_task(watch_app())
    await server.serve(sockets=[sock])
    watcher.cancel()
    await gateway.aclose()
    return 3 if crashed else 0


def run_stub(config: StubConfig, gateway_sock: socket.socket, app_sock: socket.socket, *,
             db_shown: str, out: TextIO = sys.stdout) -> int:
    """Serve until SIGTERM or Ctrl-C; the exit code (0 after a clean stop).

    Raises:
        KeyboardInterrupt: SIGTERM or Ctrl-C came while starting (the app child is stopped).
    """
    signals = _Signals()
    disable_created_metrics()  # the *_created series only add noise to every scrape
    gateway_url, app_url = _url(gateway_sock), _url(app_sock)
    app = _start_app(config, app_sock)
    try:
        app_sock.close()  # the child has its own copy
        _wait_until_ready(app, app_url)
        gateway = Gateway(app_url, timeout_s=config.gateway_timeout_s,
                          rate_limit_rps=config.rate_limit_checkout_rps,
                          rate_limit_burst=config.rate_limit_checkout_burst)
        say(out, f"surgegate target stub (preset {config.preset}) listening on {gateway_url}")
        say(out, f"  app      {app_url}  (behind the gateway: {config.pool_size}+{config.max_overflow} connections,"
                 f" {config.queries_per_checkout} queries per checkout, {config.app_workers} worker threads)")
        say(out, f"  gateway  upstream timeout {config.gateway_timeout_s:g} s, checkout rate limit "
                 + (f"{config.rate_limit_checkout_rps:g}/s burst {config.rate_limit_checkout_burst}"
                    if config.rate_limited else "off"))
        say(out, f"  metrics  {gateway_url}/metrics (gateway)  {app_url}/metrics (app)")
        say(out, f"  database {db_shown}")
        signals.serving = True  # before the line that invites a signal: from here one is a clean stop, exit 0
        say(out, "Stop with Ctrl-C or SIGTERM.")
        return _run_loop(_serve_gateway(gateway, gateway_sock, app, signals))
    finally:
        _stop(app)


def _run_loop(main) -> int:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        return asyncio.run(main)
    return uvloop.run(main)
