"""The text of a checkout request, checked before the checkout sees it.

Only UTF-8 JSON is accepted (RFC 8259, section 8.1): the bytes are decoded
explicitly, because ``json.loads`` given bytes guesses UTF-16 and UTF-32 from the
zero bytes and would take such a body. Every string and number that reaches
``int()`` is bounded first: Python's ``int()`` refuses more than 4,300 digits
with a ``ValueError``, and ``str.isdigit`` and ``int()`` both accept non-ASCII
digits ("²", "٣"), so digits are matched as ``[0-9]`` only. Each failure is a
``BadRequest`` with a fixed message; no exception text reaches the client.
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any

MAX_BODY_BYTES = 10_000
#: Longest field name in a body (the real ones are a few letters).
MAX_NAME_LENGTH = 64
#: Most digits of a JSON integer (a quantity is small; an int64 has 19).
MAX_INTEGER_DIGITS = 20
#: Longest SKU name ("sku-" and up to 20 digits).
MAX_SKU_LENGTH = 24

_SKU = re.compile(r"sku-([0-9]+)", re.ASCII)
_WIDE_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


class BadRequest(Exception):
    """Malformed input: answered with a 4xx and ``{"error": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def decode_object(raw: bytes) -> Any:
    """The JSON value in ``raw``: UTF-8 only, bounded names and numbers, no repeated keys."""
    if len(raw) > MAX_BODY_BYTES:
        raise BadRequest(413, f"body larger than {MAX_BODY_BYTES} bytes")
    if raw.startswith(codecs.BOM_UTF8):
        raise BadRequest(400, "body must be UTF-8 JSON without a byte-order mark")
    # A NUL byte is never valid in JSON text; in a body it means UTF-16 or UTF-32.
    if raw.startswith(_WIDE_BOMS) or b"\x00" in raw:
        raise BadRequest(415, "body must be UTF-8 JSON (this looks like UTF-16 or UTF-32)")
    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest(400, "body is not valid UTF-8 JSON") from None
    try:
        return _DECODER.decode(text)
    except (ValueError, RecursionError):
        # RecursionError: a small body of deeply nested brackets must be a 400, not a 500.
        raise BadRequest(400, "body is not valid JSON") from None


def _fields(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose field names are short and given once each."""
    seen: set[str] = set()
    for name, _ in pairs:
        if len(name) > MAX_NAME_LENGTH:
            raise BadRequest(400, f"field names must be at most {MAX_NAME_LENGTH} characters")
        if name in seen:
            # The last value would silently win; a client that repeats a field is confused.
            raise BadRequest(400, f"field {name!r} given more than once")
        seen.add(name)
    return dict(pairs)


def _integer(digits: str) -> int:
    """A JSON integer of at most ``MAX_INTEGER_DIGITS`` digits."""
    if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise BadRequest(400, f"numbers must have at most {MAX_INTEGER_DIGITS} digits")
    return int(digits)


def _constant(name: str) -> Any:
    """``NaN`` and ``Infinity`` are Python's extension, not JSON."""
    raise BadRequest(400, "body is not valid JSON (NaN and Infinity are not JSON)")


#: One decoder for every body (``json.loads`` with hooks builds a new one per call).
_DECODER = json.JSONDecoder(object_pairs_hook=_fields, parse_int=_integer, parse_constant=_constant)


def sku_number(sku: object) -> int | None:
    """The number in a SKU name ``"sku-N"`` (N in ASCII digits), or None for another name.

    A value that is not a string, or is longer than any SKU name, is 400: it is
    malformed. A short string of another form is a well-formed name that names
    no SKU, which the catalog answers (404), not this check.
    """
    if not isinstance(sku, str) or len(sku) > MAX_SKU_LENGTH:
        raise BadRequest(400, f"sku must be a string of at most {MAX_SKU_LENGTH} characters")
    match = _SKU.fullmatch(sku)
    return None if match is None else int(match.group(1))
