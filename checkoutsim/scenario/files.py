"""Scenario files: what one holds, and loading it (read, override, validate).

A scenario is a TOML file with a name, a title, the interview question it
answers, a description, settings sections (see ``checkoutsim.scenario.settings``) and a list
of named variants, each a set of dotted overrides of the settings. Every
problem becomes a ``ScenarioError`` whose one-line message names the file, the
field and the value. Finding files is ``scenario.locations``'s, dotted
overrides ``scenario.overrides``'s, the one-line problems ``scenario.problems``'s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field

from checkoutsim.scenario import inputs
from checkoutsim.scenario.errors import ScenarioError
from checkoutsim.scenario.locations import available, resolve_path, scenario_dirs
from checkoutsim.scenario.overrides import apply_overrides, parse_override
from checkoutsim.scenario.problems import validate
from checkoutsim.scenario.settings import Section, Settings
from checkoutsim.scenario.suggest import did_you_mean, known_names

# Re-exported: finding files, overrides and the error moved to their own modules.
__all__ = [
    "MAX_FILE_BYTES",
    "Scenario",
    "ScenarioError",
    "ScenarioFile",
    "Variant",
    "VariantSpec",
    "available",
    "load",
    "parse_override",
    "resolve_path",
    "scenario_dirs",
]

MAX_FILE_BYTES = inputs.MAX_BYTES
_SLUG = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class VariantSpec(Section):
    """A variant as written in the file: a name and dotted overrides."""

    name: str = Field(pattern=_SLUG)
    description: str = Field("", max_length=2000)
    set: dict[str, Any] = Field(default_factory=dict)


class ScenarioFile(Settings):
    """The whole file: metadata, base settings and variants."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=_SLUG)
    title: str = Field(min_length=1, max_length=300)
    question: str = Field(min_length=1, max_length=2000)
    description: str = Field("", max_length=20_000)
    variants: list[VariantSpec] = Field(default_factory=list, max_length=64)


@dataclass(frozen=True)
class Variant:
    """A resolved variant: its name, what it changes, and the settings it runs with."""

    name: str
    description: str
    overrides: Mapping[str, Any]
    settings: Settings


@dataclass(frozen=True)
class Scenario:
    """A validated scenario, ready to run."""

    name: str
    title: str
    question: str
    description: str
    path: Path
    base: Settings
    variants: tuple[Variant, ...]
    overrides: Mapping[str, Any] = field(default_factory=dict)

    def variant(self, name: str) -> Variant:
        """Return the variant called ``name``."""
        for variant in self.variants:
            if variant.name == name:
                return variant
        # Then without regard to case (``-v NAIVE``), as scenario names and levels are.
        for variant in self.variants:
            if variant.name.casefold() == name.casefold():
                return variant
        raise no_such_variant(self.path, self.name, name, [v.name for v in self.variants])

    def select(self, names: Iterable[str]) -> Scenario:
        """A copy that keeps only the named variants, in the order given."""
        chosen = tuple(self.variant(name) for name in names)
        return Scenario(
            self.name,
            self.title,
            self.question,
            self.description,
            self.path,
            self.base,
            chosen,
            self.overrides,
        )

    def parameters(self) -> dict[str, Any]:
        """The resolved parameters as plain data, for ``--json`` and reports."""
        return {
            "base": self.base.model_dump(mode="json"),
            "overrides": dict(self.overrides),
            "variants": {
                v.name: {"description": v.description, "set": dict(v.overrides)}
                for v in self.variants
            },
        }


def load(
    name_or_path: str, overrides: Iterable[str] = (), variants: Iterable[str] = ()
) -> Scenario:
    """Load, override and validate a scenario; raise ``ScenarioError`` on any problem."""
    path = resolve_path(name_or_path)
    raw = _read_toml(path)
    scenario_file = validate(ScenarioFile, raw, str(path))
    cli_overrides = dict(parse_override(text) for text in overrides)
    base_raw = _settings_dict(scenario_file)
    base = validate(Settings, apply_overrides(base_raw, cli_overrides, "--set"), "--set")
    specs = scenario_file.variants or [VariantSpec(name="default")]
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ScenarioError(f"{path}: variants: duplicate variant names in {names}")
    chosen = list(variants)
    wanted = {name.casefold() for name in chosen}
    resolved = []
    problems: list[str] = []
    for index, spec in enumerate(specs):
        where = f"{path}: variants[{index}] ({spec.name})"
        try:
            merged = apply_overrides(
                apply_overrides(base_raw, spec.set, where), cli_overrides, "--set"
            )
            settings = validate(Settings, merged, where)
        except ScenarioError as error:
            if wanted and spec.name.casefold() not in wanted and _valid_alone(base_raw, spec):
                # A --set that only a variant nobody asked for cannot take (the
                # retry queue on a failover router, say) is no error of this run;
                # a variant broken without any --set still is.
                continue
            # Every variant is checked, so that validate can list each one's problems.
            problems.extend(error.problems)
            continue
        resolved.append(Variant(spec.name, spec.description, dict(spec.set), settings))
    if problems:
        raise ScenarioError.of(problems)
    unknown = [name for name in chosen if name.casefold() not in {n.casefold() for n in names}]
    if unknown:
        # Named against every variant of the file, those a --set left out included.
        raise no_such_variant(path, scenario_file.name, unknown[0], names)
    scenario = Scenario(
        scenario_file.name,
        scenario_file.title,
        scenario_file.question,
        scenario_file.description,
        path,
        base,
        tuple(resolved),
        cli_overrides,
    )
    return scenario.select(chosen) if chosen else scenario


def no_such_variant(path: Path, scenario: str, name: str, names: list[str]) -> ScenarioError:
    """The one-line error for a variant ``name`` not among ``names``, with a suggestion."""
    listed = known_names(names, "variant", f"checkoutsim show {scenario}")
    suggestion = did_you_mean(name, names)
    return ScenarioError(f"{path}: variants: no variant {name!r}{suggestion}{listed}")


def _valid_alone(base_raw: dict[str, Any], spec: VariantSpec) -> bool:
    """Whether a variant's own settings validate without the command line's --set."""
    try:
        validate(Settings, apply_overrides(base_raw, spec.set, spec.name), spec.name)
    except ScenarioError:
        return False
    return True


def _read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file with every limit of ``checkoutsim.scenario.inputs`` and a one-line error."""
    try:
        return inputs.read_toml_file(path)
    except inputs.InputError as error:
        raise ScenarioError(str(error)) from None


def _settings_dict(scenario_file: ScenarioFile) -> dict[str, Any]:
    """The settings part of a validated file, as a plain nested dict."""
    return scenario_file.model_dump(include=set(Settings.model_fields))
