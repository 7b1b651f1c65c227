r"""Read an access log line by line: nginx/Apache combined format, or a ``timestamp,count`` CSV.

Combined (and common) log format, as nginx and Apache write it by default::

    203.0.113.7 - - [20/Nov/2026:09:00:03 +0000] "GET /products?page=2 HTTP/1.1" 200 5120 "-" "Mozilla/5.0"
    client      ident user [time]                  "METHOD TARGET PROTOCOL"   status size [referer agent ...]

Fields after the size (referer, user agent, anything a custom format adds)
are ignored. A target may be absolute (``http://shop/products``); only its
path and query string are kept.

CSV, for when only a traffic curve is at hand (one row per second or per
minute, from a dashboard export)::

    timestamp,count                  # optional header, first line only
    2026-11-20T09:00:00+00:00,12     # ISO 8601 (no offset: UTC) or Unix seconds,
    1795165210,15                    # then journeys started at that time, whole number >= 0

Blank lines (and ``#`` comment lines in a CSV) are not records and are not
counted. Any other line that cannot be read is *skipped*: ``LogReader``
counts them and keeps the first one's line number and reason, quoted with
``repr`` so a hostile line cannot put control characters on the terminal.
A file starting with the gzip magic bytes is read through gzip.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import BinaryIO

from surgegate.errors import BadInput

__all__ = ["FORMATS", "Record", "LogReader", "parse_log_time", "quote"]

FORMATS = ("auto", "combined", "csv")

MAX_LINE_BYTES = 64 * 1024
"""Longer lines are skipped: a request line nginx accepts is at most 8 KiB (large_client_header_buffers)."""

_SNIFF_LINES = 20
"""``auto`` reads up to this many records and picks the format that reads most of them."""

_QUOTED = r'"(?:[^"\\]|\\.)*"'
_COMBINED = re.compile(rf'(?P<client>\S+) \S+ \S+ \[(?P<time>[^\]]*)\] "(?P<request>(?:[^"\\]|\\.)*)" '
                       rf'(?P<status>\d{{3}}) (?:\d+|-)(?: {_QUOTED} {_QUOTED})?(?:\s|$)')
_LOG_TIME = re.compile(r"(\d{2})/([A-Za-z]{3})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})")
_MONTHS = {name: number for number, name in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
_METHOD = re.compile(r"[A-Z]{1,20}")
_ABSOLUTE = re.compile(r"https?://[^/?#]*", re.IGNORECASE)
_EPOCH = re.compile(r"\d{9,11}(?:\.\d+)?")


def quote(text: str, limit: int = 60) -> str:
    """*text* in quotes, cut to *limit* characters; ``repr`` when it holds anything non-printable.

    Safe to print whatever the log held: no control character reaches the terminal or a YAML comment.
    """
    shown = f"'{text}'" if text.isprintable() else repr(text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


@dataclass(frozen=True)
class Record:
    """One usable line: ``count`` journeys (CSV) or one request (``target`` set) at ``time``."""

    line: int
    time: datetime
    target: str | None
    count: int


class _Bad(ValueError):
    """A line that cannot be read; the message is the reason."""


def parse_log_time(text: str) -> datetime:
    """``20/Nov/2026:09:00:03 +0000`` as an aware datetime; ValueError otherwise."""
    match = _LOG_TIME.fullmatch(text.strip())
    if not match or match.group(2).lower() not in _MONTHS:
        raise ValueError(f"time is not like '20/Nov/2026:09:00:03 +0000' (got {quote(text)})")
    day, month, year, hour, minute, second, sign, off_h, off_m = match.groups()
    offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (-1 if sign == "-" else 1)
    try:
        return datetime(int(year), _MONTHS[month.lower()], int(day), int(hour), int(minute), int(second),
                        tzinfo=timezone(offset))
    except ValueError:
        raise ValueError(f"time is not a real date and time (got {quote(text)})") from None


def _combined(number: int, text: str) -> Record:
    match = _COMBINED.match(text)
    if match is None:
        raise _Bad(f"not a combined log line (client ident user [time] \"request\" status size), got {quote(text)}")
    try:
        time = parse_log_time(match["time"])
    except ValueError as error:
        raise _Bad(str(error)) from None
    parts = match["request"].split(" ")
    if len(parts) != 3 or not _METHOD.fullmatch(parts[0]) or not parts[2].startswith("HTTP/"):
        raise _Bad(f"request is not 'METHOD /path HTTP/x' (got {quote(match['request'])})")
    target = parts[1]
    if _ABSOLUTE.match(target):  # a proxy-style absolute URI: keep the path and query
        target = "/" + _ABSOLUTE.sub("", target, count=1).lstrip("/")
    if not target.startswith("/"):
        raise _Bad(f"request target is not a path (got {quote(parts[1])})")
    return Record(number, time, target, 1)


def _csv_time(text: str) -> datetime:
    stripped = text.strip()
    if _EPOCH.fullmatch(stripped):
        return datetime.fromtimestamp(float(stripped), UTC)
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        raise _Bad(f"timestamp is neither ISO 8601 nor Unix seconds (got {quote(text)})") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _csv(number: int, text: str) -> Record:
    fields = text.split(",")
    if len(fields) != 2:
        raise _Bad(f"not a 'timestamp,count' row ({len(fields)} fields), got {quote(text)}")
    time = _csv_time(fields[0])
    count = fields[1].strip()
    if not count.isdigit() or not count.isascii():
        raise _Bad(f"count must be a whole number >= 0 (got {quote(fields[1])})")
    return Record(number, time, None, int(count))


_PARSERS = {"combined": _combined, "csv": _csv}


class LogReader:
    """Iterate over the usable records of one log; count and remember what was skipped.

    Iterate once. After iteration, ``lines`` is the number of non-blank lines
    read, ``skipped`` how many of them were unusable, and ``first_bad`` the
    line number and reason of the first (None when none was).

    Raises (on construction or iteration):
        BadInput: the file cannot be read, or ``auto`` recognises no format in its first lines.
    """

    def __init__(self, path: str | Path, fmt: str = "auto") -> None:
        """Open *path* and settle the format (reading the first lines for ``auto``)."""
        self.path = str(path)
        self.lines = 0
        self.skipped = 0
        self.first_bad: tuple[int, str] | None = None
        self.format = fmt if fmt != "auto" else self._sniff()

    def __iter__(self) -> Iterator[Record]:
        """Yield each usable record in file order."""
        parse = _PARSERS[self.format]
        header_allowed = self.format == "csv"
        for number, text in self._texts():
            if text is None:
                self._skip(number, f"longer than {MAX_LINE_BYTES // 1024} KiB")
                continue
            if not text.strip() or (self.format == "csv" and text.lstrip().startswith("#")):
                continue
            self.lines += 1
            if header_allowed and text.replace(" ", "").lower() == "timestamp,count":
                self.lines -= 1
                header_allowed = False
                continue
            header_allowed = False
            try:
                yield parse(number, text)
            except _Bad as error:
                self._skip(number, str(error))

    def _skip(self, number: int, reason: str) -> None:
        self.skipped += 1
        if self.first_bad is None:
            self.first_bad = (number, reason)

    def _sniff(self) -> str:
        """The format that reads most of the first records; BadInput when neither reads any."""
        samples: list[tuple[int, str]] = []
        for number, text in self._texts():
            if text is not None and text.strip() and not text.lstrip().startswith("#"):
                if text.replace(" ", "").lower() == "timestamp,count":
                    return "csv"
                samples.append((number, text))
            if len(samples) >= _SNIFF_LINES:
                break
        if not samples:
            raise BadInput(f"{self.path}: empty, no request to replay")
        scores = {name: sum(_reads(parse, n, t) for n, t in samples) for name, parse in _PARSERS.items()}
        best = max(scores, key=lambda name: scores[name])
        if scores[best] == 0:
            number, text = samples[0]
            raise BadInput(f"{self.path}: line {number}: neither a combined log line nor 'timestamp,count' "
                           f"(got {quote(text)}); none of the first {len(samples)} lines is; use --format")
        return best

    def _texts(self) -> Iterator[tuple[int, str | None]]:
        """(line number, text without the line end), None for a line too long to read."""
        try:
            with open(self.path, "rb") as raw:
                gzipped = raw.peek(2)[:2] == b"\x1f\x8b"  # a rotated log, access.log.2.gz
                stream: BinaryIO = gzip.open(raw) if gzipped else raw  # type: ignore[assignment]
                number = 0
                while True:
                    chunk = stream.readline(MAX_LINE_BYTES + 1)
                    if not chunk:
                        return
                    number += 1
                    if len(chunk) > MAX_LINE_BYTES and not chunk.endswith(b"\n"):
                        while chunk and not chunk.endswith(b"\n"):  # drop the rest of the long line
                            chunk = stream.readline(MAX_LINE_BYTES)
                        yield number, None
                        continue
                    yield number, chunk.rstrip(b"\r\n").decode("utf-8", errors="backslashreplace")
        except FileNotFoundError:
            raise BadInput(f"{self.path}: no such file") from None
        except IsADirectoryError:
            raise BadInput(f"{self.path}: is a folder, not a log file") from None
        except (OSError, EOFError) as error:  # gzip.BadGzipFile is an OSError
            raise BadInput(f"{self.path}: cannot read ({getattr(error, 'strerror', None) or error})") from None


def _reads(parse, number: int, text: str) -> bool:
    try:
        parse(number, text)
    except _Bad:
        return False
    return True
