"""The stub's own log lines (its banner, a crashed app, ``Error:``): ``say(stream, text)``.

The stub is started by others (``StubProcess``, the demo, a shell pipeline, CI) with its stdout and
stderr on pipes, and whoever reads them may stop reading long before the stub stops: a test that
read the banner and moved on, ``python -m target_stub | head -1``. A write to a pipe whose read end
is closed raises ``BrokenPipeError`` (Python ignores SIGPIPE). Raised, it would end the stub at its
banner with a traceback and exit 1, and buffered text left in ``sys.stdout`` would make the
interpreter's last flush fail too (exit 120) after an otherwise clean SIGTERM.

So a log line nobody can read any more is dropped: the stream is pointed at ``/dev/null``, and the
stub goes on serving and stops with its normal code.
"""

from __future__ import annotations

import io
import os
from typing import TextIO

__all__ = ["say"]


def say(stream: TextIO, text: str) -> None:
    """Write ``text`` and a newline to ``stream`` and flush it; if its reader has gone, drop it and what follows."""
    try:
        stream.write(text + "\n")
        stream.flush()
    except BrokenPipeError:
        _to_devnull(stream)


def _to_devnull(stream: TextIO) -> None:
    """Point ``stream``'s file descriptor at /dev/null, so its buffer and every later write go nowhere quietly."""
    try:
        fd = stream.fileno()
    except (OSError, io.UnsupportedOperation):
        return  # not a file (a StringIO): nothing to redirect
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)
