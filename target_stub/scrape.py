"""Read a Prometheus endpoint into numbers one can add up.

``Samples`` maps a sample name to its series: ``{labels: value}`` where
labels is a sorted tuple of (name, value) pairs. ``total()`` sums the series
that match some labels, so a test or the demo can ask "how many 504s on
checkout" in one line.
"""

from __future__ import annotations

import requests
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Samples", "scrape", "parse"]


class Samples(dict):
    """Sample name -> {sorted label pairs: value}."""

    def total(self, name: str, **labels: str) -> float:
        """Sum of the series of ``name`` whose labels include ``labels`` (0 if none)."""
        wanted = set(labels.items())
        return sum(v for k, v in self.get(name, {}).items() if wanted <= set(k))

    def value(self, name: str) -> float:
        """The one value of an unlabelled gauge or counter."""
        return self.total(name)


def parse(text: str) -> Samples:
    """Samples from the Prometheus text format."""
    out = Samples()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def scrape(url: str, timeout_s: float = 10.0) -> Samples:
    """Fetch and parse ``url`` (a ``/metrics`` endpoint on loopback)."""
    with requests.Session() as session:
        session.trust_env = False  # loopback only: never through a proxy from the environment
        response = session.get(url, timeout=timeout_s)
        response.raise_for_status()
        return parse(response.text)
