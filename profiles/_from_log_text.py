"""The words of ``surgegate profile from-log``: the profile file's text (comments first) and the summary.

Pure functions of numbers ``profiles.from_log`` computed; nothing here reads
the log. Anything taken from the user or the log (a path, a bad line's
reason) is printed as ``repr`` when it holds a non-printable character, so
that neither the YAML nor the terminal can be broken by it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any

from profiles._funnel import ENTRY_STEPS

__all__ = ["render", "clock", "span"]


def clock(second: int, zone: tzinfo | None) -> str:
    """A Unix second in the log's offset: ``2026-11-20 09:00:00 +0000``."""
    return datetime.fromtimestamp(second, zone).strftime("%Y-%m-%d %H:%M:%S %z")


def span(seconds: float) -> str:
    """``45 s``, ``30 min``, ``1 h 5 min 30 s``."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else "", f"{secs} s" if secs else ""]
    return " ".join(part for part in parts if part) or f"{seconds:g} s"


def _plain(text: str) -> str:
    return text if text.isprintable() else repr(text)


def _rate(value: float) -> str:
    """Journeys per second as written in the file: exact to a millionth (3 in 7 s is 0.428571)."""
    return repr(round(value, 6))


def _count(value: float) -> str:
    return f"{value:,.0f}"


def render(*, options: Any, name: str, reader: Any, filed: Any, bounds: Sequence[int], starts: Sequence[int],
           rates: Sequence[float], mix: Mapping[str, int], mix_note: Sequence[str], window: Counter,
           left_out_s: int, csv: bool) -> tuple[str, str]:
    """The profile's YAML text and the summary printed after writing it."""
    zone = filed.first.tzinfo
    lengths = [b - a for a, b in zip(bounds, bounds[1:])]
    interval_s = lengths[0]
    shorter = [length for length in lengths if length != interval_s]
    layout = f"{lengths.count(interval_s)} of {interval_s} s" + (f" and one of {shorter[0]} s" if shorter else "")
    real_s = bounds[-1] - bounds[0]
    replay = f"time_scale {options.time_scale:g}: replayed in {span(real_s * options.time_scale)}"
    everything = sum(sum(counts.values()) for counts in filed.counts.values())
    in_window = sum(window.values())
    peak = max(range(len(rates)), key=lambda index: (rates[index], -index))
    what = "journeys" if csv else "requests"
    skipped = f"{_count(reader.skipped)} skipped"
    if reader.first_bad is not None:
        skipped += f" (the first at line {reader.first_bad[0]}: {_plain(reader.first_bad[1])})"
    head = [
        f"{name}: made by `surgegate profile from-log` from {_plain(options.log)} ({reader.format} format).",
        f"Window: {clock(bounds[0], zone)} to {clock(bounds[-1], zone)} ({span(real_s)}), {len(lengths)} stages, "
        f"{layout}; {replay}.",
    ]
    if left_out_s:
        head.append(f"Left out: the last {left_out_s} s of the window, too short for a stage of >= 1 replay second.")
    head.append(f"Lines: {_count(reader.lines)} read, {skipped}; "
                f"{_count(everything - in_window)} {what} outside the window.")
    if not csv:
        head.append(f"Requests in the window: {_count(in_window)}; {_count(window['unmatched'])} matched no step "
                    f"of --adapter {_plain(options.adapter)}.")
    head += [
        "Arrival rate: journeys started per second of the log (time_scale shortens the stages, not the rate).",
        ("  A CSV row's count is journeys started." if csv else
         f"  A journey start is one request to an entry step ({' or '.join(ENTRY_STEPS)}): every journey of"),
    ]
    if not csv:
        head.append("  locustfiles/journeys.py makes exactly one (see profiles/_funnel.py).")
    head.append(f"  {_count(sum(starts))} journeys in all; peak {rates[peak]:.3g}/s in the stage from "
                f"{clock(bounds[peak], zone)[11:19]}.")
    head.append(f"Mix: {mix_note[0]}")
    head += [f"  {line}" for line in mix_note[1:]]
    if options.max_in_flight is not None:
        head.append("max_in_flight: given with --max-in-flight.")
    width = max(3, len(str(len(lengths))))
    stage_lines = []
    for index, (start, length, rate) in enumerate(zip(bounds, lengths, rates)):
        local = datetime.fromtimestamp(start, zone)
        fields = f"name: w{index + 1:0{width}d}-{local:%Hh%Mm%Ss}, duration: {length}s, arrival_rate: {_rate(rate)}"
        stage_lines.append(f"  - {{{fields}{', peak: true' if index == peak else ''}}}")
    description = (f"Replay of {_plain(options.log)} from {clock(bounds[0], zone)} to {clock(bounds[-1], zone)}: "
                   f"{_count(sum(starts))} journeys, peak {rates[peak]:.3g}/s.")
    body = [
        f"name: {name}",
        f"description: {json.dumps(description)}",
        f"time_scale: {options.time_scale!r}",
        "mix: {" + ", ".join(f"{journey}: {weight}" for journey, weight in mix.items()) + "}",
    ]
    if options.max_in_flight is not None:
        body.append(f"max_in_flight: {options.max_in_flight}")
    text = "\n".join(["# " + line for line in head] + body + ["stages:"] + stage_lines) + "\n"
    summary = [
        f"wrote {_plain(options.out)}: profile '{name}', {len(lengths)} stages ({layout}) from "
        f"{clock(bounds[0], zone)} to {clock(bounds[-1], zone)[11:]} ({span(real_s)}), {replay}",
        f"  journeys: {_count(sum(starts))} started, peak {rates[peak]:.3g}/s from "
        f"{clock(bounds[peak], zone)[11:19]}, mean {sum(starts) / real_s:.3g}/s"
        + ("" if csv else f" (requests to {' or '.join(ENTRY_STEPS)})"),
        "  mix: " + ", ".join(f"{journey} {weight}" for journey, weight in mix.items()) + f" ({mix_note[0]})",
        f"  lines: {_count(reader.lines)} read, {skipped}, {_count(everything - in_window)} {what} outside the window"
        + ("" if csv else f", {_count(window['unmatched'])} matched no step"),
    ]
    if left_out_s:
        summary.append(f"  left out: the last {left_out_s} s of the window (shorter than a 1 s replay stage)")
    return text, "\n".join(summary) + "\n"
