"""The adapter file: how to check out, read stock and reset on someone else's service.

An adapter is untrusted TOML, read with every limit of ``checkoutsim.scenario.inputs``
and validated into frozen, strict pydantic models; the first problem is one line
naming the file, the field and the value. Strings in ``path``, ``json`` and
``headers`` may hold placeholders: ``{sku}``, ``{quantity}`` and ``{key}`` (an
idempotency key unique to the intent). A string that is exactly one placeholder
becomes that value with its type (``"{quantity}"`` is the integer 2).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from checkoutsim.scenario.inputs import InputError, read_toml_file
from checkoutsim.scenario.settings import InventoryStrategy

#: What a placeholder may name.
PLACEHOLDERS = ("sku", "quantity", "key")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_]*)\}")

#: The strategies an adapter may declare: the scenario's own inventory strategies.
Strategy = InventoryStrategy

Status = Annotated[int, Field(ge=100, le=599)]
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
ShortText = Annotated[str, Field(max_length=2000)]


class AdapterError(InputError):
    """An adapter file (or the target it describes) cannot be used; one line."""


class Part(BaseModel):
    """Base of every adapter section: immutable, strict, no unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


class Call(Part):
    """One HTTP call on the target: method, path and optional JSON body and headers."""

    method: Method = "GET"
    path: ShortText = "/"
    json_body: dict[str, Any] | None = Field(None, alias="json")
    headers: dict[str, ShortText] = Field(default_factory=dict, max_length=50)

    @field_validator("path")
    @classmethod
    def _path_is_a_path(cls, path: str) -> str:
        if not path.startswith("/") or any(character.isspace() for character in path):
            raise ValueError("must start with / and hold no spaces")
        return _known_placeholders(path)

    @field_validator("headers")
    @classmethod
    def _header_placeholders(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}", name):
                raise ValueError(f"{name!r} is not an HTTP header name")
            _known_placeholders(value)
        return headers

    @field_validator("json_body")
    @classmethod
    def _json_placeholders(cls, body: dict[str, Any] | None) -> dict[str, Any] | None:
        pending: list[Any] = [body]
        while pending:
            value = pending.pop()
            if isinstance(value, dict):
                pending.extend(value.values())
            elif isinstance(value, list):
                pending.extend(value)
            elif isinstance(value, str):
                _known_placeholders(value)
        return body


def _pointer_syntax(pointer: str) -> str:
    if pointer and not pointer.startswith("/"):
        raise ValueError('a JSON pointer is "" or starts with /')
    if re.search(r"~[^01]|~$", pointer):
        raise ValueError("~ in a JSON pointer must be ~0 or ~1")
    return _known_placeholders(pointer)


class Checkout(Call):
    """The checkout call and what its answers mean.

    By status alone (``ordered``, ``sold_out``), or, for a service that answers
    200 either way, by the string at the JSON pointer ``outcome`` too: then an
    ``ordered`` status is an order only if that string is in ``ordered_outcomes``,
    and sold out if it is in ``sold_out_outcomes``.
    """

    method: Method = "POST"
    ordered: list[Status] = Field(min_length=1, max_length=50)
    sold_out: list[Status] = Field(default_factory=list, max_length=50)
    outcome: ShortText | None = None
    ordered_outcomes: list[ShortText] = Field(default_factory=list, max_length=50)
    sold_out_outcomes: list[ShortText] = Field(default_factory=list, max_length=50)

    @field_validator("outcome")
    @classmethod
    def _outcome_pointer(cls, pointer: str | None) -> str | None:
        return None if pointer is None else _pointer_syntax(pointer)

    @field_validator("sold_out")
    @classmethod
    def _disjoint(cls, sold_out: list[int], info: Any) -> list[int]:
        both = set(sold_out) & set(info.data.get("ordered", []))
        if both:
            raise ValueError(f"status {min(both)} is both ordered and sold_out")
        return sold_out


class StockCall(Call):
    """Where the units left are read: a GET and an RFC 6901 JSON pointer into its answer."""

    pointer: ShortText = ""

    @field_validator("pointer")
    @classmethod
    def _pointer(cls, pointer: str) -> str:
        return _pointer_syntax(pointer)


class Reset(Call):
    """The call that puts the target back to its initial stock before a run."""

    method: Method = "POST"


class Catalog(Part):
    """The target's SKU ids, and its units at reset when the stock call cannot say."""

    skus: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=1000
    )
    stock: int | None = Field(None, ge=0, le=1_000_000_000)


class Model(Part):
    """What the user knows of the target, for ``--predict``."""

    strategy: Strategy
    workers: int = Field(16, ge=1, le=100_000)
    race_window_s: float | None = Field(None, ge=0, le=60)
    #: A fixed pool of request threads (gunicorn --threads, waitress, a thread pool
    #: behind http.server): each request holds one from its start to its answer,
    #: pauses and payment included. Leave out for a thread per request or an event loop.
    request_threads: int | None = Field(None, ge=1, le=100_000)
    #: Where a crowd waits for the checks the calibration timed: ``door`` (the
    #: server's own line, before the check; a write after a pause does not wait in
    #: it: one process, a thread or a coroutine per request) or ``database`` (a
    #: pool of connections, first come first served, writes in line behind checks).
    queue: Literal["door", "database"] = "door"


class Adapter(Part):
    """A whole adapter file."""

    checkout: Checkout
    stock: StockCall
    reset: Reset | None = None
    catalog: Catalog
    model: Model | None = None

    @model_validator(mode="after")
    def _outcomes_need_a_pointer(self) -> Adapter:
        checkout = self.checkout
        if checkout.outcome is None and (checkout.ordered_outcomes or checkout.sold_out_outcomes):
            raise ValueError("checkout.ordered_outcomes needs checkout.outcome (a JSON pointer)")
        if checkout.outcome is not None and not checkout.ordered_outcomes:
            raise ValueError("checkout.outcome needs checkout.ordered_outcomes")
        return self


_SECTION_MEANING = {
    "checkout": "how to place an order",
    "stock": "where to read the units left",
    "catalog": "the target's SKU ids",
}


def _known_placeholders(text: str) -> str:
    for name in _PLACEHOLDER.findall(text):
        if name not in PLACEHOLDERS:
            raise ValueError(
                f"unknown placeholder {{{name}}} (known: {{sku}} {{quantity}} {{key}})"
            )
    return text


def resolve(name_or_path: str) -> Path:
    """An adapter path, or a shipped adapter's by name (``serve``: ``scenarios/adapters/``)."""
    path = Path(name_or_path)
    if path.suffix or "/" in name_or_path or path.exists():
        return path
    from checkoutsim.scenario.files import scenario_dirs

    for directory in scenario_dirs():
        shipped = directory / "adapters" / f"{name_or_path}.toml"
        if shipped.is_file():
            return shipped
    return path


def load_adapter(path: Path) -> Adapter:
    """Read and validate an adapter file; any problem is one ``AdapterError`` line."""
    path = resolve(str(path))
    where = str(path)
    try:
        raw = read_toml_file(path)
    except InputError as error:
        raise AdapterError(str(error)) from None
    for section, meaning in _SECTION_MEANING.items():
        if section not in raw:
            raise AdapterError(f"{where}: [{section}] is missing ({meaning})")
    try:
        return Adapter.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        location = ".".join(str(part) for part in first["loc"])
        value = first.get("input")
        message = first["msg"].removeprefix("Value error, ")
        shown = "" if isinstance(value, dict) else f" (got {_shorten(repr(value), 80)})"
        more = error.error_count() - 1
        extra = f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
        raise AdapterError(f"{where}: {location}: {message}{shown}{extra}") from None


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def fill(template: Any, values: dict[str, Any]) -> Any:
    """``template`` with its placeholders replaced; a lone placeholder keeps the value's type."""
    if isinstance(template, str):
        whole = _PLACEHOLDER.fullmatch(template)
        if whole is not None:
            return values[whole.group(1)]
        return _PLACEHOLDER.sub(lambda match: str(values[match.group(1)]), template)
    if isinstance(template, dict):
        return {key: fill(item, values) for key, item in template.items()}
    if isinstance(template, list):
        return [fill(item, values) for item in template]
    return template


def fill_path(template: str, values: dict[str, Any]) -> str:
    """A path with its placeholders replaced, each value percent-encoded."""
    from urllib.parse import quote

    return _PLACEHOLDER.sub(lambda match: quote(str(values[match.group(1)]), safe=""), template)
