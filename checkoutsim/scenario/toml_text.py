"""A scenario written back as TOML, the way a scenario file is written.

``checkoutsim show`` prints this: the resolved settings, readable, and loadable
again as a scenario file. A latency is written as its distribution's own figures
(a lognormal's ``p50_s`` and ``p99_s``, an exponential or constant's ``mean_s``):
the schema keeps every field of every distribution, and a ``mean_s`` shown beside
a lognormal's ``p50_s`` would read as a figure the model uses when it does not.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from checkoutsim.scenario.settings import Latency

#: The fields each latency distribution is drawn from (the rest are unused).
OWN_FIGURES = {
    "lognormal": ("distribution", "p50_s", "p99_s"),
    "exponential": ("distribution", "mean_s"),
    "constant": ("distribution", "mean_s"),
}

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def readable(model: BaseModel) -> dict[str, Any]:
    """A settings model as plain data, each latency reduced to its own figures."""
    if isinstance(model, Latency):
        return {name: getattr(model, name) for name in OWN_FIGURES[model.distribution]}
    data: dict[str, Any] = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        data[name] = _plain(value)
    return data


def _plain(value: Any) -> Any:
    """A field's value as plain data (models, tuples and lists inside it too)."""
    if isinstance(value, BaseModel):
        return readable(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def key_text(key: str) -> str:
    """A TOML key: bare when it can be, else quoted (``"inventory.strategy"``)."""
    return key if _BARE_KEY.fullmatch(key) else string_text(key)


def string_text(text: str) -> str:
    """A TOML basic string. JSON's escapes are TOML's, but for DEL, which TOML wants escaped."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def value_text(value: Any) -> str:
    """A value inline: strings, booleans, numbers, arrays and inline tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return string_text(value)
    if isinstance(value, Mapping):
        items = ", ".join(
            f"{key_text(str(k))} = {value_text(v)}" for k, v in value.items() if v is not None
        )
        return "{ " + items + " }" if items else "{}"
    if isinstance(value, Sequence):
        return "[" + ", ".join(value_text(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def long_string_text(text: str) -> str:
    """A multi-line string as ``\"\"\"`` block when it reads back the same, else quoted."""
    plain = all(character == "\n" or character.isprintable() for character in text)
    # Only text that ends in a newline: the block's last line break is part of its value.
    # A quote before the closing """ would end the block early.
    safe = plain and "\\" not in text and '"""' not in text and not text.endswith('"\n')
    if text.endswith("\n") and safe:
        return '"""\n' + text + '"""'
    return string_text(text)


def to_toml(data: Mapping[str, Any], path: tuple[str, ...] = (), inline: bool = False) -> str:
    """``data`` as a TOML document: plain keys first, then tables, then arrays of tables.

    A key whose value is None (TOML has no null) is written as a comment. With
    ``inline``, tables are written inline (``set = { ... }`` in a ``[[variants]]``).
    """
    lines: list[str] = []
    tables: list[tuple[str, Mapping[str, Any]]] = []
    arrays: list[tuple[str, list[Mapping[str, Any]]]] = []
    for key, value in data.items():
        if isinstance(value, Mapping) and value and not inline:
            tables.append((key, value))
        elif (
            isinstance(value, list)
            and value
            and all(isinstance(item, Mapping) for item in value)
            and not inline
        ):
            arrays.append((key, value))
        elif value is None:
            lines.append(f"# {key_text(key)}: not set")
        elif isinstance(value, str):
            lines.append(f"{key_text(key)} = {long_string_text(value)}")
        else:
            lines.append(f"{key_text(key)} = {value_text(value)}")
    blocks = ["\n".join(lines)] if lines else []
    for key, table in tables:
        name = ".".join(key_text(part) for part in (*path, key))
        inner = to_toml(table, (*path, key))
        # A table that holds only tables needs no header of its own.
        if any(not isinstance(v, Mapping) or not v for v in table.values()):
            blocks.append(f"[{name}]\n{inner}")
        else:
            blocks.append(inner)
    for key, items in arrays:
        name = ".".join(key_text(part) for part in (*path, key))
        for item in items:
            blocks.append(f"[[{name}]]\n{to_toml(item, inline=True)}")
    return "\n\n".join(block.rstrip("\n") for block in blocks if block) + "\n"
