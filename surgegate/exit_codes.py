"""Exit codes, one meaning each, everywhere surgegate exits.

Every command (the locustfile on the master or local runner, ``surgegate``
subcommands, ``python -m target_stub``) exits with one of these, so that a CI
job can branch on the code alone.
"""

__all__ = ["READY", "NOT_READY", "BAD_INPUT", "INCONCLUSIVE", "INTERRUPTED"]

READY = 0
"""Every objective was met."""

NOT_READY = 1
"""At least one objective was breached."""

BAD_INPUT = 2
"""Bad arguments, profile, SLO file, preset or results folder; nothing was sent."""

INCONCLUSIVE = 3
"""The run did not measure what it claims: target unreachable, no data,
load generator saturated, results incomplete."""

INTERRUPTED = 4
"""Stopped by Ctrl-C or SIGTERM; what was recorded is still written."""
