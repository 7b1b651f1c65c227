"""A Prometheus ``/metrics`` endpoint as a source of server metrics: ``PrometheusSource`` and ``parse_exposition``.

A scrape asks for the Prometheus text format (not OpenMetrics), never through a proxy and
without following redirects, and gives up after ``timeout_s`` for the whole answer, body
included: requests' own timeout is per read, so a server dripping its body a byte at a time
would otherwise hold the scrape for as long as it likes.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import requests
from prometheus_client.parser import text_string_to_metric_families

from reports.keep_list import KeepList
from reports.redaction import shown_url
from reports.server_rows import ScrapeError, one_line, sample

__all__ = ["PrometheusSource", "parse_exposition"]

_MAX_BODY_BYTES = 16 * 2**20  # a large JVM app exposes ~1 MB; 16 MB means something is wrong
_ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"  # the Prometheus text format, not OpenMetrics


def parse_exposition(text: str, keep: KeepList) -> list[dict[str, Any]]:
    """The kept samples of a Prometheus text exposition: ``metric``, ``type``, ``labels``, ``value``.

    Raises:
        ScrapeError: the text is not in the Prometheus format (all or nothing: no half scrape).
    """
    rows: list[dict[str, Any]] = []
    try:
        for family in text_string_to_metric_families(text):
            for kept in family.samples:
                if keep.keeps(family.name, kept.name):
                    rows.append(sample(kept.name, family.type, dict(kept.labels), kept.value))
    except Exception as exc:  # noqa: BLE001 - the parser raises ValueError, IndexError, ... on garbage
        raise ScrapeError(f"unparseable body: {one_line(str(exc) or type(exc).__name__)}") from None
    return rows


class PrometheusSource:
    """A ``/metrics`` endpoint over HTTP, through one keep-alive session, never through a proxy."""

    kind = "prometheus"

    def __init__(self, name: str, url: str, timeout_s: float) -> None:
        self.name, self.url, self.timeout_s = name, url, timeout_s
        parts = urlsplit(url)
        self.secrets = tuple(s for s in (parts.password,) if s)
        self.worst_case_s = timeout_s
        self._session: requests.Session | None = None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "url": shown_url(self.url)}

    def collect(self, keep: KeepList) -> list[dict[str, Any]]:
        """The kept samples now; ``ScrapeError`` with a short reason when there are none to have."""
        if self._session is None:
            self._session = requests.Session()
            self._session.trust_env = False  # no proxy from the environment: loopback stays loopback
        deadline = time.monotonic() + self.timeout_s
        try:
            with self._session.get(self.url, timeout=self.timeout_s, stream=True, allow_redirects=False,
                                   headers={"Accept": _ACCEPT}) as response:
                if response.status_code != 200:
                    redirect = " (redirects are not followed)" if 300 <= response.status_code < 400 else ""
                    raise ScrapeError(f"HTTP {response.status_code}{redirect}")
                body = bytearray()
                # read1 returns what has arrived (iter_content would wait for 64 kB or the end, so a server
                # dripping its body would hold the scrape far past the deadline checked between reads).
                while chunk := response.raw.read1(65536, decode_content=True):
                    body += chunk
                    if len(body) > _MAX_BODY_BYTES:
                        raise ScrapeError(f"body over {_MAX_BODY_BYTES // 2**20} MB")
                    if time.monotonic() > deadline:  # requests' timeout is per read, not for the whole body
                        raise ScrapeError(f"timed out after {self.timeout_s:g} s")
        except requests.RequestException as exc:
            raise ScrapeError(_network_reason(exc, self.timeout_s)) from None
        return parse_exposition(body.decode("utf-8", errors="replace"), keep)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


def _network_reason(exc: BaseException, timeout_s: float) -> str:
    """A short reason for a requests failure: the innermost cause, not urllib3's retry wrapping."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        error = todo.pop(0)
        if id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, TimeoutError) or "Timeout" in type(error).__name__:
            return f"timed out after {timeout_s:g} s"
        if isinstance(error, ConnectionRefusedError):
            return "connection refused"
        if isinstance(error, ConnectionResetError):
            return "connection reset by the server"
        if isinstance(error, OSError) and error.strerror:
            return one_line(error.strerror.lower())
        todo += [e for e in (error.__cause__, error.__context__, getattr(error, "reason", None), *error.args)
                 if isinstance(e, BaseException)]
    return one_line(f"{type(exc).__name__}")
