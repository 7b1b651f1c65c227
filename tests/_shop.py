"""Helpers for talking to the stub shop directly from a test."""

from __future__ import annotations

import requests

ORDER = {"customer": {"name": "Ada Lovelace", "email": "ada@example.com", "address": "12 Analytical Row"},
         "payment": {"card_token": "tok_visa"}}
"""The checkout body, less its cart id."""


def session() -> requests.Session:
    """A requests session that never goes through a proxy from the environment (loopback only)."""
    s = requests.Session()
    s.trust_env = False
    return s
