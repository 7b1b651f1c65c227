r"""Service-level objectives as validated YAML data: ``load_slo(path) -> SloSet``.

Grammar (every key is checked; an unknown key is an error, never a default)::

    generator:                     # optional: when is the load generator itself the bottleneck
      max_cpu_percent: 90          #   default 90, in (0, 100]: its process CPU (100 = one core)
      sustained: 5s                #   default 5s: this long at or above it makes the run inconclusive
    objectives:                    # required, at least one
      - name: checkout-504-peak    # optional, unique, 1-200 characters; default: made from the fields
        endpoint: POST /checkout   # optional, default '*' (every request); a pattern or a list of them
        metric: status_rate        # required, see below
        status: 504                # status_rate only: a code (504), a class ('5xx'), or a list of them
        bound: 0.5%                # required, with the metric's unit
        scope: {stage: peak, window: 30s}   # optional, default run; see below
        recovery: {after: peak, within: 60s, window: 10s}   # instead of scope, see below
        per_endpoint: false        # optional: true judges each endpoint the pattern matches on its own
        min_requests: 1            # optional, >= 1: a scope or window with fewer requests is not judged

    pattern := '*' | [METHOD ' '] NAME   # NAME as the adapter names requests ('/products/[id]');
                                         # '*' matches any text and '?' one character; '[' is literal
    metric  := p50 | p90 | p95 | p99 | p99.9 | max   bound: NUMBER ('ms' | 's')   observed <= bound
             | error_rate | status_rate              bound: NUMBER '%'            observed <= bound
             | throughput                            bound: NUMBER '/s'           observed >= bound
             | dropped_arrivals                      bound: INTEGER | NUMBER '%'  observed <= bound
    scope   := run                        # the whole run, as one sample
             | {stage: NAME}              # one stage of the profile, as one sample
             | {stage: NAME, window: D}   # every sliding window of D (whole seconds) within the stage
             | {window: D}                # every sliding window of D within the run
    recovery := {after: NAME, within: D, window: D}   # error_rate or status_rate only; window default 10s

``stage: peak`` names the stage called ``peak``, or, when no stage is called
so, the stage the profile marks ``peak: true``: one SLO file fits every profile.
Definitions of the metrics are in ``reports.analysis``; how each scope is judged
is in ``reports.verdict``. Numbers are exact decimals (``0.5%`` is 1/200), so a
value exactly at its bound passes.

Errors are ``BadInput``, one line: ``slo.yaml: objectives[2].bound: "800" has no unit (use ms or s)``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

from reports._slo_checks import check_document, check_patterns
from reports._slo_model import (LATENCY_METRICS, METRICS, Bound, EndpointPattern, Generator, Objective, Recovery,
                                Scope, SloSet, StageLike, StatusMatch)
from surgegate.yaml_file import parse_yaml, read_yaml

__all__ = ["SloSet", "Objective", "EndpointPattern", "StatusMatch", "Bound", "Scope", "Recovery", "Generator",
           "StageLike", "load_slo", "parse_slo", "shipped_slo_path", "LATENCY_METRICS", "METRICS"]


def shipped_slo_path() -> Path:
    """The ``slo.yaml`` shipped at the root of the project: flash-sale defaults."""
    return Path(__file__).resolve().parents[1] / "slo.yaml"


def load_slo(path: str | Path, endpoint_names: Collection[str] | None = None,
             stages: Sequence[StageLike] | None = None) -> SloSet:
    """Read and check an SLO file; call it before the first user spawns.

    Args:
        path: the YAML file; errors name it as given.
        endpoint_names: the adapter's request names (``/checkout`` or ``POST /checkout``); when given,
            a pattern that matches none of them is an error.
        stages: the profile's stages; when given, every stage an objective names must be one of them.

    Raises:
        BadInput: unreadable file, invalid YAML, or a field broken; one line with file, field and reason.
    """
    source = str(path)
    return _check(read_yaml(path, source), source, endpoint_names, stages)


def parse_slo(text: str, source: str, *, endpoint_names: Collection[str] | None = None,
              stages: Sequence[StageLike] | None = None) -> SloSet:
    """Check the YAML ``text`` of an SLO file called ``source``; see ``load_slo``."""
    return _check(parse_yaml(text, source), source, endpoint_names, stages)


def _check(document: object, source: str, endpoint_names: Collection[str] | None,
           stages: Sequence[StageLike] | None) -> SloSet:
    """The checked objectives of ``document``, against the adapter's names and the profile's stages if given."""
    slos = check_document(document, source)
    if endpoint_names is not None:
        check_patterns(slos, endpoint_names)
    if stages is not None:
        slos.check_stages(stages)
    return slos
