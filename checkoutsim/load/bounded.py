"""``serve``'s HTTP server with bounded resources: time-outs, a connection limit, JSON errors.

gevent's ``WSGIServer`` as shipped waits for a client for ever: a request line,
its headers, a body shorter than its Content-Length, the next request on a
kept-alive connection and a client that does not read its answer each hold a
greenlet and a file handle until the client lets go, and it accepts connections
until ``accept()`` fails for want of file handles. ``BoundedServer`` puts a
deadline on each of those waits and a ceiling on open connections:

- header time-out: the request line and headers must arrive within it, counted
  from the connection's start (or, on a kept-alive connection, from the
  request's first byte); a slow trickle does not reset it. No request line:
  the connection is closed; headers cut short: 408.
- body time-out: the body (as much of it as the app reads, and the rest that
  the server discards) must arrive within it after the headers; else 408 and
  the connection closes.
- idle time-out: a kept-alive connection waits this long for its next request.
- send time-out: an answer must be taken by the client within it.
- connection limit: a connection over it gets 503 with a JSON body and is
  closed; a pool a little larger stops ``accept()`` before the process runs out
  of file handles, whose soft limit ``fit_to_open_files`` raises first.

The request head is bounded too (``HEAD_BYTES`` of headers; gevent already cuts
the request line at 8 KiB) and read strictly (``checkoutsim.load.request_head``),
an answer's head and small body go out in one send, and every error the server
itself answers is JSON like the app's, never an exception's text.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import json
import logging
import re
import socket
import time
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import Any, NoReturn

import gevent
from gevent.pool import Pool
from gevent.pywsgi import Input, WSGIHandler, WSGIServer

from checkoutsim.load.request_head import MalformedHead, RequestHead, read_head

#: Most bytes of header lines in a request head (the request line has gevent's 8 KiB).
HEAD_BYTES = 16_384
#: A body left unread is discarded to keep the connection only if this small.
DISCARD_BYTES = 65_536
#: Connections that may be getting their 503 at once, over the limit.
REFUSALS = 64
#: Longest a refused connection waits for its request, to close without a reset.
REFUSAL_S = 0.5
#: File handles kept back from connections: databases, thread pool, listener, stdio.
RESERVED_FILES = 512
#: Largest body sent in the same send as its head (a checkout's answer is under 100 bytes).
ONE_SEND_BYTES = 16_384
#: Pending connections the kernel queues before ``accept()`` (gevent's default is 128).
BACKLOG = 1024

_LENGTH = re.compile(r"[0-9]{1,15}", re.ASCII)
log = logging.getLogger("checkoutsim.serve")


@dataclass(frozen=True, slots=True)
class ServeLimits:
    """How long a client may take at each step, and how many may be connected at once."""

    max_connections: int = 4096
    header_s: float = 10.0
    body_s: float = 10.0
    idle_s: float = 60.0
    send_s: float = 30.0


def fit_to_open_files(limits: ServeLimits) -> tuple[ServeLimits, int]:
    """Raise the soft open-file limit to the hard one; lower the connection limit to fit it.

    Returns the limits to serve with and the soft limit now in force. The
    connection limit stays ``RESERVED_FILES`` and the refusal slots below it, so
    ``accept()`` never fails for want of a file handle.
    """
    try:
        import resource
    except ImportError:  # not a POSIX system: nothing to raise or to read
        return limits, 0
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65_536)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):  # some systems cap below the hard limit
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft == resource.RLIM_INFINITY:
        return limits, 0
    room = max(1, soft - RESERVED_FILES - REFUSALS)
    if limits.max_connections > room:
        limits = replace(limits, max_connections=room)
    return limits, soft


def error_response(status: int, message: str) -> bytes:
    """A whole HTTP response: ``status`` with ``{"error": message}``, closing the connection."""
    body = json.dumps({"error": message}).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        + ("Retry-After: 1\r\n" if status == 503 else "")
        + "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


class HeadTimeout(OSError):
    """The request line and headers did not arrive within the header time-out."""


class IdleTimeout(OSError):
    """No next request on a kept-alive connection within the idle time-out."""


class BodyTimeout(TimeoutError):
    """The body did not arrive within the body time-out (the app answers 408)."""


class HeadTooLarge(ValueError):
    """More header bytes than ``HEAD_BYTES``."""


class BadFraming(ValueError):
    """A Content-Length that does not say one plain number."""


_MESSAGES = {
    400: "malformed request",
    408: "request headers not received in time",
    414: "request line longer than 8192 bytes",
    431: f"request headers larger than {HEAD_BYTES} bytes, or more than 100 of them",
}


class _HeadReader:
    """The connection's reader while headers are parsed: ``readline`` within a byte budget."""

    def __init__(self, rfile: Any, budget: int) -> None:
        self._rfile = rfile
        self._left = budget

    def readline(self, limit: int = -1) -> bytes:
        """One header line; ``HeadTooLarge`` once the head is over budget."""
        most = self._left + 1 if limit < 0 else min(limit, self._left + 1)
        line: bytes = self._rfile.readline(most)
        self._left -= len(line)
        if self._left < 0:
            raise HeadTooLarge(f"headers over {HEAD_BYTES} bytes")
        return line


class DeadlineInput(Input):
    """``wsgi.input`` that must be read within the body time-out."""

    __slots__ = ("deadline", "expired", "handler")

    def __init__(self, handler: BoundedHandler, plain: Input, seconds: float) -> None:
        super().__init__(plain.rfile, plain.content_length, plain.socket, plain.chunked_input)
        self.handler = handler
        self.deadline = time.monotonic() + seconds
        self.expired = False

    def read(self, length: int | None = None) -> bytes:
        """Up to ``length`` bytes of the body, before the deadline."""
        return self._bounded(super().read, length)

    def readline(self, size: int | None = None) -> bytes:
        """One line of the body, before the deadline."""
        return self._bounded(super().readline, size)

    def _bounded(self, reader: Any, size: int | None) -> bytes:
        left = self.deadline - time.monotonic()
        if self.expired or left <= 0:
            self._expire()
        try:
            with gevent.Timeout(left, BodyTimeout()):
                return reader(size)  # type: ignore[no-any-return]
        except BodyTimeout:
            self._expire()
        except OSError:
            # The client closed mid-body: what follows on the connection is unknown.
            self.handler.close_connection = True
            raise

    def _expire(self) -> NoReturn:
        self.expired = True
        self.handler.close_connection = True
        raise BodyTimeout("request body not received in time")

    def _discard(self) -> None:
        """Read what the app left of the body, if it is small and on time; else close."""
        left = (self.content_length or 0) - self.position
        if self.expired or self.chunked_input or left > DISCARD_BYTES:
            self.handler.close_connection = True
            return
        super()._discard()


class BoundedHandler(WSGIHandler):
    """gevent's request handler with deadlines on each wait and JSON error answers."""

    server: BoundedServer
    #: A client that does not take its answer in time is dropped without a traceback.
    ignored_socket_errors = (*WSGIHandler.ignored_socket_errors, errno.ETIMEDOUT)

    def __init__(self, sock: Any, address: Any, server: BoundedServer) -> None:
        super().__init__(sock, address, server)
        self._answered = 0
        self._head_timer: gevent.Timeout | None = None
        self._problem: str | None = None

    def handle_one_request(self) -> Any:
        """One request within the time-outs; gevent's own error answers made JSON."""
        limits = self.server.limits
        if self._answered and not self._next_request_arrives(limits.idle_s):
            return None
        self._problem = None
        self._head_timer = gevent.Timeout(limits.header_s, HeadTimeout("headers too slow"))
        self._head_timer.start()
        try:
            result = super().handle_one_request()
        finally:
            self._stop_head_timer()
        self._answered += 1
        if isinstance(result, tuple):  # (status, raw response) from gevent, to be sent and closed
            status = int(result[0])
            return result[0], error_response(status, self._problem or _MESSAGES[status])
        return result

    def _next_request_arrives(self, seconds: float) -> bool:
        """Wait for a kept-alive connection's next request; False to close it."""
        try:
            with gevent.Timeout(seconds, IdleTimeout("idle")):
                return bool(self.rfile.peek(1))
        except (OSError, ValueError):  # idle too long, closed by the client, or reset
            return False

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.close()
            self._head_timer = None

    def MessageClass(self, source: Any, *args: Any) -> RequestHead:  # gevent names it so
        """The request's headers, read by ``checkoutsim.load.request_head`` (strict, fast)."""
        return read_head(source)

    def read_request(self, raw_requestline: str) -> bool:
        """Parse the head within ``HEAD_BYTES``; refuse ambiguous or non-ASCII framing."""
        rfile = self.rfile
        self.rfile = _HeadReader(rfile, HEAD_BYTES)
        try:
            super().read_request(raw_requestline)
        finally:
            self.rfile = rfile
        lengths = self.headers.get_all("Content-Length") or []
        if len(lengths) > 1:
            raise BadFraming("more than one Content-Length header")
        if lengths and not _LENGTH.fullmatch(lengths[0].strip(" \t")):
            raise BadFraming("Content-Length must be a number of bytes in ASCII digits")
        if self.headers.get("Transfer-Encoding") or (self.content_length or 0) > DISCARD_BYTES:
            # The app refuses such bodies unread; the connection cannot be reused after them.
            self.close_connection = True
        return True

    def _handle_client_error(self, ex: BaseException) -> tuple[str, bytes]:
        """The answer to a request whose head could not be read (no log: the client's fault)."""
        self._stop_head_timer()
        if isinstance(ex, HeadTimeout):
            status = 408
        elif isinstance(ex, HeadTooLarge | http.client.HTTPException):
            status = 431
        else:
            status = 400
            if isinstance(ex, BadFraming | MalformedHead):
                self._problem = str(ex)
        return str(status), b""

    def get_environ(self) -> dict[str, Any]:
        """The WSGI environ, once the head is in: the head's deadline off, the body's on."""
        self._stop_head_timer()
        environ: dict[str, Any] = super().get_environ()
        self.wsgi_input = DeadlineInput(self, self.wsgi_input, self.server.limits.body_s)
        # Upgrades are not served, so the body is always read through the deadline.
        environ["wsgi.input"] = self.wsgi_input
        environ["wsgi.input_terminated"] = True
        return environ

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Any:
        """Say ``Connection: close`` when the connection will not be kept."""
        if self.close_connection and not any(name.lower() == "connection" for name, _ in headers):
            headers = [*headers, ("Connection", "close")]
        return super().start_response(status, headers, exc_info)

    def _write_with_headers(self, data: bytes) -> None:
        """The status line, headers and a small body in one send.

        gevent sends the head and the body in two: with ``TCP_NODELAY`` two
        segments, two system calls here and two wake-ups for the client.
        """
        self.headers_sent = True
        self.finalize_headers()
        answer = bytearray(b"HTTP/1.1 ")
        answer += self.status
        answer += b"\r\n"
        for header, value in self.response_headers:
            answer += header
            answer += b": "
            answer += value
            answer += b"\r\n"
        answer += b"\r\n"
        if self.response_use_chunked or len(data) > ONE_SEND_BYTES:
            self._sendall(answer)
            self._write(data)  # framed as gevent frames it (chunked or not)
            return
        answer += data
        self._sendall(answer)

    def process_result(self) -> None:
        """Send the answer within the send time-out."""
        timeout = OSError(errno.ETIMEDOUT, "answer not taken in time")
        with gevent.Timeout(self.server.limits.send_s, timeout):
            super().process_result()

    def _send_error_response_if_possible(self, error_code: int) -> None:
        """gevent's fallback answers (400, 500), in JSON."""
        if self.response_length:
            self.close_connection = True
            return
        message = "internal error" if error_code >= 500 else _MESSAGES.get(error_code, "error")
        body = json.dumps({"error": message}).encode()
        headers = [("Content-Type", "application/json"), ("Connection", "close")]
        headers.append(("Content-Length", str(len(body))))
        try:
            self.start_response(f"{error_code} {HTTPStatus(error_code).phrase}", headers)
            self.write(body)
        except OSError:
            self.close_connection = True


class BoundedServer(WSGIServer):
    """A WSGI server with ``BoundedHandler``, ``TCP_NODELAY`` and a connection limit."""

    handler_class = BoundedHandler

    def __init__(self, address: tuple[str, int], application: Any, limits: ServeLimits) -> None:
        super().__init__(
            address,
            application,
            backlog=BACKLOG,
            # The pool is the hard stop (gevent stops accepting while it is full);
            # the limit below it is where connections start getting a 503.
            spawn=Pool(limits.max_connections + REFUSALS),
            log=None,
            error_log=log,
        )
        self.limits = limits
        self.connections = 0

    def handle(self, sock: socket.socket, address: Any) -> None:
        """Serve the connection, or answer 503 if the limit is reached."""
        # With Nagle's algorithm small JSON answers wait for the client's delayed ACK.
        with contextlib.suppress(OSError):  # a socket that is not TCP has nothing to tune
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.connections >= self.limits.max_connections:
            refuse(sock, self.limits.max_connections)
            return
        self.connections += 1
        try:
            super().handle(sock, address)
        finally:
            self.connections -= 1


def refuse(sock: socket.socket, limit: int) -> None:
    """Answer 503 on a connection over the limit and let it go (within ``REFUSAL_S``)."""
    answer = error_response(503, f"server busy: {limit} connections open, the most it serves")
    with contextlib.suppress(OSError), gevent.Timeout(REFUSAL_S, False):
        sock.sendall(answer)
        sock.shutdown(socket.SHUT_WR)
        # Closing with unread bytes resets the connection, which can destroy the 503
        # before the client reads it: take what it sent (a request comes in one
        # segment) first. Only once: waiting for the client to close would let a
        # client that never does hold the refusal slots.
        sock.recv(DISCARD_BYTES)
