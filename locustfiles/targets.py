"""Where load may go: loopback by default, other hosts only when named.

A load test aimed at the wrong host is an attack. surgegate sends load to a
loopback address (127.0.0.0/8, ::1, ``localhost``) unless the user names the
host with ``--allow-target HOST``; everything else is refused before any
request, and any later request to another host is refused and counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from surgegate.errors import BadInput
from surgegate.net import is_loopback

__all__ = ["host_allowed", "check_target", "normalise_hosts"]


def normalise_hosts(hosts: Iterable[str]) -> frozenset[str]:
    """``--allow-target`` values as bare lower-case host names (a URL is accepted too)."""
    out = set()
    for given in hosts:
        host = given.strip()
        try:
            host = urlsplit(host).hostname if "://" in host else host.strip("[]")
        except ValueError:
            host = None
        if not host:
            raise BadInput(f"--allow-target: must name a host, got {given!r}")
        out.add(host.lower())
    return frozenset(out)


def host_allowed(host: str, allowed: frozenset[str]) -> bool:
    """Whether load may go to ``host``: loopback, or named in ``allowed``."""
    host = host.lower().strip("[]")
    return bool(host) and (is_loopback(host) or host in allowed)


def check_target(url: str | None, allowed: frozenset[str]) -> str:
    """The target URL, checked; ``BadInput`` if it is missing, malformed or not allowed."""
    if not url:
        raise BadInput("--host: no target given; e.g. --host http://127.0.0.1:8000 (python -m target_stub prints it)")
    example = "must be an http(s) URL such as http://127.0.0.1:8000"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in 0..65535
    except ValueError:
        raise BadInput(f"--host: {example}, got {url!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(f"--host: {example}, got {url!r}")
    if not host_allowed(parts.hostname, allowed):
        raise BadInput(f"--host: {parts.hostname} is not a loopback address; surgegate sends load only to "
                       f"loopback unless told otherwise: add --allow-target {parts.hostname}")
    return url.rstrip("/")
