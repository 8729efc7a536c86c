"""Validating settings: each pydantic error as one line naming the file, field and value."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, ValidationError

from checkoutsim.scenario.errors import ScenarioError
from checkoutsim.scenario.suggest import closest_key, did_you_mean

M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], raw: Mapping[str, Any], where: str) -> M:
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
