"""Finding and reading the walkthrough topics: Markdown files with a TOML header.

A topic file starts with a TOML block between ``+++`` lines (title, summary,
the scenarios it runs, the sweeps it makes, the capacity volumes it plans) and goes on with Markdown
and Jinja2. Each ``## `` heading starts a page; a page is rendered on its own,
so a control block must open and close inside one page. ``walkthroughs.toml``
holds the listing order and the settings changed for live runs (always, and
under ``--quick``).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from checkoutsim.scenario.suggest import did_you_mean

LEVELS = ("L4", "L5", "L6")
_FRONT_MATTER = re.compile(r"\A\+\+\+\n(?P<header>.*?)\n\+\+\+\n(?P<body>.*)\Z", re.DOTALL)
_PAGE_START = re.compile(r"^## ", re.MULTILINE)


class WalkthroughError(Exception):
    """A topic or level that does not exist, or a topic file that cannot be used."""


@dataclass(frozen=True)
class PageSource:
    """One page's heading and body, still templates."""

    heading: str
    body: str


@dataclass(frozen=True)
class RunSpec:
    """A run a topic uses: a name for the templates, a scenario, and settings it changes."""

    name: str
    scenario: str
    overrides: tuple[str, ...] = ()
    #: Only these variants (all of them when empty).
    variants: tuple[str, ...] = ()


@dataclass(frozen=True)
class SweepSpec:
    """A sweep a topic uses: one setting stepped over ``values``, a run at each point."""

    name: str
    scenario: str
    param: str
    values: tuple[float, ...]
    variants: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()

    def points(self) -> tuple[RunSpec, ...]:
        """One run per value, each named after the sweep and its value."""
        return tuple(
            RunSpec(
                f"{self.name}-{value:g}",
                self.scenario,
                (*self.overrides, f"{self.param}={value!r}"),
                self.variants,
            )
            for value in self.values
        )


@dataclass(frozen=True)
class Topic:
    """A walkthrough topic as written: its header and its pages (templates)."""

    name: str
    title: str
    summary: str
    runs: tuple[RunSpec, ...]
    optional_scenarios: tuple[str, ...]
    capacity: tuple[str, ...]
    pages: tuple[PageSource, ...]
    sweeps: tuple[SweepSpec, ...] = ()

    @property
    def scenarios(self) -> tuple[str, ...]:
        """The scenarios the topic runs (each once, in order)."""
        return tuple(dict.fromkeys(run.scenario for run in self.runs))


def _package() -> Traversable:
    return resources.files("checkoutsim.walkthroughs")


def _settings() -> dict[str, Any]:
    """The package's ``walkthroughs.toml`` (listing order and quick settings)."""
    return tomllib.loads((_package() / "walkthroughs.toml").read_text(encoding="utf-8"))


def live_overrides(scenario: str, quick: bool) -> list[str]:
    """The ``--set`` overrides a walkthrough runs ``scenario`` with: [live], then [quick]."""
    settings = _settings()
    sections = ("live", "quick") if quick else ("live",)
    return [
        str(item) for section in sections for item in settings.get(section, {}).get(scenario, [])
    ]


def topic_names() -> list[str]:
    """Every topic, in the listing order, then any others alphabetically."""
    found = sorted(
        entry.name.removesuffix(".md")
        for entry in (_package() / "topics").iterdir()
        if entry.name.endswith(".md")
    )
    order = [name for name in _settings().get("order", []) if name in found]
    return order + [name for name in found if name not in order]


def parse_topic(name: str, text: str) -> Topic:
    """Split a topic file into its header and pages; errors name the topic."""
    match = _FRONT_MATTER.match(text.replace("\r\n", "\n"))
    if match is None:
        raise WalkthroughError(f"topic {name}: no +++ TOML header at the top")
    try:
        header = tomllib.loads(match["header"])
    except tomllib.TOMLDecodeError as error:
        raise WalkthroughError(f"topic {name}: invalid TOML header: {error}") from None
    body = match["body"]
    starts = [found.start() for found in _PAGE_START.finditer(body)]
    if not starts:
        raise WalkthroughError(f"topic {name}: no '## ' page headings")
    pages = []
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(body)
        heading, _, page_body = body[start + 3 : end].partition("\n")
        pages.append(PageSource(heading.strip(), page_body.strip("\n") + "\n"))
    try:
        # A plain scenario runs under its own name; [runs.NAME] tables run a
        # scenario with changed settings under another name.
        runs = [RunSpec(scenario, scenario) for scenario in header.get("scenarios", ())]
        runs += [
            RunSpec(
                run_name,
                str(spec["scenario"]),
                tuple(str(item) for item in spec.get("set", ())),
                tuple(str(item) for item in spec.get("variants", ())),
            )
            for run_name, spec in header.get("runs", {}).items()
        ]
        # [sweeps.NAME] tables: one setting stepped over values, a run at each.
        sweeps = [
            SweepSpec(
                sweep_name,
                str(spec["scenario"]),
                str(spec["param"]),
                tuple(spec["values"]),
                tuple(str(item) for item in spec.get("variants", ())),
                tuple(str(item) for item in spec.get("set", ())),
            )
            for sweep_name, spec in header.get("sweeps", {}).items()
        ]
        return Topic(
            name=name,
            title=str(header["title"]),
            summary=str(header["summary"]),
            runs=tuple(runs),
            optional_scenarios=tuple(header.get("optional_scenarios", ())),
            capacity=tuple(str(volume) for volume in header.get("capacity", ())),
            pages=tuple(pages),
            sweeps=tuple(sweeps),
        )
    except KeyError as error:
        raise WalkthroughError(f"topic {name}: header has no {error.args[0]!r}") from None


def load_topic(name: str) -> Topic:
    """The topic called ``name``; an unknown name lists the known ones."""
    names = topic_names()
    if name not in names:
        raise WalkthroughError(
            f"no walkthrough topic {name!r}{did_you_mean(name, names)} (known: {', '.join(names)})"
        )
    path = _package() / "topics" / f"{name}.md"
    return parse_topic(name, path.read_text(encoding="utf-8"))


def topic_source(name: str) -> str:
    """The raw text of a topic file (for the tests that read the content itself)."""
    return (_package() / "topics" / f"{name}.md").read_text(encoding="utf-8")


def check_level(level: str) -> str:
    """Normalise ``l5`` to ``L5``; anything else than L4, L5 or L6 is an error."""
    normal = level.strip().upper()
    if normal not in LEVELS:
        raise WalkthroughError(f"no level {level!r} (choose one of {', '.join(LEVELS)})")
    return normal
