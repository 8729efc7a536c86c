"""Dotted overrides (``section.key=value``): parsing ``--set`` and applying them to settings."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from checkoutsim.scenario import inputs
from checkoutsim.scenario.errors import ScenarioError
from checkoutsim.scenario.suggest import closest, closest_key, did_you_mean


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


def apply_overrides(
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
    result = deep_copy(raw)
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
                else closest_key(parts[-1], dotted_keys(root), section)
            )
            hint = "" if suggestion is None else f"; did you mean {suggestion!r}?"
            raise ScenarioError(f"{where}: {dotted}: unknown field (value {value!r}){hint}")
        if isinstance(value, Mapping) and isinstance(target[parts[-1]], dict):
            # A table merges into the section: the keys it leaves out keep
            # their values instead of falling back to the defaults.
            target[parts[-1]] = apply_overrides(
                target[parts[-1]],
                {k: v for k, v in value.items()},
                f"{where}: {dotted}",
                root,
                f"{prefix}{dotted}.",
            )
        else:
            target[parts[-1]] = value
    return result


def dotted_keys(table: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Every key in ``table`` and its sub-tables, dotted (``"catalog.stock_per_sku"``)."""
    keys = []
    for key, value in table.items():
        keys.append(prefix + str(key))
        if isinstance(value, Mapping):
            keys.extend(dotted_keys(value, f"{prefix}{key}."))
    return keys


def deep_copy(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Copy nested dicts (values are immutable scalars, tuples or lists)."""
    return {k: deep_copy(v) if isinstance(v, Mapping) else v for k, v in raw.items()}
