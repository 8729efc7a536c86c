"""Rendering a topic's templates for a level into pages of Markdown and tables.

What a page template (Jinja2) may use:

- ``level`` ("L4", "L5" or "L6") and ``at_least("L5")``;
- one run per scenario or ``[runs.NAME]`` the topic declares, named with ``_``
  for ``-`` (``flash_sale``): ``flash_sale.naive.oversold_units`` is a measured
  metric, ``flash_sale.params.inventory.lock_ttl_s`` a setting of the run
  (``.percent`` shows a fraction as a percentage), ``flash_sale.naive.params...``
  a variant's setting, ``flash_sale.variants`` every variant (``.name``,
  ``.description``, ``.safe``, ``.verdict``), ``scale_10m.scale`` a scale check;
- ``table("flash-sale")`` to place a run's measured table (the run happens
  then), ``capacity_table("10M")``, ``cost_table("10M")`` and ``plan("10M")``
  for computed capacity figures (``plan("10M").cost`` for its cost),
  ``has("scale-10m")`` for optional scenarios;
- one sweep per ``[sweeps.NAME]`` the topic declares: ``NAME.knee("mvp")`` the
  first swept value where a variant misses the objective, ``NAME.carried("mvp")``
  the last one before it, ``NAME.at(value)`` the run there (as a run above);
- ``plural(value, "unit")`` for the word after a number.

Numbers reach the text only through those values, each shown one fixed way.
Undefined names are errors, so a misspelt metric cannot render as nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jinja2

from checkoutsim.walkthroughs.content import (
    LEVELS,
    RunSpec,
    Topic,
    WalkthroughError,
    check_level,
)
from checkoutsim.walkthroughs.evidence import Evidence, available
from checkoutsim.walkthroughs.sweeps import SweepView
from checkoutsim.walkthroughs.values import Parameter, PlanView, RunView

_LONE_TAG = re.compile(r"\{%[^%]*%\}")
_MARKER = re.compile(r"^@@(?P<kind>run|capacity|cost):(?P<target>[\w.-]+)@@$")
_ENVIRONMENT = jinja2.Environment(
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # the output is Markdown for rich, not HTML
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


@dataclass(frozen=True)
class Block:
    """A piece of a page: Markdown text, a run's table, or a capacity plan's table."""

    kind: str  # "markdown", "run", "capacity" or "cost"
    content: str  # the Markdown, the scenario name, or the daily volume


@dataclass(frozen=True)
class Page:
    """One page: its heading and its blocks, in order."""

    heading: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Walkthrough:
    """A topic rendered for a level, with the evidence its numbers came from."""

    topic: Topic
    level: str
    pages: tuple[Page, ...]
    evidence: Evidence


def alias(scenario: str) -> str:
    """The template name of a scenario: ``flash-sale`` -> ``flash_sale``."""
    return scenario.replace("-", "_")


def plural(value: float, singular: str, plural_form: str | None = None) -> str:
    """The word that goes after ``value``: ``unit`` for one, ``units`` otherwise."""
    return singular if value == 1 else (plural_form or singular + "s")


def context(topic: Topic, level: str, evidence: Evidence) -> dict[str, Any]:
    """Everything a page template may use."""
    optional = [RunSpec(name, name) for name in topic.optional_scenarios if available(name)]
    declared = {spec.name: spec for spec in (*topic.runs, *optional)}

    def table(name: str) -> str:
        if name not in declared:
            raise WalkthroughError(f"topic {topic.name}: table({name!r}) is not in its runs")
        evidence.run(declared[name])  # run it now: the table's place is where the run happens
        return f"\n@@run:{name}@@\n"

    def capacity_table(volume: str) -> str:
        if volume not in topic.capacity:
            raise WalkthroughError(f"topic {topic.name}: capacity {volume!r} is not declared")
        evidence.plan(volume)
        return f"\n@@capacity:{volume}@@\n"

    def cost_table(volume: str) -> str:
        if volume not in topic.capacity:
            raise WalkthroughError(f"topic {topic.name}: capacity {volume!r} is not declared")
        evidence.plan(volume)
        return f"\n@@cost:{volume}@@\n"

    def plan(volume: str) -> PlanView:
        if volume not in topic.capacity:
            raise WalkthroughError(f"topic {topic.name}: capacity {volume!r} is not declared")
        return PlanView(evidence.plan(volume))

    def at_least(wanted: str) -> bool:
        return LEVELS.index(level) >= LEVELS.index(check_level(wanted))

    values: dict[str, Any] = {
        "level": level,
        "at_least": at_least,
        "quick": evidence.quick,
        "seed": Parameter(evidence.seed, "seed"),
        "table": table,
        "capacity_table": capacity_table,
        "cost_table": cost_table,
        "plan": plan,
        "has": lambda name: name in declared,
        "plural": plural,
    }
    for name, spec in declared.items():
        # Bind ``spec`` now: a closure over the loop variable would see the last one.
        values[alias(name)] = RunView(lambda spec=spec: evidence.run(spec))
    for sweep in topic.sweeps:
        values[alias(sweep.name)] = SweepView(sweep, evidence)
    return values


def _blocks(text: str) -> tuple[Block, ...]:
    """Split rendered page text at table markers into blocks."""
    blocks: list[Block] = []
    markdown: list[str] = []

    def flush() -> None:
        joined = re.sub(r"\n{3,}", "\n\n", "\n".join(markdown)).strip()
        if joined:
            blocks.append(Block("markdown", joined))
        markdown.clear()

    for line in text.splitlines():
        marker = _MARKER.match(line.strip())
        if marker:
            flush()
            blocks.append(Block(marker["kind"], marker["target"]))
        else:
            markdown.append(line)
    flush()
    return tuple(blocks)


def keep_line_ends(source: str) -> str:
    """Mark block tags that end a line of text with ``+%}`` so the line break survives.

    ``trim_blocks`` drops the newline after every block tag, which is right for
    a line holding only ``{% if ... %}`` and wrong for ``- a: {% if %}x{% endif %}``:
    there it would glue the next list item onto this one.
    """
    lines = []
    for line in source.split("\n"):
        stripped = line.strip()
        only_a_tag = _LONE_TAG.fullmatch(stripped) is not None
        if stripped.endswith("%}") and not only_a_tag and not stripped.endswith(("+%}", "-%}")):
            line = line.rstrip()[:-2] + "+%}"
        lines.append(line)
    return "\n".join(lines)


def _render(source: str, values: dict[str, Any], where: str) -> str:
    try:
        return _ENVIRONMENT.from_string(keep_line_ends(source)).render(values)
    except jinja2.TemplateError as error:
        line = getattr(error, "lineno", None)
        at = f" (line {line} of the page)" if line else ""
        raise WalkthroughError(f"{where}{at}: {error}") from None


def iter_pages(topic: Topic, level: str, evidence: Evidence) -> Iterator[Page]:
    """Render the pages one at a time, so runs happen when their page is reached."""
    level = check_level(level)
    values = context(topic, level, evidence)
    for source in topic.pages:
        where = f"topic {topic.name}, page {source.heading!r}"
        heading = _render(source.heading, values, where).strip()
        yield Page(heading, _blocks(_render(source.body, values, where)))


def render(topic: Topic, level: str, evidence: Evidence) -> Walkthrough:
    """Render every page of ``topic`` for ``level``."""
    pages = tuple(iter_pages(topic, level, evidence))
    return Walkthrough(topic, check_level(level), pages, evidence)
