r"""``surgegate profile from-log``: turn an access log into an open-model profile.

Data flow: ``LogReader`` (``profiles._access_log``) yields records; each is
filed by second, as a funnel step (``profiles._funnel.StepMatcher``, the
adapter's ``url_patterns``) or, for a CSV, as journeys started. The window
(``--from``/``--to``, default the whole log) is cut into intervals of
``--interval``; each interval becomes one stage whose ``arrival_rate`` is the
journeys started in it per second::

    journeys/s
      12 |          ___
         |       __|   |__
       2 |______|         |_______     one stage per interval, e.g. 10 s each;
         +------+---+---+-+------->    rate = journeys started in it / 10
         09:00           09:30         (log time; the replay shrinks it by time_scale)

What counts as a journey start, and how the mix is fitted, is in
``profiles._funnel``: one request to an entry step (browse or sale) is one
journey; the mix is the non-negative least-squares fit of the journeys'
expected step counts to the log's. A CSV has no URLs: its counts are
journeys started, and its mix is ``--mix`` (default ``DEFAULT_CSV_MIX``).

``arrival_rate`` is the log's own rate (journeys per real second);
``time_scale`` shortens the stages, as it does for every profile, and does
not change the rate. The last interval may be shorter than the others; it is
left out (and said so) when it would last less than the 1 replay second a
stage needs. The profile is written to ``OUT.part``, loaded with
``profiles.load_profile`` (so it is valid by the same rules as any profile),
and only then renamed to ``OUT``.
"""

from __future__ import annotations

import bisect
import math
import os
import re
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from profiles._access_log import LogReader, parse_log_time
from profiles._durations import parse_duration
from profiles._from_log_text import clock, render, span
from profiles._funnel import ENTRY_STEPS, STEPS, StepMatcher, fit_mix, whole_percent
from profiles._loader import load_profile
from surgegate.errors import BadInput

__all__ = ["DEFAULT_CSV_MIX", "FromLogOptions", "FromLog", "profile_from_log", "parse_moment"]

DEFAULT_CSV_MIX: Mapping[str, int] = {"browser": 60, "abandoner": 20, "buyer": 15, "sniper": 5}
"""The mix of a profile made from a CSV without ``--mix`` (the ``spike`` profile's): an assumption, and said so."""

MIN_STAGE_S = 1.0
"""A stage lasts at least one replay second (Locust ticks once a second; see ``profiles._build``)."""

_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class FromLogOptions:
    """What the command line gave; checked by ``profile_from_log``."""

    log: str
    out: str
    fmt: str = "auto"
    start: str | None = None
    end: str | None = None
    interval: str = "10s"
    time_scale: float = 1.0
    patterns: Mapping[str, str] = field(default_factory=dict)
    adapter: str = "stub"
    name: str | None = None
    max_in_flight: int | None = None
    mix: Mapping[str, int] | None = None


@dataclass(frozen=True)
class FromLog:
    """The profile that was written, and the numbers the summary and the file's comments give."""

    name: str
    yaml_text: str
    summary: str
    rates: tuple[float, ...]
    """Each stage's arrival rate, journeys per second, in order."""
    journeys: int
    mix: Mapping[str, int]


def parse_moment(text: str, first: datetime, option: str) -> datetime:
    """A ``--from``/``--to`` value as an aware datetime.

    Accepted: ``+DURATION`` after the log's first record (``+5m``); ``HH:MM[:SS]`` on the day of the
    first record; the log's own ``20/Nov/2026:09:05:00 +0000``; ISO 8601. Without an offset, a time
    is in the offset of the log's first record.
    """
    stripped = text.strip()
    try:
        if stripped.startswith("+"):
            return first + timedelta(seconds=parse_duration(stripped[1:]))
        clock = _CLOCK.fullmatch(stripped)
        if clock:
            hour, minute, second = (int(part or 0) for part in clock.groups())
            return first.replace(hour=hour, minute=minute, second=second, microsecond=0)
        if "/" in stripped:
            return parse_log_time(stripped)
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        raise BadInput(f"{option}: must be +DURATION (after the first record), HH:MM[:SS], ISO 8601 or "
                       f"'20/Nov/2026:09:05:00 +0000', got {text!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=first.tzinfo)


@dataclass
class _BySecond:
    """What the log holds, filed by Unix second: step requests, unmatched requests, CSV journeys."""

    counts: dict[int, Counter] = field(default_factory=lambda: defaultdict(Counter))
    first: datetime | None = None
    _seconds: list[int] | None = None

    def span(self, start_s: int, end_s: int) -> Counter:
        """Everything filed in ``[start_s, end_s)``; visits only the seconds that hold something."""
        if self._seconds is None or len(self._seconds) != len(self.counts):
            self._seconds = sorted(self.counts)
        total: Counter = Counter()
        for second in self._seconds[bisect.bisect_left(self._seconds, start_s):
                                    bisect.bisect_left(self._seconds, end_s)]:
            total.update(self.counts[second])
        return total


def _checked(options: FromLogOptions) -> tuple[int, str]:
    """The interval in whole seconds and the profile's name; BadInput for a bad option."""
    try:
        interval = parse_duration(options.interval)
    except ValueError as error:
        raise BadInput(f"--interval: {error}") from None
    if interval != int(interval):
        raise BadInput(f"--interval: must be a whole number of seconds, got {options.interval!r}")
    if not (0 < options.time_scale <= 1) or not math.isfinite(options.time_scale):
        raise BadInput(f"--time-scale: must be > 0 and <= 1, got {options.time_scale:g}")
    if interval * options.time_scale < MIN_STAGE_S:
        raise BadInput(f"--interval {int(interval)}s at --time-scale {options.time_scale:g} makes "
                       f"{interval * options.time_scale:g} s stages, and a stage needs >= 1 s (Locust ticks once "
                       f"a second); use --interval >= {math.ceil(MIN_STAGE_S / options.time_scale)}s "
                       f"or --time-scale >= {MIN_STAGE_S / interval:g}")
    if options.max_in_flight is not None and options.max_in_flight < 1:
        raise BadInput(f"--max-in-flight: must be >= 1, got {options.max_in_flight}")
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(options.log).name.split(".")[0]).strip("-_") or "from-log"
    name = options.name if options.name is not None else stem
    if not _NAME.fullmatch(name):
        raise BadInput(f"--name: must be letters, digits, '-' or '_', starting with a letter or digit, got {name!r}")
    return int(interval), name


def _read(reader: LogReader, matcher: StepMatcher | None) -> _BySecond:
    """File every record by second: its step (or ``unmatched``), or for a CSV its ``journeys``."""
    filed = _BySecond()
    for record in reader:
        if filed.first is None or record.time < filed.first:
            filed.first = record.time if filed.first is None else record.time.astimezone(filed.first.tzinfo)
        second = math.floor(record.time.timestamp())
        if record.target is None:
            filed.counts[second]["journeys"] += record.count
        else:
            filed.counts[second][(matcher and matcher.step_of(record.target)) or "unmatched"] += 1
    if filed.first is None:
        if reader.first_bad is None:
            raise BadInput(f"{reader.path}: empty, no request to replay")
        number, reason = reader.first_bad
        raise BadInput(f"{reader.path}: line {number}: {reason}; none of the {reader.lines} lines could be read")
    return filed


def _window(options: FromLogOptions, filed: _BySecond, interval_s: int) -> tuple[int, int]:
    """``[start_s, end_s)`` in Unix seconds, from --from/--to or the log's first and last records."""
    assert filed.first is not None
    seconds = filed.counts.keys()
    start = parse_moment(options.start, filed.first, "--from") if options.start else None
    end = parse_moment(options.end, filed.first, "--to") if options.end else None
    start_s = math.floor(start.timestamp()) if start else min(seconds)
    end_s = math.ceil(end.timestamp()) if end else max(seconds) + 1
    if end_s <= start_s:
        raise BadInput(f"--from {_clock(start_s, filed)} is not before --to {_clock(end_s, filed)}")
    if not any(start_s <= second < end_s for second in seconds):
        raise BadInput(f"{options.log}: no request between {_clock(start_s, filed)} and {_clock(end_s, filed)}; "
                       f"the log runs from {_clock(min(seconds), filed)} to {_clock(max(seconds) + 1, filed)}")
    if interval_s > end_s - start_s:
        raise BadInput(f"--interval {interval_s}s is longer than the window ({span(end_s - start_s)}): "
                       "no whole interval to replay; shorten it or widen --from/--to")
    return start_s, end_s


def profile_from_log(options: FromLogOptions) -> FromLog:
    """Read the log, build the profile, validate it with ``load_profile`` and write it to ``options.out``.

    Raises:
        BadInput: a bad option or log, nothing usable in the window, or a profile that does not validate.
    """
    interval_s, name = _checked(options)
    reader = LogReader(options.log, options.fmt)
    csv = reader.format == "csv"  # a CSV has no URLs: no patterns needed, none checked
    filed = _read(reader, None if csv else StepMatcher(options.patterns, f"--adapter {options.adapter}"))
    start_s, end_s = _window(options, filed, interval_s)
    bounds = list(range(start_s, end_s, interval_s)) + [end_s]
    left_out = 0
    if (bounds[-1] - bounds[-2]) * options.time_scale < MIN_STAGE_S:  # a tail too short to be a stage
        left_out, bounds = bounds[-1] - bounds[-2], bounds[:-1]
    stages = [filed.span(a, b) for a, b in zip(bounds, bounds[1:])]
    starts = [stage["journeys"] if csv else sum(stage[step] for step in ENTRY_STEPS) for stage in stages]
    if csv:
        _check_row_spacing(filed, interval_s, start_s, end_s)
    window = filed.span(bounds[0], bounds[-1])
    if not sum(starts):
        what = "journeys" if csv else f"request to an entry step ({' or '.join(ENTRY_STEPS)}) of --adapter " \
                                      f"{options.adapter}"
        raise BadInput(f"{options.log}: no {what} between {_clock(bounds[0], filed)} and "
                       f"{_clock(bounds[-1], filed)}: nothing to replay")
    mix, mix_note = _mix(options, csv, window)
    rates = tuple(count / (b - a) for count, a, b in zip(starts, bounds, bounds[1:]))
    text, summary = render(options=options, name=name, reader=reader, filed=filed, bounds=bounds, starts=starts,
                           rates=rates, mix=mix, mix_note=mix_note, window=window, left_out_s=left_out, csv=csv)
    _write_validated(Path(options.out), text)
    return FromLog(name=name, yaml_text=text, summary=summary, rates=rates, journeys=sum(starts), mix=mix)


def _mix(options: FromLogOptions, csv: bool, window: Counter) -> tuple[dict[str, int], list[str]]:
    """The mix and the comment lines that say where it came from."""
    if options.mix is not None:
        return dict(options.mix), ["given with --mix"]
    if csv:
        return dict(DEFAULT_CSV_MIX), ["assumed, a CSV has no URLs: set your own with --mix",
                                       "this is DEFAULT_CSV_MIX of profiles/from_log.py (the spike profile's)"]
    fit = fit_mix({step: window[step] for step in STEPS})
    lines = ["fitted to the log's requests per step by non-negative least squares",
             "the journey counts whose expected requests per step (profiles/_funnel.py JOURNEY_STEPS)",
             "best match the log's: " + ", ".join(f"{journey} {count:.1f}" for journey, count in fit.journeys.items()),
             f"{'step':<10}{'log':>9}{'fitted':>10}"]
    lines += [f"{step:<10}{window[step]:>9}{fit.predicted[step]:>10.1f}" for step in STEPS]
    return whole_percent(fit.journeys), lines


def _check_row_spacing(filed: _BySecond, interval_s: int, start_s: int, end_s: int) -> None:
    """A CSV of one row a minute cut into 10 s intervals would be five empty intervals in six: refuse it."""
    rows = sorted(second for second in filed.counts if start_s <= second < end_s)
    gaps = [b - a for a, b in zip(rows, rows[1:])]
    if gaps and min(gaps) > interval_s:
        raise BadInput(f"--interval {interval_s}s is shorter than the {min(gaps)} s between the CSV's rows: most "
                       f"intervals would be empty; use --interval {min(gaps)}s or a multiple of it")


def _write_validated(out: Path, text: str) -> None:
    """Write *text* to ``OUT.part``, load it as any profile is loaded, then rename it to *out*."""
    if out.is_dir():
        raise BadInput(f"-o: {out} is a folder; name the profile file, e.g. {out / 'profile.yaml'}")
    part = out.with_name(out.name + ".part")
    try:
        part.write_text(text, encoding="utf-8")
    except OSError as error:
        raise BadInput(f"-o: cannot write {out} ({error.strerror or error})") from None
    try:
        load_profile(part)
        os.replace(part, out)
    except BadInput as error:
        raise BadInput(f"{out}: the profile made from the log does not validate: {error}") from None
    except OSError as error:
        raise BadInput(f"-o: cannot write {out} ({error.strerror or error})") from None
    finally:
        part.unlink(missing_ok=True)


def _clock(second: int, filed: _BySecond) -> str:
    assert filed.first is not None
    return clock(second, filed.first.tzinfo)
