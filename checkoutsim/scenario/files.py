"""Scenario files: finding them, reading TOML, applying overrides, validating.

A scenario is a TOML file with a name, a title, the interview question it
answers, a description, settings sections (see ``checkoutsim.scenario.settings``) and a list
of named variants, each a set of dotted overrides of the settings. Every
problem becomes a ``ScenarioError`` whose one-line message names the file, the
field and the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from checkoutsim.scenario import inputs
from checkoutsim.scenario.settings import Section, Settings
from checkoutsim.scenario.suggest import closest, closest_key, did_you_mean, known_names

MAX_FILE_BYTES = inputs.MAX_BYTES
M = TypeVar("M", bound=BaseModel)
_SLUG = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class ScenarioError(inputs.InputError):
    """A scenario could not be loaded; ``str()`` is the one-line message to show.

    ``problems`` holds every problem found, each a line of its own (naming file,
    field and value), for ``validate`` to list; ``str()`` is the first with a count
    of the rest.
    """

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[str, ...] = tuple(problems) or (message,)

    @classmethod
    def of(cls, problems: Sequence[str]) -> ScenarioError:
        """One error for ``problems``: the first, and how many more there are."""
        more = len(problems) - 1
        extra = f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
        return cls(problems[0] + extra, problems)


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
        names = [v.name for v in self.variants]
        listed = known_names(names, "variant", f"checkoutsim show {self.name}")
        raise ScenarioError(
            f"{self.path}: variants: no variant {name!r}{did_you_mean(name, names)}{listed}"
        )

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


def scenario_dirs() -> list[Path]:
    """Where named scenarios are looked for, first match wins.

    An installed wheel carries them inside the package (``checkoutsim/scenarios``);
    a source checkout (an editable install included) has them beside the package;
    last, a ``scenarios`` folder in the current directory.
    """
    package = Path(__file__).resolve().parent.parent  # checkoutsim/, above scenario/
    return [package / "scenarios", package.parent / "scenarios", Path.cwd() / "scenarios"]


def available() -> dict[str, Path]:
    """Every named scenario that can be found, by name."""
    found: dict[str, Path] = {}
    for directory in scenario_dirs():
        if directory.is_dir():
            for path in sorted(directory.glob("*.toml")):
                found.setdefault(path.stem, path)
    return found


def resolve_path(name_or_path: str) -> Path:
    """Turn a scenario name or a file path into a path that exists."""
    if "\x00" in name_or_path:
        raise ScenarioError(f"{name_or_path!r}: a path cannot contain a NUL byte")
    candidate = Path(name_or_path)
    try:
        is_file = candidate.is_file()
    except OSError as error:  # a name too long for the file system, say
        raise ScenarioError(f"{name_or_path}: cannot read: {error.strerror}") from None
    if candidate.suffix == ".toml" or is_file or "/" in name_or_path:
        if not is_file:
            raise ScenarioError(f"{name_or_path}: no such scenario file")
        return candidate
    known = available()
    if name_or_path not in known:
        hint = did_you_mean(name_or_path, sorted(known))
        if hint:  # then the whole list is noise that would push the line past its limit
            raise ScenarioError(
                f"{name_or_path}: no scenario by that name{hint} (checkoutsim list shows them all)"
            )
        listed = known_names(sorted(known), "scenario", "checkoutsim list")
        raise ScenarioError(f"{name_or_path}: no scenario by that name{listed}")
    return known[name_or_path]


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``section.key=value``; the value is read as TOML (a bare word as a string).

    The value is bounded like a file (``checkoutsim.scenario.inputs``): size, nesting,
    integers and control characters.
    """
    if "=" not in text:
        raise ScenarioError(f"--set {text}: expected section.key=value")
    key, raw = (part.strip() for part in text.split("=", 1))
    if len(key) > inputs.MAX_KEY_LENGTH or not re.fullmatch(
        r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*){1,8}", key
    ):
        raise ScenarioError(f"--set {text}: field {key!r} is not of the form section.key")
    try:
        value = inputs.parse_set_value(raw, f"--set {key}")
    except inputs.InputError as error:
        raise ScenarioError(str(error)) from None
    return key, value


def load(
    name_or_path: str, overrides: Iterable[str] = (), variants: Iterable[str] = ()
) -> Scenario:
    """Load, override and validate a scenario; raise ``ScenarioError`` on any problem."""
    path = resolve_path(name_or_path)
    raw = _read_toml(path)
    scenario_file = _validate(ScenarioFile, raw, str(path))
    cli_overrides = dict(parse_override(text) for text in overrides)
    base_raw = _settings_dict(scenario_file)
    base = _validate(Settings, _apply(base_raw, cli_overrides, "--set"), "--set")
    specs = scenario_file.variants or [VariantSpec(name="default")]
    resolved = []
    problems: list[str] = []
    for index, spec in enumerate(specs):
        where = f"{path}: variants[{index}] ({spec.name})"
        try:
            merged = _apply(_apply(base_raw, spec.set, where), cli_overrides, "--set")
            settings = _validate(Settings, merged, where)
        except ScenarioError as error:
            # Every variant is checked, so that validate can list each one's problems.
            problems.extend(error.problems)
            continue
        resolved.append(Variant(spec.name, spec.description, dict(spec.set), settings))
    if problems:
        raise ScenarioError.of(problems)
    names = [v.name for v in resolved]
    if len(set(names)) != len(names):
        raise ScenarioError(f"{path}: variants: duplicate variant names in {names}")
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
    chosen = list(variants)
    return scenario.select(chosen) if chosen else scenario


def _read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file with every limit of ``checkoutsim.scenario.inputs`` and a one-line error."""
    try:
        return inputs.read_toml_file(path)
    except inputs.InputError as error:
        raise ScenarioError(str(error)) from None


def _settings_dict(scenario_file: ScenarioFile) -> dict[str, Any]:
    """The settings part of a validated file, as a plain nested dict."""
    return scenario_file.model_dump(include=set(Settings.model_fields))


def _apply(
    raw: Mapping[str, Any],
    overrides: Mapping[str, Any],
    where: str,
    root: Mapping[str, Any] | None = None,
    prefix: str = "",
) -> dict[str, Any]:
    """Return a deep copy of ``raw`` with dotted ``overrides`` applied.

    ``root`` is the whole settings table and ``prefix`` the dotted path of ``raw``
    in it (when a table merges into a section), so that a mistyped field can be
    suggested from any section.
    """
    root = raw if root is None else root
    result = _deep_copy(raw)
    for dotted, value in overrides.items():
        parts = str(dotted).split(".")
        target = result
        for depth, part in enumerate(parts[:-1]):
            child = target.get(part)
            if not isinstance(child, dict):
                prefix = ".".join(parts[: depth + 1])
                sections = [key for key, value in target.items() if isinstance(value, dict)]
                hint = did_you_mean(part, sections)
                raise ScenarioError(f"{where}: {dotted}: no settings section {prefix!r}{hint}")
            target = child
        if parts[-1] not in target:
            # Suggested as the whole dotted key, ready to paste back into --set.
            section = prefix + "".join(f"{part}." for part in parts[:-1])
            match = closest(parts[-1], target)
            suggestion = (
                section + match
                if match is not None
                else closest_key(parts[-1], _dotted_keys(root), section)
            )
            hint = "" if suggestion is None else f"; did you mean {suggestion!r}?"
            raise ScenarioError(f"{where}: {dotted}: unknown field (value {value!r}){hint}")
        if isinstance(value, Mapping) and isinstance(target[parts[-1]], dict):
            # A table merges into the section: the keys it leaves out keep
            # their values instead of falling back to the defaults.
            target[parts[-1]] = _apply(
                target[parts[-1]],
                {k: v for k, v in value.items()},
                f"{where}: {dotted}",
                root,
                f"{prefix}{dotted}.",
            )
        else:
            target[parts[-1]] = value
    return result


def _dotted_keys(table: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Every key in ``table`` and its sub-tables, dotted (``"catalog.stock_per_sku"``)."""
    keys = []
    for key, value in table.items():
        keys.append(prefix + str(key))
        if isinstance(value, Mapping):
            keys.extend(_dotted_keys(value, f"{prefix}{key}."))
    return keys


def _deep_copy(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Copy nested dicts (values are immutable scalars, tuples or lists)."""
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in raw.items()}


def _validate(model: type[M], raw: Mapping[str, Any], where: str) -> M:
    """Validate ``raw`` into ``model``; every problem becomes a line of one ``ScenarioError``.

    An unknown name (a misspelled section or field) is listed first: the errors
    that follow from it are better read once it is fixed.
    """
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        # Unknown names first, a section before a field in one.
        details = sorted(
            error.errors(),
            key=lambda detail: (detail["type"] != "extra_forbidden", len(detail["loc"])),
        )
        raise ScenarioError.of([_problem(model, detail, where) for detail in details]) from None


def _problem(model: type[BaseModel], detail: Mapping[str, Any], where: str) -> str:
    """One validation error as one line naming the file, the field and the value."""
    location = ".".join(str(part) for part in detail["loc"])
    value = detail.get("input")
    message = detail["msg"].removeprefix("Value error, ")
    hint = ""
    if detail["type"] == "extra_forbidden":
        name = str(detail["loc"][-1])
        section = _fields_at(model, detail["loc"][:-1])
        is_table = isinstance(value, dict)
        message = "unknown section" if is_table and len(detail["loc"]) == 1 else "unknown field"
        hint = did_you_mean(name, section)
        if not hint and not is_table:
            # Not in its own section: perhaps in another one ("stok" -> catalog.stock_per_sku).
            here = "".join(f"{part}." for part in detail["loc"][:-1] if isinstance(part, str))
            match = closest_key(name, _model_keys(model), here)
            hint = "" if match is None else f"; did you mean {match!r}?"
    elif detail["type"] == "literal_error" and isinstance(value, str):
        # pydantic names the choices as "'a', 'b' or 'c'"
        choices = re.findall(r"'([^']*)'", str(detail.get("ctx", {}).get("expected", "")))
        hint = did_you_mean(value, choices)
        if hint:
            # The suggestion, not a list of every choice that would cut it off the line.
            message = f"not one of its {len(choices)} choices"
    # A table's problem is stated in the message; a value is shown, shortened.
    shown = "" if isinstance(value, dict) else f" (got {_shorten(repr(value), 80)})"
    # A limit across sections has no one location; its message names the fields.
    field = f"{location}: " if location else ""
    return f"{where}: {field}{message}{shown}{hint}"


def _model_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every field of ``model`` and of its sections, dotted (for a suggestion)."""
    keys = []
    for name, field_info in model.model_fields.items():
        keys.append(prefix + name)
        section = _section_type(field_info.annotation)
        if section is not None:
            keys.extend(_model_keys(section, f"{prefix}{name}."))
    return keys


def _shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fields_at(model: type[BaseModel], location: Sequence[int | str]) -> list[str]:
    """The field names of the section at ``location`` in ``model`` (for a suggestion)."""
    current: Any = model
    for part in location:
        if isinstance(part, int):
            continue  # an index into a list of sections: the element's type is found below
        field_info = getattr(current, "model_fields", {}).get(part)
        if field_info is None:
            return []
        current = _section_type(field_info.annotation)
        if current is None:
            return []
    return list(getattr(current, "model_fields", {}))


def _section_type(annotation: Any) -> Any:
    """The section model an annotation holds (``Breaker``, ``list[Outage]``, ``X | None``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in get_args(annotation):
        found = _section_type(argument)
        if found is not None:
            return found
    return None
