"""Tables and lines that fit a terminal's width without cutting a name or a phrase.

``fit_tables`` lays out a grid of labelled rows and named columns (variants,
usually) as one rich table, or as several, each with as many columns as fit
the width, so that no column is squeezed: no name is cut to ``optimis…`` and
no cell wraps at a space the reader did not expect. A cell that is too wide
for its column breaks only between its pieces (``unsafe:`` / ``oversold 674``).
``wrap_phrases`` does the same for a line of text: it breaks between phrases,
never inside one. Any command's table can use them (run, load test, compare).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence

from rich.markup import escape
from rich.table import Table

from checkoutsim.results.verdicts import Cell

#: Colours of a cell's tone.
TONES = {"good": "green", "bad": "red", "withheld": "yellow"}
#: The widest a cell stays on one line before it breaks into its pieces.
ONE_LINE_MAX = 14


def wrap_phrases(prefix: str, phrases: Sequence[str], width: int, indent: int = 4) -> list[str]:
    """``prefix`` then the phrases joined by spaces, broken into lines of at most ``width``
    only between phrases; later lines indented. (A phrase longer than a line is the one
    thing that must wrap inside: it is given lines of its own, broken between words.)"""
    lines: list[str] = []
    current = prefix.rstrip()
    for phrase in phrases:
        candidate = f"{current} {phrase}" if current else phrase
        if len(candidate) <= width or not current.strip():
            current = candidate
            continue
        lines.append(current)
        current = " " * indent + phrase
    if current:
        lines.append(current)
    wrapped = []
    for line in lines:
        if len(line) <= width:
            wrapped.append(line)
            continue
        # A phrase longer than a line: broken before its bracket when both parts fit,
        # else between words as a last resort, a figure never parted from its unit.
        text = line.lstrip()
        lead = line[: len(line) - len(text)]
        later = " " * (len(lead) or indent)
        head, bracket, rest = text.partition(" (")
        if bracket and len(lead + head) <= width and len(later + "(" + rest) <= width:
            wrapped += [lead + head, later + "(" + rest]
            continue
        glued = _FIGURE_AND_UNIT.sub(lambda match: match.group(0).replace(" ", _GLUE), text)
        wrapped += [
            piece.replace(_GLUE, " ")
            for piece in textwrap.wrap(glued, width, initial_indent=lead, subsequent_indent=later)
        ]
    return wrapped


#: A space textwrap does not break at (it is not ASCII whitespace), put back after wrapping.
_GLUE = "\u00a0"
#: A figure and the unit after it ("5.15 s", "516 ms", "99.9 %"), which stay on one line.
_FIGURE_AND_UNIT = re.compile(r"\d[\d,.]* (?:s|ms|%|pts|units?)\b")


def _width(cell: Cell) -> int:
    """The width a cell takes: on one line if short enough, else its widest piece."""
    if len(cell.text) <= ONE_LINE_MAX or not cell.pieces:
        return len(cell.text)
    return max(len(piece) for piece in cell.pieces)


def _shown(cell: Cell, width: int) -> str:
    """A cell's markup: one line when it fits ``width``, else a line per piece."""
    text = cell.text if len(cell.text) <= width else "\n".join(cell.lines)
    colour = TONES.get(cell.tone)
    return f"[{colour}]{escape(text)}[/]" if colour else escape(text)


def fit_tables(
    label_header: str,
    names: Sequence[str],
    rows: Sequence[tuple[str, Sequence[Cell]]],
    width: int,
    sections: Sequence[int] = (),
) -> list[Table]:
    """Rows (label, a cell per column) under column ``names``, as tables that fit ``width``.

    Columns keep their order; a new table starts when the next column would not fit.
    ``sections`` are row indexes after which a rule is drawn (e.g. after the verdict).
    """
    label_width = max([len(label_header), *(len(label) for label, _ in rows)])
    # A table's outline: one border at the left, then per column its width, two spaces
    # of padding and one border.
    room = width - 1 - (label_width + 3)
    widths = [
        max([len(name), *(_width(cells[index]) for _, cells in rows)])
        for index, name in enumerate(names)
    ]
    groups: list[list[int]] = []
    used = room + 1
    for index, column_width in enumerate(widths):
        if used + column_width + 3 > room and (not groups or groups[-1]):
            groups.append([])
            used = 0
        groups[-1].append(index)
        used += column_width + 3
    tables = []
    for group in groups:
        table = Table(show_lines=False, pad_edge=True)
        table.add_column(escape(label_header), style="bold", no_wrap=True, min_width=label_width)
        for index in group:
            if widths[index] + 3 <= room:
                table.add_column(
                    escape(names[index]), justify="right", no_wrap=True, min_width=widths[index]
                )
            else:
                # Too wide for the width even alone: folded onto more lines, never cropped.
                table.add_column(
                    escape(names[index]), justify="right", overflow="fold", max_width=room - 3
                )
        for row_index, (label, cells) in enumerate(rows):
            table.add_row(
                escape(label),
                *(_shown(cells[index], widths[index]) for index in group),
                end_section=row_index in sections,
            )
        tables.append(table)
    return tables
