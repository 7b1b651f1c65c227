"""The exception tree of surgegate.

    SurgegateError            exit_code = 3 (inconclusive) unless a subclass says otherwise
     +-- BadInput             exit_code = 2: arguments, profiles, presets, SLO files
     +-- TargetUnreachable    exit_code = 3

Only entry points (``main`` functions) catch ``SurgegateError``; they print
one ``Error: <message>`` line on stderr and exit with ``exit_code``.
Messages name the file or option, the field and what was wrong, with the
value that was given: ``profiles/spike.yaml: stages[2].users: must be >= 0, got -5``.
"""

from surgegate import exit_codes

__all__ = ["SurgegateError", "BadInput", "TargetUnreachable"]


class SurgegateError(Exception):
    """Base of every error surgegate reports to a user."""

    exit_code = exit_codes.INCONCLUSIVE


class BadInput(SurgegateError):
    """The user gave something surgegate cannot use; nothing was sent."""

    exit_code = exit_codes.BAD_INPUT


class TargetUnreachable(SurgegateError):
    """The target did not answer at all."""

    exit_code = exit_codes.INCONCLUSIVE
