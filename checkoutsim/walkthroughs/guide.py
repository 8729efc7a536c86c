"""The HTML study guide: walkthroughs with their tables and the runs' figures.

The guide's own page is built here; every file is written through the report
layer: each run and each capacity plan gets a full report
(:func:`checkoutsim.report.build.write_report`) in a sub-folder, whose figures
the guide shows inline, and the guide folder is written all or nothing with
:func:`checkoutsim.report.files.staged_directory`.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from markdown_it import MarkdownIt

from checkoutsim.walkthroughs.compose import Block, Walkthrough, render
from checkoutsim.walkthroughs.content import load_topic
from checkoutsim.walkthroughs.evidence import Evidence
from checkoutsim.walkthroughs.tables import (
    TableData,
    capacity_table_data,
    cost_table_data,
    run_table_data,
    scale_table_data,
    settings_note,
)

# CommonMark with raw HTML off: the text comes from package files, and even so
# a stray tag should show as text, not become markup.
_MARKDOWN = MarkdownIt("commonmark", {"html": False})


def table_html(data: TableData) -> str:
    """A table as HTML, every cell escaped; broken invariants get the ``bad`` class."""
    head = "".join(
        f'<th class="{"number" if numeric else "text"}">{html.escape(column)}</th>'
        for column, numeric in zip(data.columns, data.numeric, strict=True)
    )
    body = []
    for row_index, row in enumerate(data.rows):
        cells = []
        for column_index, (cell, numeric) in enumerate(zip(row, data.numeric, strict=True)):
            classes = ["number" if numeric else "text"]
            if (row_index, column_index) in data.flagged:
                classes.append("bad")
            tag = "th" if column_index == 0 else "td"
            cells.append(f'<{tag} class="{" ".join(classes)}">{html.escape(cell)}</{tag}>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f"<table><caption>{html.escape(data.title)}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _figures_html(folder: str, index: Path) -> str:
    """The report's figures, shown inline, and a link to the full report."""
    from checkoutsim.report.build import figure_files

    images = "".join(
        f'<img src="{html.escape(folder)}/{html.escape(png.name)}" '
        f'alt="{html.escape(png.stem)}" loading="lazy">'
        for png in figure_files(index)
    )
    link = f'<a href="{html.escape(folder)}/index.html">full report, parameters and data</a>'
    return f'<div class="figures">{images}</div><p class="more">{link}</p>'


def _block_html(block: Block, evidence: Evidence, reports: dict[str, tuple[str, Path]]) -> str:
    if block.kind == "markdown":
        return _MARKDOWN.render(block.content)
    if block.kind == "capacity":
        plan = evidence.plan(block.content)
        parts = [table_html(capacity_table_data(block.content, plan))]
    elif block.kind == "cost":
        parts = [table_html(cost_table_data(block.content, evidence.plan(block.content)))]
    else:
        result = evidence.runs[block.content]
        parts = [
            f'<p class="run"><strong>{html.escape(result.scenario.title)}</strong> '
            f"({html.escape(settings_note(result))})</p>"
        ]
        tiers = scale_table_data(result)
        parts += [table_html(tiers)] if tiers is not None else []
        parts.append(table_html(run_table_data(result)))
    key = f"{block.kind}:{block.content}"
    if key in reports:
        parts.append(_figures_html(*reports[key]))
    return "".join(parts)


def _topic_html(
    walkthrough: Walkthrough, evidence: Evidence, reports: dict[str, tuple[str, Path]]
) -> str:
    topic = walkthrough.topic
    pages = "".join(
        f"<h3>{html.escape(page.heading)}</h3>"
        + "".join(_block_html(block, evidence, reports) for block in page.blocks)
        for page in walkthrough.pages
    )
    return (
        f'<section id="{html.escape(topic.name)}"><h2>{html.escape(topic.title)}</h2>'
        f'<p class="summary">{html.escape(topic.summary)}</p>{pages}</section>'
    )


def guide_html(
    walkthroughs: Sequence[Walkthrough], evidence: Evidence, reports: dict[str, tuple[str, Path]]
) -> str:
    """The whole guide page."""
    level = walkthroughs[0].level if walkthroughs else ""
    settings = "quick settings" if evidence.quick else "each scenario's own settings"
    contents = "".join(
        f'<li><a href="#{html.escape(w.topic.name)}">{html.escape(w.topic.title)}</a></li>'
        for w in walkthroughs
    )
    topics = "".join(_topic_html(w, evidence, reports) for w in walkthroughs)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>checkoutsim study guide · {html.escape(level)}</title>"
        '<link rel="stylesheet" href="guide.css"></head><body>'
        f"<header><h1>Checkout system design: study guide · {html.escape(level)}</h1>"
        f"<p>Every run below was simulated for this guide (seed {evidence.seed}, "
        f"{settings}); every number in the text is a metric those runs measured or a "
        "setting they used. Capacity figures are computed from stated assumptions and "
        "are labelled so.</p>"
        f"<nav><ol>{contents}</ol></nav></header><main>{topics}</main></body></html>\n"
    )


def write_guide(names: Sequence[str], level: str, evidence: Evidence, output: Path) -> Path:
    """Render ``names`` at ``level`` and write the guide under ``output``; return its page."""
    from checkoutsim.report.build import default_directory, histories_of, write_report
    from checkoutsim.report.files import staged_directory

    walkthroughs = [render(load_topic(name), level, evidence) for name in names]
    label = names[0] if len(names) == 1 else "all"
    target = default_directory(f"walkthrough-{label}-{level}", root=Path(output))
    reports: dict[str, tuple[str, Path]] = {}
    with staged_directory(target, last=["index.html"]) as staging:
        for name, result in evidence.runs.items():
            if name in evidence.sweep_points:
                continue  # shown through the text's figures, never as a table
            folder = f"runs/{name}"
            index = write_report(
                result.to_json(), histories_of(result), staging / folder, result.scenario
            )
            reports[f"run:{name}"] = (folder, index)
        for volume, plan in evidence.plans.items():
            folder = f"capacity/{volume}"
            index = write_report(plan.to_dict(), None, staging / folder)
            reports[f"capacity:{volume}"] = (folder, index)
        css = resources.files("checkoutsim.walkthroughs") / "guide.css"
        (staging / "guide.css").write_text(css.read_text(encoding="utf-8"), encoding="utf-8")
        page = guide_html(walkthroughs, evidence, reports)
        (staging / "index.html").write_text(page, encoding="utf-8")
    return target / "index.html"
