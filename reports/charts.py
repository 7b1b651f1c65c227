"""The report's charts as inline SVG text: ``draw_charts(timelines) -> Charts``.

Four figures, each a column of panels per run (one run, or base | current side by side with a
shared y scale per row, so a before/after reads at a glance)::

    load        users running vs planned (target); requests and ok requests per second
                (open model: arrivals planned per second, started and dropped, and shoppers in flight)
    latency     p50 / p95 / p99 per bin of each key endpoint (log scale, shared by the panels)
    errors      error rate and 504 rate, % of the bin's requests (and each key endpoint's 504 rate)
    pool        the server's connections in use vs its limit; requests waiting for one
                (None when no run has pool metrics: the report says so instead)

Every figure has the same width, margins and x range (0 to the run's last second), so the
panels line up down the page as one time axis; stages are shaded (the peak in orange) and the
breaking point, the first second an objective breached, is a red dashed line on every panel.

Deterministic: the same timeline gives the same bytes. matplotlib is used without pyplot
(no global state, nothing drawn on screen), with ``svg.hashsalt`` fixed per figure (its ids
are then stable, and differ between figures, since they share one HTML document), no date in
the metadata, and text as SVG text (``svg.fonttype: none``: a fraction of the size of glyph
outlines, searchable, and drawn in the reader's sans-serif font; no font is fetched). Names
go through ``safe_text.visible``; math parsing is off, so a ``$`` in a name is a dollar sign.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from reports.objectives import format_value
from reports.safe_text import visible
from reports.timeline import LATENCY_PANELS, Timeline

__all__ = ["Charts", "draw_charts"]

_WIDTH_IN, _ROW_IN, _MARGIN_IN, _RIGHT = 10.0, 1.55, 0.6, 0.8
_CHAR_SHARE = 0.0085
"""Share of a one-column axis's width that one 7-pt character takes (~4.3 pt of ~520 pt)."""
_COLOURS = {"main": "#1f4e9c", "second": "#e07b00", "third": "#7a3fb0", "limit": "#555555", "breach": "#c62828",
            "peak": "#fde9cf", "stage": "#eeeeee"}
_ENDPOINT_COLOURS = ("#1f4e9c", "#e07b00", "#2e7d32", "#7a3fb0")
_STYLE = {"svg.fonttype": "none", "text.parse_math": False, "font.size": 8, "axes.titlesize": 8,
          "axes.labelsize": 8, "legend.fontsize": 7, "xtick.labelsize": 7, "ytick.labelsize": 7,
          "axes.spines.top": False, "axes.spines.right": False, "lines.linewidth": 1.2,
          "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"]}
_HEADER = re.compile(r"\A.*?(?=<svg\b)", re.DOTALL)


@dataclass(frozen=True)
class Charts:
    """Each figure's ``<svg>`` element as text; ``pool`` is None when no run recorded pool metrics."""

    load: str
    latency: str
    errors: str
    pool: str | None


def _label(text: str, limit: int = 60) -> str:
    shown = visible(text, limit)
    return f" {shown}" if shown.startswith("_") else shown  # matplotlib hides legend labels starting with "_"


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = _HEADER.sub("", buffer.getvalue(), count=1)  # the XML declaration and DOCTYPE: not for inline SVG
    return re.sub(r"<metadata>.*?</metadata>\s*", "", text, count=1, flags=re.DOTALL).strip()


def _figure(rows: int, columns: int) -> tuple[Figure, np.ndarray]:
    height = rows * _ROW_IN + _MARGIN_IN
    figure = Figure(figsize=(_WIDTH_IN, height))
    axes = figure.subplots(rows, columns, squeeze=False, sharey="row")
    figure.subplots_adjust(left=0.075, right=_RIGHT, top=1 - 0.25 / height, bottom=0.36 / height,
                           hspace=0.3, wspace=0.06)
    return figure, axes


def _time_axis(ax: Axes, timeline: Timeline, *, top: bool, bottom: bool, title: str | None, columns: int) -> None:
    """x range, stages shaded (named on the top panel), the breaking point, the grid."""
    end = max(timeline.window_count, 1)
    ax.set_xlim(0, end)
    for index, stage in enumerate(timeline.stages):
        start, stop = stage.start_s, min(stage.end_s, end)
        if stop <= start:
            continue
        colour = _COLOURS["peak"] if stage.peak else _COLOURS["stage"] if index % 2 == 0 else "#f8f8f8"
        ax.axvspan(start, stop, color=colour, zorder=0, linewidth=0)
        name = _label(stage.name, 24)
        if top and (stop - start) / end >= len(name) * _CHAR_SHARE * columns:  # named only where the name fits
            ax.text((start + stop) / 2, 1.01, name, transform=ax.get_xaxis_transform(),
                    ha="center", va="bottom", fontsize=7, color="#444444")
    if timeline.breach_s is not None:
        ax.axvline(timeline.breach_s, color=_COLOURS["breach"], linestyle="--", linewidth=1, zorder=3)
        if top:
            ax.text(timeline.breach_s, 0.97, f" first breach {timeline.breach_s} s",
                    transform=ax.get_xaxis_transform(), ha="left", va="top", fontsize=7, color=_COLOURS["breach"])
    ax.grid(True, axis="y", color="#dddddd", linewidth=0.5)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=12, integer=True))
    if bottom:
        ax.set_xlabel("seconds since the run started" + (f" ({timeline.bin_s} s bins)" if timeline.bin_s > 1 else ""))
    else:
        ax.tick_params(labelbottom=False)
    if title:
        ax.set_title(_label(title, 80), loc="left", fontsize=8, pad=12 if top else 3)


def _draw(timelines: Sequence[Timeline], titles: Sequence[str | None], rows: int,
          panel: Callable[[Axes, Timeline, int], None], salt: str) -> str:
    with matplotlib.rc_context({**_STYLE, "svg.hashsalt": f"surgegate-{salt}"}):
        figure, axes = _figure(rows, len(timelines))
        for column, timeline in enumerate(timelines):
            for row in range(rows):
                panel(axes[row][column], timeline, row)
        for column, timeline in enumerate(timelines):  # limits only now: a limit set earlier would freeze the scale
            last = column == len(timelines) - 1        # before the other column's data is in
            for row in range(rows):
                ax = axes[row][column]
                if ax.get_yscale() == "linear" and ax.get_autoscaley_on():
                    ax.set_ylim(bottom=0)
                _time_axis(ax, timeline, top=row == 0, bottom=row == rows - 1,
                           title=titles[column] if row == 0 else None, columns=len(timelines))
                if column:
                    ax.set_ylabel("")
                if last and ax.get_legend_handles_labels()[0]:  # one legend per row, right of the last column
                    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, borderaxespad=0,
                              handlelength=1.6)
        return _svg(figure)


def _load_panel(ax: Axes, timeline: Timeline, row: int) -> None:
    if row == 0 and timeline.started_per_s is not None:
        _arrivals_panel(ax, timeline)
    elif row == 0:
        if timeline.stages:  # the plan itself, not its samples: each stage's users from its start to its end
            x = [t for stage in timeline.stages for t in (stage.start_s, stage.end_s)]
            y = [stage.users for stage in timeline.stages for _ in (0, 1)]
            ax.plot(x, y, color=_COLOURS["limit"], linestyle="--", label="planned users")
        ax.plot(timeline.load_t_s, timeline.users, color=_COLOURS["main"], label="running users")
        ax.set_ylabel("users")
    else:
        ax.plot(timeline.x_s, timeline.requests_per_s, color=_COLOURS["limit"], label="requests/s")
        ax.plot(timeline.x_s, timeline.ok_per_s, color=_COLOURS["main"], label="ok/s (throughput)")
        ax.set_ylabel("per second")


def _arrivals_panel(ax: Axes, timeline: Timeline) -> None:
    """Open model: the schedule (each stage's rate), what started and was dropped, and the shoppers in flight."""
    if timeline.stages:
        x = [t for stage in timeline.stages for t in (stage.start_s, stage.end_s)]
        y = [stage.arrival_rate or 0.0 for stage in timeline.stages for _ in (0, 1)]
        ax.plot(x, y, color=_COLOURS["limit"], linestyle="--", label="planned arrivals/s")
    ax.plot(timeline.x_s, timeline.started_per_s, color=_COLOURS["main"], label="started/s")
    if timeline.dropped_per_s is not None and timeline.dropped_per_s.any():
        ax.plot(timeline.x_s, timeline.dropped_per_s, color=_COLOURS["breach"], label="dropped/s")
    if timeline.in_flight is not None:
        ax.plot(timeline.load_t_s, timeline.in_flight, color=_COLOURS["second"], label="in flight")
    ax.set_ylabel("arrivals/s; shoppers")


def _ms_tick(value: float, _position) -> str:
    return format_value(value, "ms").replace(".00 s", " s") if value > 0 else ""


def _latency_rows(timelines: Sequence[Timeline]) -> list[str]:
    labels: list[str] = []
    for timeline in timelines:
        labels += [label for label in timeline.latency_ms if label not in labels]
    return labels[:LATENCY_PANELS] or [""]


def _log_subs(timelines: Sequence[Timeline], label: str) -> tuple[float, ...]:
    """Ticks at 1, 2 and 5 per decade over a narrow range, at each decade only over a wide one."""
    values = np.concatenate([a for t in timelines for a in t.latency_ms.get(label, {}).values()] or [np.zeros(0)])
    values = values[np.isfinite(values) & (values > 0)]
    return (1.0, 2.0, 5.0) if len(values) and values.max() / values.min() < 50 else (1.0,)


def _latency_panel_for(labels: list[str], positive: bool,
                       timelines: Sequence[Timeline]) -> Callable[[Axes, Timeline, int], None]:
    def panel(ax: Axes, timeline: Timeline, row: int) -> None:
        series = timeline.latency_ms.get(labels[row])
        ax.text(0.005, 0.97, _label(labels[row] or "no timed requests", 80), transform=ax.transAxes, ha="left",
                va="top", fontsize=7.5, fontweight="bold", color="#222222")
        if series is not None:
            for (name, values), colour in zip(series.items(), ("second", "main", "third")):
                ax.plot(timeline.x_s, values, color=_COLOURS[colour], label=name)
        if positive:
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=_log_subs(timelines, labels[row]), numticks=8))
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.yaxis.set_major_formatter(FuncFormatter(_ms_tick))
        ax.set_ylabel("response time")
    return panel


def _errors_panel(ax: Axes, timeline: Timeline, row: int) -> None:
    ax.plot(timeline.x_s, timeline.error_pct, color=_COLOURS["main"], label="error rate (all)")
    ax.plot(timeline.x_s, timeline.status_504_pct, color=_COLOURS["breach"], label="504 rate (all)")
    for (label, values), colour in zip(timeline.endpoint_504_pct.items(), _ENDPOINT_COLOURS[1:]):
        ax.plot(timeline.x_s, values, color=colour, linestyle=":", label=f"504 rate {_label(label, 40)}")
    ax.set_ylabel("% of requests")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}%"))


def _pool_panel(ax: Axes, timeline: Timeline, row: int) -> None:
    pool = timeline.pool
    if pool is None:
        ax.text(0.5, 0.5, "no server metrics recorded", transform=ax.transAxes, ha="center", va="center",
                color="#777777")
    elif row == 0:
        ax.plot(pool.t_s, pool.limit, color=_COLOURS["limit"], linestyle="--", label="limit")
        ax.plot(pool.t_s, pool.in_use, color=_COLOURS["main"], label="in use")
    else:
        ax.plot(pool.t_s, pool.waiting, color=_COLOURS["breach"], label="requests waiting")
    ax.set_ylabel("connections" if row == 0 else "waiting")


def _finite_max(arrays: Sequence[np.ndarray]) -> float:
    values = [float(np.nanmax(a)) for a in arrays if len(a) and not np.all(np.isnan(a))]
    return max(values, default=0.0)


def draw_charts(timelines: Sequence[Timeline], titles: Sequence[str | None] | None = None) -> Charts:
    """The four figures for one run, or for base and current side by side (``titles`` above each column)."""
    titles = list(titles or [None] * len(timelines))
    errors = _finite_max([a for t in timelines for a in (t.error_pct, t.status_504_pct,
                                                           *t.endpoint_504_pct.values())])
    latency_labels = _latency_rows(timelines)
    positive = _finite_max([a for t in timelines for s in t.latency_ms.values() for a in s.values()]) > 0

    def errors_panel(ax: Axes, timeline: Timeline, row: int) -> None:
        _errors_panel(ax, timeline, row)
        ax.set_ylim(0, min(100.0, max(1.0, errors * 1.15)))

    pool = None
    if any(t.pool is not None for t in timelines):
        pool = _draw(timelines, titles, 2, _pool_panel, "pool")
    return Charts(load=_draw(timelines, titles, 2, _load_panel, "load"),
                  latency=_draw(timelines, titles, len(latency_labels),
                                _latency_panel_for(latency_labels, positive, timelines), "latency"),
                  errors=_draw(timelines, titles, 1, errors_panel, "errors"),
                  pool=pool)
