"""The shop's endpoints, as templates, shared by the app and the gateway.

Metrics are labelled with the template (``/products/{id}``), never the raw
path, so that the number of series stays bounded whatever the ids; the
gateway and the app use this one table so that their labels line up.
"""

from __future__ import annotations

import re

__all__ = ["ENDPOINTS", "endpoint_of", "OTHER"]

OTHER = "other"
"""The label of a path that is none of the shop's endpoints."""

ENDPOINTS: tuple[str, ...] = (
    "/products",
    "/products/{id}",
    "/search",
    "/sale",
    "/carts",
    "/carts/{id}",
    "/carts/{id}/items",
    "/checkout",
    "/healthz",
    "/metrics",
)

_PATTERNS = [(re.compile("^" + re.sub(r"\{\w+\}", r"[^/]+", t) + "/?$"), t) for t in ENDPOINTS]


def endpoint_of(path: str) -> str:
    """The template that ``path`` (without query string) falls under, or ``OTHER``."""
    for pattern, template in _PATTERNS:
        if pattern.match(path):
            return template
    return OTHER
