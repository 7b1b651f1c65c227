"""Secrets kept out of manifests, logs and gap reasons: ``redact_argv`` and ``shown_url``.

``--pg-dsn`` may hold a password (better given as ``SURGEGATE_PG_DSN``), and so may a
``--metrics-url`` (``http://user:password@host/metrics``): the command line the manifest
records shows the DSN as ``***`` and URL passwords as ``***``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

__all__ = ["redact_argv", "shown_url"]

_SECRET_OPTIONS = ("--pg-dsn",)
_URL_OPTIONS = ("--metrics-url",)


def redact_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` fit for a manifest or a log: ``--pg-dsn``'s value as ``***``, URL passwords as ``***``.

    Abbreviations argparse accepts (``--pg-d``) are recognised too.
    """
    out: list[str] = []
    pending = None
    for arg in argv:
        if pending is not None:
            out.append("***" if pending in _SECRET_OPTIONS else _hide_password(arg))
            pending = None
            continue
        given, eq, value = arg.partition("=")
        option = _option(given)
        if option is None:
            out.append(arg)
        elif eq:
            out.append(f"{given}={'***' if option in _SECRET_OPTIONS else _hide_password(value)}")
        else:
            out.append(arg)
            pending = option
    return out


def _option(given: str) -> str | None:
    """The secret-bearing option ``given`` names, in full or abbreviated, if any."""
    if len(given) < 4 or not given.startswith("--"):
        return None
    return next((o for o in _SECRET_OPTIONS + _URL_OPTIONS if o.startswith(given)), None)


def _hide_password(value: str) -> str:
    return re.sub(r"(://[^/@:]*:)[^/@]*@", r"\1***@", value)


def shown_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        userinfo = f"{parts.username or ''}:***@"
        return parts._replace(netloc=userinfo + parts.netloc.rpartition("@")[2]).geturl()
    except ValueError:
        return re.sub(r"//[^/@]*@", "//***@", url)
