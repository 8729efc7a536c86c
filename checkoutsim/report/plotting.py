"""Shared matplotlib plumbing for the report: style, colours, figures and shading.

Matplotlib is imported inside these functions, never at module level, so
commands that do not draw (``checkoutsim run``) do not pay for it. Figures are
made with the object-oriented API on an Agg canvas, without pyplot: no global
figure registry, no backend switching in the caller's process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

#: Pixels per inch of the saved PNGs: sharp on a laptop, a few hundred KB at most.
DPI = 120
#: Width of every figure in inches, so the page lines them up.
WIDTH_IN = 10.5

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
    "#000000",
)

#: What a shopper was told, in stacking order, with a colour that reads as its meaning.
OUTCOME_COLOURS = {
    "ordered": "#009E73",
    "processing": "#56B4E9",
    "sold_out": "#999999",
    "rejected": "#E69F00",
    "payment_failed": "#D55E00",
    "order_failed": "#CC79A7",
    "timed_out": "#7B3294",
}
#: Dash patterns cycled with the colours: lines of variants that behave alike overlap exactly.
LINE_STYLES = ("-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)))
FAULT_COLOUR = "#D55E00"
SAFE_COLOUR = "#009E73"
UNSAFE_COLOUR = "#D55E00"

_STYLE = {
    "font.size": 10.5,
    "axes.titlesize": 11.5,
    "axes.titleweight": "bold",
    "axes.labelsize": 10.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.7,
    "legend.fontsize": 9.5,
    "legend.frameon": False,
    "figure.titlesize": 14,
    "figure.titleweight": "bold",
    "savefig.facecolor": "white",
}


@dataclass
class Chart:
    """One figure of the report: its file stem, words for the page, its data and drawing."""

    name: str
    title: str
    caption: str
    frame: pd.DataFrame
    figure: Any = field(repr=False)

    def save(self, directory: Path) -> tuple[Path, Path]:
        """Write ``<name>.png`` and the frame behind it as ``<name>.csv``; return both paths."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        png = directory / f"{self.name}.png"
        csv = directory / f"{self.name}.csv"
        FigureCanvasAgg(self.figure).print_png(png)
        self.frame.to_csv(csv, index=False)
        return png, csv

    def pixel_size(self) -> tuple[int, int]:
        """Width and height of the saved PNG in pixels (for the page's img tags)."""
        width, height = self.figure.get_size_inches()
        return round(width * DPI), round(height * DPI)


@contextlib.contextmanager
def styled() -> Iterator[None]:
    """The report's matplotlib style, applied only while drawing."""
    import matplotlib

    with matplotlib.rc_context(_STYLE):
        yield


def new_figure(height_in: float, rows: int = 1, columns: int = 1, **options: Any) -> Any:
    """A figure of the report's width with a grid of axes; returns ``(figure, axes)``.

    ``axes`` is always a 2-D array, so callers index it the same way for one panel or many.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(WIDTH_IN, height_in), dpi=DPI, layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False, **options)
    return figure, axes


def colour_for(index: int) -> str:
    """The palette colour for the ``index``-th series, cycling when there are many."""
    return PALETTE[index % len(PALETTE)]


def legend_below(figure: Any, axis: Any) -> None:
    """One legend under the whole figure for ``axis``' lines, in as many columns as fit."""
    handles, names = axis.get_legend_handles_labels()
    if not names:
        return
    # About 150 characters of legend text fit across the figure at the legend's font size.
    width = max(len(name) for name in names) + 8
    columns = max(1, min(len(names), 150 // width))
    figure.legend(handles, names, loc="outside lower center", ncols=columns)


def line_style_for(index: int) -> str:
    """A dash pattern per series, so identical curves drawn on top of each other stay visible."""
    return LINE_STYLES[index % len(LINE_STYLES)]


def shade_faults(axis: Any, windows: Sequence[tuple[str, float, float]], label: bool) -> None:
    """Shade fault windows on a time axis; label each service once when ``label`` is set."""
    seen: set[str] = set()
    for service, start, end in windows:
        name = f"{service} fault" if label and service not in seen else None
        seen.add(service)
        axis.axvspan(start, end, color=FAULT_COLOUR, alpha=0.12, linewidth=0, label=name, zorder=0)


def time_label(mode: str) -> str:
    """The time axis' label: simulated seconds in the model, wall seconds in a load test."""
    if mode == "compare":
        return "time since start (s: simulated for the model, wall-clock for the real run)"
    return "time since start (wall-clock s)" if mode == "real" else "time since start (simulated s)"


def seconds_label(value: float) -> str:
    """A duration for an annotation: milliseconds below a second, seconds above."""
    if value != value:  # NaN: nobody got an answer
        return "n/a"
    if value < 1:
        return f"{value * 1000:.0f} ms" if value >= 0.01 else f"{value * 1000:.1f} ms"
    return f"{value:.2f} s"


def thousands(axis: Any, which: str = "y") -> None:
    """Write an axis' tick labels with thousands separators (50,000, not 50000)."""
    from matplotlib.ticker import StrMethodFormatter

    target = axis.yaxis if which == "y" else axis.xaxis
    target.set_major_formatter(StrMethodFormatter("{x:,.0f}"))


def short_number(value: float) -> str:
    """A tick label for log axes: 1, 10, 100, 1,000, 10k, 100k, 1M, 10M, 1B."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e4, "k")):
        if value >= size:
            divided = value / (1e3 if suffix == "k" else size)
            return f"{divided:,.3g}{suffix}"
    return f"{value:,.3g}" if value < 1 else f"{value:,.0f}"


def short_ticks(axis: Any, which: str = "y") -> None:
    """Label an axis' major ticks with :func:`short_number` (10k rather than 10^4)."""
    from matplotlib.ticker import FuncFormatter

    target = axis.yaxis if which == "y" else axis.xaxis
    target.set_major_formatter(FuncFormatter(lambda value, _position: short_number(value)))


def duration_ticks(axis: Any, which: str = "x") -> None:
    """Label a log time axis in words people read: 1 ms, 10 ms, 100 ms, 1 s, 10 s."""
    from matplotlib.ticker import FuncFormatter

    def label(value: float, _position: int) -> str:
        """One tick's label."""
        return f"{value * 1000:g} ms" if value < 1 else f"{value:g} s"

    target = axis.xaxis if which == "x" else axis.yaxis
    target.set_major_formatter(FuncFormatter(label))


def note_empty(axis: Any, text: str) -> None:
    """Write ``text`` in the middle of an axis that has nothing to show."""
    axis.text(0.5, 0.5, text, ha="center", va="center", transform=axis.transAxes, color="#555555")
    axis.set_xticks([])
    axis.set_yticks([])
