"""Reading scenario text safely: bounded size, UTF-8 only, bounded nesting and numbers.

A scenario file or a ``--set`` value is untrusted text. Before the TOML parser
sees it, the text is held to a size limit, decoded as UTF-8 (a UTF-8 byte-order
mark is skipped; UTF-16 and UTF-32 are refused by name) and scanned for the
depth of its arrays and inline tables, so a deeply nested value is refused
before the parser recurses into it. After parsing, the data is walked once
(iteratively) to refuse deep dotted keys, integers beyond 64 bits, control
characters such as NUL in strings, and absurdly long keys. Every failure is an
``InputError`` whose message is one line naming where the text came from.
"""

from __future__ import annotations

import re
import stat
import tomllib
from pathlib import Path
from typing import Any

#: The largest scenario file (or ``--set`` value) read, in bytes.
MAX_BYTES = 1_000_000
#: The deepest nesting of tables and arrays accepted (real scenarios use 4).
MAX_DEPTH = 20
#: The longest key accepted, in characters.
MAX_KEY_LENGTH = 200
#: Integers must fit TOML's 64-bit range (the parser itself accepts any size).
MAX_INTEGER = 2**63 - 1
MIN_INTEGER = -(2**63)

_BYTE_ORDER_MARKS = (
    # UTF-32 first: its little-endian mark starts with UTF-16's.
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
_UTF8_BOM = b"\xef\xbb\xbf"
#: Control characters TOML strings may carry as escapes but no setting needs.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: What the nesting scanner looks at: string delimiters, escapes, comments, brackets.
_TOKENS = re.compile(r'"""|\'\'\'|\\.|["\'#\[\]{}\n.=,]', re.DOTALL)
#: A bare ``--set`` value that is not TOML but is read as a string (a name, a path).
_BARE_WORD = re.compile(r"[A-Za-z0-9_./:+@%,~-][A-Za-z0-9_./:+@%,~ -]*")


class InputError(Exception):
    """Text that cannot be read as a scenario; ``str()`` is the one-line message."""


def decode(data: bytes, where: str) -> str:
    """UTF-8 text from ``data`` (a UTF-8 byte-order mark skipped); refuse anything else."""
    if len(data) > MAX_BYTES:
        raise InputError(f"{where}: more than {MAX_BYTES:,} bytes (the limit)")
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    for mark, encoding in _BYTE_ORDER_MARKS:
        if data.startswith(mark):
            raise InputError(f"{where}: is {encoding} text; save it as UTF-8")
    if b"\x00" in data:
        raise InputError(f"{where}: contains NUL bytes (UTF-16 or binary?); save it as UTF-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(
            f"{where}: not UTF-8 text (byte {error.start}: {error.reason}); save it as UTF-8"
        ) from None


def read_text(path: Path) -> str:
    """The text of a scenario file: a regular file of at most ``MAX_BYTES`` UTF-8 bytes."""
    where = str(path)
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise InputError(f"{where}: is a folder, not a scenario file")
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{where}: not a regular file")
        if info.st_size > MAX_BYTES:
            raise InputError(f"{where}: file is {info.st_size:,} bytes, more than {MAX_BYTES:,}")
        with path.open("rb") as file:
            # Read one byte past the limit: a file may grow after the stat.
            data = file.read(MAX_BYTES + 1)
    except OSError as error:
        raise InputError(f"{where}: cannot read: {error.strerror or error}") from None
    except ValueError as error:  # an embedded NUL in the path
        raise InputError(f"{where!r}: not a usable path: {error}") from None
    return decode(data, where)


def nesting_depth(text: str) -> int:
    """The deepest nesting of ``[`` and ``{``, or of a dotted key, outside strings and comments.

    A light scan, not a parser: it knows TOML's four kinds of strings and its
    comments, which is enough to see how deep the parser would recurse, and how
    many parts a dotted key has (the parser's work grows with their square).
    """
    depth = deepest = dots = 0
    closing: str | None = None  # the delimiter that ends the string we are in
    in_comment = False
    for match in _TOKENS.finditer(text):
        token = match.group()
        if in_comment:
            in_comment = token != "\n"
        elif closing is not None:
            # Escapes count only in basic strings; a literal string ends at its quote.
            if token == closing or (
                closing == "'" and token.startswith("\\") and token.endswith("'")
            ):
                closing = None
            elif token == "\n" and closing in ('"', "'"):
                closing = None  # an unterminated one-line string: the parser refuses it
        elif token in ('"""', "'''", '"', "'"):
            closing = token
        elif token == "#":
            in_comment = True
        elif token == ".":
            # Dots since the last "=", "," "{" or line end: the parts of one
            # dotted key (a float's one dot counts once, harmlessly).
            dots += 1
            deepest = max(deepest, dots)
        elif token in "=,\n":
            dots = 0
        elif token in "[{":
            dots = 0
            depth += 1
            deepest = max(deepest, depth)
        elif token in "]}":
            depth = max(0, depth - 1)
    return deepest


def parse_toml(text: str, where: str, check: bool = True) -> dict[str, Any]:
    """Parse TOML ``text``; refuse, as one line, anything too deep, too big or malformed.

    ``check=False`` leaves the walk over the parsed data (``check_structure``)
    to the caller.
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise InputError(f"{where}: more than {MAX_BYTES:,} bytes (the limit)")
    if nesting_depth(text) > MAX_DEPTH:
        raise InputError(f"{where}: nested more than {MAX_DEPTH} levels deep (the limit)")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{where}: invalid TOML: {error}") from None
    except RecursionError:
        raise InputError(f"{where}: nested too deeply to read") from None
    except ValueError as error:
        # Python refuses to turn more than 4,300 digits into an int.
        if "digits" in str(error):
            raise InputError(
                f"{where}: an integer of more than 4,300 digits is outside TOML's 64-bit range"
            ) from None
        raise InputError(f"{where}: invalid TOML: {str(error).splitlines()[0]}") from None
    if check:
        check_structure(data, where)
    return data


def check_structure(data: Any, where: str) -> None:
    """Refuse deep nesting, huge integers, long keys and control characters, iteratively."""
    pending: list[tuple[Any, str, int]] = [(data, "", 0)]
    while pending:
        value, location, depth = pending.pop()
        at = f"{where}: {location}" if location else where
        if depth > MAX_DEPTH:
            raise InputError(f"{at}: nested more than {MAX_DEPTH} levels deep (the limit)")
        if isinstance(value, dict):
            for key, item in value.items():
                if len(key) > MAX_KEY_LENGTH:
                    raise InputError(
                        f"{at}: a key of {len(key):,} characters "
                        f"(the limit is {MAX_KEY_LENGTH}): {key[:40]!r}..."
                    )
                if _CONTROL.search(key):
                    raise InputError(f"{at}: the key {key!r} has a control character")
                pending.append((item, f"{location}.{key}" if location else key, depth + 1))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                pending.append((item, f"{location}[{index}]", depth + 1))
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int) and not MIN_INTEGER <= value <= MAX_INTEGER:
            raise InputError(
                f"{at}: an integer of {value.bit_length():,} bits is outside TOML's 64-bit range"
            )
        elif isinstance(value, str) and _CONTROL.search(value):
            character = _CONTROL.search(value)
            assert character is not None
            raise InputError(
                f"{at}: the string has the control character {character.group()!r}, "
                "which no setting accepts"
            )


def read_toml_file(path: Path) -> dict[str, Any]:
    """Read and parse a scenario file with every limit of this module."""
    return parse_toml(read_text(path), str(path))


def parse_set_value(raw: str, where: str) -> Any:
    """The value of a ``--set section.key=VALUE``, read as TOML and bounded like a file.

    A bare word that is not TOML (``naive``, ``/tmp/store``) is taken as a
    string, as a shell user would expect; anything else that fails to parse is
    refused rather than silently kept as text.
    """
    try:
        data = raw.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{where}: the value is not UTF-8 text") from None
    if len(data) > MAX_BYTES:
        raise InputError(f"{where}: the value is more than {MAX_BYTES:,} bytes (the limit)")
    if _CONTROL.search(raw):
        raise InputError(f"{where}: the value has a control character such as NUL or ESC")
    if "\n" in raw or "\r" in raw:
        raise InputError(f"{where}: the value spans several lines; give one TOML value")
    try:
        value = parse_toml(f"value = {raw}", where, check=False)["value"]
    except InputError:
        if _BARE_WORD.fullmatch(raw) and not raw[0].isdigit() and raw[0] not in "+-.":
            return raw
        raise
    check_structure(value, where)
    return value
