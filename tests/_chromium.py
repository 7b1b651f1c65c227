"""Open a page in real headless Chromium and see what a reader's browser does with it.

Debian's ``chromium`` (``/usr/bin/chromium``), driven over the DevTools protocol with a small
websocket client (``websocket-client``): no Playwright, no browser download. ``open_page``
starts a fresh browser (its own profile directory, no background networking), loads the page
with the network, console and log domains on, and returns what a test asserts on: every request
the page made, every console message and exception, values evaluated in the page, a full-page
screenshot (PNG) and the page printed to PDF.

    with Chromium(tmp_path) as browser:
        page = browser.open_page(path.as_uri(), evaluate={"svgs": "document.querySelectorAll('svg').length"})
    page.requests, page.console_errors, page.values["svgs"], page.screenshot_png

Each browser is a process this object started, stopped by its pid; it is killed if it does not stop.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websocket

CHROMIUM = os.environ.get("SURGEGATE_CHROMIUM", "/usr/bin/chromium")
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


def find_chromium() -> str | None:
    """The Chromium binary, or None when it is not installed."""
    if os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    return shutil.which("chromium")


@dataclass
class Page:
    """What happened when a page was opened."""

    requests: list[str] = field(default_factory=list)
    """URL of every request the page made, in order (the page itself first)."""
    failed_requests: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)
    """(level, text) of console messages, exceptions and browser log entries."""
    values: dict[str, Any] = field(default_factory=dict)
    screenshot_png: bytes = b""
    pdf: bytes = b""

    @property
    def console_errors(self) -> list[tuple[str, str]]:
        """Console messages, exceptions and log entries at level error or warning."""
        return [(level, text) for level, text in self.console if level in ("error", "warning", "exception")]


class Chromium:
    """One headless Chromium process for a test, with its own profile in ``workdir``."""

    def __init__(self, workdir: Path, *, width: int = 1280, height: int = 900, timeout_s: float = 60) -> None:
        binary = find_chromium()
        if binary is None:
            raise FileNotFoundError(f"no chromium at {CHROMIUM} nor on PATH")
        self.binary, self.workdir, self.timeout_s = binary, Path(workdir), timeout_s
        self.width, self.height = width, height
        self.proc: subprocess.Popen | None = None
        self.ws: websocket.WebSocket | None = None
        self._next_id = 0
        self._events: list[dict] = []

    def __enter__(self) -> Chromium:
        profile = self.workdir / "chromium-profile"
        profile.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [self.binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-extensions", "--disable-dev-shm-usage", "--mute-audio",
             f"--user-data-dir={profile}", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
             f"--window-size={self.width},{self.height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        url = None
        deadline = time.monotonic() + self.timeout_s
        while url is None and time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                break
            found = _LISTENING.search(line)
            url = found.group(1) if found else None
        if url is None:
            self.close()
            raise RuntimeError("chromium did not start its DevTools endpoint")
        self.ws = websocket.create_connection(url, timeout=self.timeout_s, suppress_origin=True)
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection and stop the browser (this process only)."""
        if self.ws is not None:
            try:
                self._send("Browser.close")
            except Exception:  # noqa: BLE001 - the browser may already be gone
                pass
            self.ws.close()
            self.ws = None
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            if self.proc.stderr:
                self.proc.stderr.close()
            self.proc = None

    def _send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send a command and wait for its answer, keeping every event that arrives meanwhile."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        while True:
            answer = json.loads(self.ws.recv())
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self._events.append(answer)

    def _wait_for(self, method: str, session: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not any(e.get("method") == method and e.get("sessionId") == session for e in self._events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} within {timeout_s} s")
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            self._events.append(json.loads(self.ws.recv()))
        self.ws.settimeout(self.timeout_s)

    def _drain(self, quiet_s: float) -> None:
        """Read events until none came for ``quiet_s`` (late requests, late console messages)."""
        self.ws.settimeout(quiet_s)
        try:
            while True:
                self._events.append(json.loads(self.ws.recv()))
        except websocket.WebSocketTimeoutException:
            pass
        finally:
            self.ws.settimeout(self.timeout_s)

    def open_page(self, url: str, *, evaluate: dict[str, str] | None = None, screenshot: bool = True,
                  pdf: bool = False) -> Page:
        """Load ``url`` in a new tab, wait for its load event and a quiet second, and report what happened."""
        target = self._send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self._send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            self._send(f"{domain}.enable", session=session)
        self._send("Emulation.setDeviceMetricsOverride", {"width": self.width, "height": self.height,
                                                          "deviceScaleFactor": 1, "mobile": False}, session)
        self._events.clear()
        self._send("Page.navigate", {"url": url}, session)
        self._wait_for("Page.loadEventFired", session, self.timeout_s)
        self._drain(1.0)
        page = Page()
        for event in self._events:
            if event.get("sessionId") != session:
                continue
            method, params = event.get("method"), event.get("params", {})
            if method == "Network.requestWillBeSent":
                page.requests.append(params["request"]["url"])
            elif method == "Network.loadingFailed":
                page.failed_requests.append(f"{params.get('errorText')} {params.get('blockedReason') or ''}")
            elif method == "Runtime.consoleAPICalled":
                text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", []))
                page.console.append((params.get("type", "log"), text))
            elif method == "Runtime.exceptionThrown":
                page.console.append(("exception", json.dumps(params.get("exceptionDetails", {}))[:500]))
            elif method == "Log.entryAdded":
                entry = params.get("entry", {})
                page.console.append((entry.get("level", "info"), f"{entry.get('source')}: {entry.get('text')}"))
        for name, expression in (evaluate or {}).items():
            result = self._send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
            if "exceptionDetails" in result:
                raise RuntimeError(f"{name}: {result['exceptionDetails']}")
            page.values[name] = result["result"].get("value")
        if screenshot:
            size = self._send("Page.getLayoutMetrics", session=session)["cssContentSize"]
            clip = {"x": 0, "y": 0, "width": self.width, "height": min(int(size["height"]), 16_000), "scale": 1}
            shot = self._send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                         "clip": clip}, session)
            page.screenshot_png = base64.b64decode(shot["data"])
        if pdf:
            printed = self._send("Page.printToPDF", {"printBackground": True, "preferCSSPageSize": True}, session)
            page.pdf = base64.b64decode(printed["data"])
        self._send("Target.closeTarget", {"targetId": target})
        return page
