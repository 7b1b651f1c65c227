"""A Prometheus ``/metrics`` endpoint as a source of server metrics: ``PrometheusSource`` and ``parse_exposition``.

A scrape asks for the Prometheus text format (not OpenMetrics), never through a proxy and
without following redirects, and gives up after ``timeout_s`` for the whole answer, body
included: requests' own timeout is per read, so a server dripping its body a byte at a time
would otherwise hold the scrape for as long as it likes.
"""

from __future__ import annotations

import re
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
_MAX_DECIDED = 100_000
_ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"  # the Prometheus text format, not OpenMetrics


_SAMPLE_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


Decisions = dict[tuple[str, str, str], tuple[bool, bool]]
"""(family, its type, sample name) -> (whether the line is parsed, whether it ends the family): ``_decide``'s."""


def parse_exposition(text: str, keep: KeepList, decided: Decisions | None = None) -> list[dict[str, Any]]:
    """The kept samples of a Prometheus text exposition: ``metric``, ``type``, ``labels``, ``value``.

    The lines the keep-list drops are left out before the text is parsed (``_worth_parsing``);
    ``decided`` keeps its decisions from one scrape to the next.

    Raises:
        ScrapeError: the text is not in the Prometheus format (all or nothing: no half scrape). A
            malformed line the keep-list drops anyway is not looked at.
    """
    rows: list[dict[str, Any]] = []
    try:
        for family in text_string_to_metric_families(_worth_parsing(text, keep, {} if decided is None else decided)):
            for kept in family.samples:
                if keep.keeps(family.name, kept.name):
                    rows.append(sample(kept.name, family.type, dict(kept.labels), kept.value))
    except Exception as exc:  # noqa: BLE001 - the parser raises ValueError, IndexError, ... on garbage
        raise ScrapeError(f"unparseable body: {one_line(str(exc) or type(exc).__name__)}") from None
    return rows


def _worth_parsing(text: str, keep: KeepList, decided: Decisions) -> str:
    """``text`` without the lines the keep-list drops: what is left parses to the same kept samples.

    prometheus_client's parser costs ~15 us a line, and most of a shop's page is what nobody reads (a
    JVM app's ~1 MB: GC, threads, buffers; the stub's per-endpoint buckets), on the load generator's
    CPU every scrape (issue 10). The parser's own grouping is followed line by line: a sample belongs
    to the family of the ``# HELP``/``# TYPE`` lines before it when its name is one that type allows
    (a counter's family loses ``_total``, or its sample gains it), else it stands alone under its own
    name. Left out: a sample line the keep-list drops under that family and name; the ``# HELP`` and
    ``# TYPE`` lines of a family none of whose lines is left; other comments and blank lines, which the
    parser skips. A sample that would end the family it follows (a stray) stays, so that no other line
    changes family; lines whose names are quoted stay. (A ``# TYPE`` after its family's samples, which
    the format forbids, is not followed.)
    """
    family, typ = "", "untyped"
    kept: list[str] = []
    headers: list[str] | None = []
    """The current family's HELP and TYPE lines, until a line of it is left in (then None: they go in at once)."""
    for line in text.splitlines():
        stripped = line.lstrip()
        if stripped[:1] == "#":
            parts = stripped.split(None, 3)
            if len(parts) > 2 and parts[1] in ("TYPE", "HELP"):
                name = '"' if parts[2][:1] == '"' else parts[2]  # a quoted name: not followed, all its lines parsed
                if name != family:
                    family, typ, headers = name, "untyped", []  # the family before had no line left: nor its headers
                if parts[1] == "TYPE":
                    typ = parts[3].strip() if len(parts) > 3 else "untyped"
                if headers is None:  # a line of this family is in already: the header goes in as it came
                    kept.append(line)
                else:
                    headers.append(line)
            continue
        if not stripped:
            continue
        found = _SAMPLE_NAME.match(stripped)
        if found is None or family == '"':
            parsed, stray = True, False
        else:
            name = found.group()
            verdict = decided.get((family, typ, name))
            if verdict is None:
                verdict = decided[(family, typ, name)] = _decide(keep, family, typ, name)
            parsed, stray = verdict
        if parsed:
            if headers:
                kept.extend(headers)
            headers = None
            kept.append(line)
        if stray:
            family, typ = "", "untyped"
    return "\n".join(kept)


def _decide(keep: KeepList, family: str, typ: str, name: str) -> tuple[bool, bool]:
    """Whether a sample line named ``name`` after ``family``'s header must be parsed; whether it is a stray."""
    suffixes = {"summary": ("_count", "_sum", ""), "histogram": ("_count", "_sum", "_bucket")}.get(typ, ("",))
    if family and name in [family + suffix for suffix in suffixes]:
        if typ == "counter":  # the parser names the family without _total, or the sample with it
            if family.endswith("_total"):
                return keep.keeps(family[:-6], name), False
            return keep.keeps(family, name + "_total"), False
        return keep.keeps(family, name), False
    if family:
        return True, True  # it ends the family before it: parsed, so that the lines after it are grouped as they were
    return keep.keeps(name, name), False


class PrometheusSource:
    """A ``/metrics`` endpoint over HTTP, through one keep-alive session, never through a proxy."""

    kind = "prometheus"

    def __init__(self, name: str, url: str, timeout_s: float) -> None:
        self.name, self.url, self.timeout_s = name, url, timeout_s
        parts = urlsplit(url)
        self.secrets = tuple(s for s in (parts.password,) if s)
        self.worst_case_s = timeout_s
        self._session: requests.Session | None = None
        self._decided: dict[KeepList, Decisions] = {}
        """Keep-list -> its decisions: the same lines come every scrape."""

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
        decided = self._decided.setdefault(keep, {})
        if len(decided) > _MAX_DECIDED:  # a page of ever new names: start again rather than grow
            decided.clear()
        return parse_exposition(body.decode("utf-8", errors="replace"), keep, decided)

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
