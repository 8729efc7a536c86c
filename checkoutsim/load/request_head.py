"""A request's header lines, read strictly and without the e-mail parser.

gevent's server reads the head with ``http.client.parse_headers``, which hands
the lines to ``email.parser``: a parser for e-mail, which looks for a body's
MIME type after the headers (four look-ups per request) and answers each
``get`` by scanning and lower-casing every header name. On ``serve``'s path
that was about a fifth of the hub's CPU per request. ``read_head`` keeps what
``parse_headers`` checks (at most 100 header lines of at most 64 KiB each, the
lines decoded as ISO-8859-1) and builds gevent's header object directly.

It is stricter than the e-mail parser, as RFC 9112 (section 5) asks of a
server: a line that is not ``name: value`` with a token for a name (a space
before the colon, a folded continuation line, a bare CR) is refused with a
400, where the e-mail parser silently dropped that line and every header after
it, so that a proxy in front and this server could read different headers.
"""

from __future__ import annotations

import http.client
import re
from typing import Any

from gevent.pywsgi import OldMessage

#: Longest header line and most header lines, as ``http.client`` bounds them.
MAX_LINE = 65_536
MAX_HEADERS = 100
#: ``name: value``: the name a token (RFC 9110 section 5.6.2), the value anything but CR and LF.
_FIELD = re.compile(r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\r\n]*)\r?\n?")


class MalformedHead(ValueError):
    """A header line that is not ``name: value`` (the server answers 400)."""


class RequestHead(OldMessage):  # type: ignore[misc]  (gevent's class is untyped)
    """gevent's header object with a ``get`` that skips the e-mail policy's checks.

    Values come from ISO-8859-1 text, which holds no surrogates, so the
    ``compat32`` policy would return them unchanged anyway.
    """

    def __init__(self) -> None:
        super().__init__()
        #: The first value of each header, by its name in lower case.
        self._first: dict[str, str] = {}

    def add(self, name: str, value: str) -> None:
        """One more header line."""
        self._headers.append((name, value))
        self._first.setdefault(name.lower(), value)

    def get(self, name: str, failobj: Any = None) -> Any:
        """The first value of header ``name`` (any case), or ``failobj``."""
        return self._first.get(name.lower(), failobj)

    def __delitem__(self, name: str) -> None:
        """Drop every header ``name`` (gevent drops a chunked request's Content-Length)."""
        super().__delitem__(name)
        self._first.pop(name.lower(), None)


def read_head(source: Any) -> RequestHead:
    """The header lines up to the blank line, from ``source.readline``.

    ``http.client.LineTooLong`` for a line over ``MAX_LINE`` bytes and
    ``http.client.HTTPException`` for more than ``MAX_HEADERS`` lines (the
    bounded server answers both 431; its head budget usually cuts a long line
    first), ``MalformedHead`` for a line that is not a header (400).
    """
    head = RequestHead()
    count = 0
    while True:
        line = source.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise http.client.LineTooLong("header line")
        if line in (b"\r\n", b"\n", b""):
            return head
        count += 1
        if count > MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")
        match = _FIELD.fullmatch(line.decode("iso-8859-1"))
        if match is None:
            raise MalformedHead("header lines must be 'name: value', one line each")
        head.add(match.group(1), match.group(2))
