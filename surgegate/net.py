"""Loopback: the only place load goes, and the only place the stub listens, unless told otherwise."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from surgegate.errors import TargetUnreachable

__all__ = ["is_loopback", "check_reachable"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) is this machine's loopback."""
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_reachable(url: str, timeout_s: float = 5.0) -> None:
    """Connect once to the target's host and port, before any load: a run against nothing would play its whole
    profile to record only connection errors.

    Raises:
        TargetUnreachable: nothing accepts a connection there within ``timeout_s`` (exit code 3).
    """
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout_s):
            pass
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise TargetUnreachable(f"--host: nothing answers at {parts.hostname}:{port} ({reason.lower()}); "
                                f"no load was sent, the run is inconclusive") from None
