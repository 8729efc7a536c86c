"""``serve`` under slow and malformed clients, over real sockets to 127.0.0.1.

Each server runs in a child process (the load package lets Locust monkey-patch
whatever imports it) with time-outs of a few seconds, so that a held connection
outlives them within a test. Waits are socket waits (a selector, or a read with
a time-out); lower bounds on when the server closes a connection are safe on a
busy machine (lateness only makes them later), upper bounds are generous.
"""

from __future__ import annotations

import json
import re
import selectors
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ENTRY = (
    "from checkoutsim.cli.main import app; from checkoutsim.cli.real import register_real;"
    " register_real(app); app()"
)
HEADER_S = 3.0
BODY_S = 1.0
IDLE_S = 1.0
#: Half-open connections one test holds (the quick server takes 1,000).
HELD = 400
#: Far beyond any time-out here: only a server that never closes fails it.
PATIENCE_S = 30.0
#: Words of a Python exception's name, which no answer may carry.
EXCEPTION_NAME = re.compile(r"\b\w*(Error|Exception)\b|Traceback")


@dataclass
class Server:
    """A ``checkoutsim serve`` child process and where it listens."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path


def start(directory: Path, *options: str) -> Server:
    """``serve flash-sale --port 0 OPTIONS`` with its stderr in a file (never a full pipe)."""
    log = directory / "serve.log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", ENTRY, "serve", "flash-sale", "--port", "0", *options],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        found = re.search(r"serving on http://127\.0\.0\.1:(\d+)", log.read_text())
        if found:
            return Server(int(found.group(1)), process, log)
        time.sleep(0.05)  # polling a child's log file for its first line
    process.kill()
    raise AssertionError(f"serve never said where it listens: {log.read_text()[-2000:]}")


def stop(server: Server) -> None:
    """End the child process."""
    server.process.terminate()
    server.process.wait(30)


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with time-outs of seconds and room for 1,000 connections."""
    server = start(
        tmp_path_factory.mktemp("quick"),
        *("--header-timeout", str(HEADER_S), "--body-timeout", str(BODY_S)),
        *("--idle-timeout", str(IDLE_S), "--max-connections", "1000"),
    )
    yield server
    stop(server)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server that takes 20 connections and waits long for headers."""
    server = start(
        tmp_path_factory.mktemp("small"), "--max-connections", "20", "--header-timeout", "60"
    )
    yield server
    stop(server)


@pytest.fixture(scope="module", autouse=True)
def _enough_file_handles() -> None:
    """This process holds a few hundred sockets: raise its soft limit if it is lower."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2 * HELD:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4 * HELD), hard))


def connect(server: Server) -> socket.socket:
    """A connection to the server, with a generous time-out on each call."""
    return socket.create_connection(("127.0.0.1", server.port), timeout=PATIENCE_S)


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], Any]:
    """Read until the server closes; status, headers and JSON body."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value for name, _, value in (line.partition(": ") for line in lines)}
    return int(lines[0].split()[1]), headers, json.loads(body)


def exchange(server: Server, request: bytes) -> tuple[int, dict[str, str], Any]:
    """Send ``request`` (which asks to close) and read the whole answer."""
    with connect(server) as sock:
        sock.sendall(request)
        return read_answer(sock)


def get_health(server: Server) -> tuple[int, float]:
    """``GET /health``: status and seconds taken."""
    started = time.perf_counter()
    status, _, _ = exchange(server, b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    return status, time.perf_counter() - started


def wait_closed(sockets: dict[socket.socket, float], patience: float) -> dict[socket.socket, float]:
    """Seconds from each socket's start (given) to the server closing it; waits on readability."""
    closed: dict[socket.socket, float] = {}
    with selectors.DefaultSelector() as selector:
        for sock in sockets:
            selector.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + patience
        while len(closed) < len(sockets) and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.5):
                sock = key.fileobj  # type: ignore[assignment]
                try:
                    # An answer (a 408) may come first; the close is the empty read after it.
                    ended = sock.recv(65536) == b""  # type: ignore[union-attr]
                except OSError:
                    ended = True
                if ended:
                    closed[sock] = time.monotonic() - sockets[sock]  # type: ignore[index]
                    selector.unregister(sock)
    return closed


def still_open(sockets: list[socket.socket]) -> int:
    """How many of ``sockets`` the server has neither answered nor closed."""
    with selectors.DefaultSelector() as selector:
        for sock in sockets:
            selector.register(sock, selectors.EVENT_READ)
        answered = len(selector.select(timeout=0))
    return len(sockets) - answered


def test_half_open_connections_are_held_and_closed_after_the_time_out_while_health_answers(
    quick: Server,
) -> None:
    held: dict[socket.socket, float] = {}
    try:
        for _ in range(HELD):
            # Timed from before the connect: the server's clock cannot start earlier.
            started = time.monotonic()
            sock = connect(quick)
            sock.sendall(b"GET /health HT")  # half a request line, never finished
            held[sock] = started
        # On a busy 2-core machine one call can lose the CPU for a while: the
        # median of five is what a client sees, and it must be under a second.
        timings = []
        for _ in range(5):
            status, seconds = get_health(quick)
            assert status == 200
            timings.append(seconds)
        holding = still_open(list(held))
        assert statistics.median(timings) < 1.0, timings
        assert holding >= HELD // 2, "the connections were not held while /health was asked"
        closed = wait_closed(held, PATIENCE_S)
        assert len(closed) == HELD, f"{HELD - len(closed)} never closed by the server"
        # Never before the header time-out (a little slack for clock granularity).
        assert min(closed.values()) >= HEADER_S * 0.9, min(closed.values())
        assert get_health(quick)[0] == 200
    finally:
        for sock in held:
            sock.close()


def test_a_trickled_head_is_cut_off_by_its_deadline_not_reset_by_each_byte(
    quick: Server,
) -> None:
    rest = b"Host: t\r\nX-Slow: " + b"a" * 100 + b"\r\n\r\n"
    started = time.monotonic()
    with connect(quick) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\n")
        sent = 0
        # A byte each 0.2 s: the headers would take over 20 s, far past the time-out.
        while sent < len(rest) and not selectors_readable(sock, 0.2):
            sock.sendall(rest[sent : sent + 1])
            sent += 1
        status, headers, payload = read_answer(sock)
        took = time.monotonic() - started
    assert sent < len(rest), "the server waited for the whole trickled head"
    assert (status, headers["connection"]) == (408, "close")
    assert "not received in time" in payload["error"]
    assert HEADER_S * 0.9 <= took < PATIENCE_S


def selectors_readable(sock: socket.socket, seconds: float) -> bool:
    """Whether the server has said something (or closed) within ``seconds``."""
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        return bool(selector.select(timeout=seconds))


def test_a_body_shorter_than_its_content_length_is_cut_off_after_the_body_time_out(
    quick: Server,
) -> None:
    head = b"POST /checkout HTTP/1.1\r\nHost: t\r\nIdempotency-Key: short\r\n"
    with connect(quick) as sock:
        sock.sendall(head + b"Content-Length: 100\r\n\r\n" + b'{"sku": "sku-0"')
        started = time.monotonic()
        status, headers, payload = read_answer(sock)
        took = time.monotonic() - started
    assert (status, headers["connection"]) == (408, "close")
    assert payload == {"error": "request body not received in time"}
    assert BODY_S * 0.9 <= took < PATIENCE_S
    # A client that closes its side instead gets a 400 at once.
    with connect(quick) as sock:
        sock.sendall(head + b"Content-Length: 100\r\n\r\n" + b'{"sku": "sku-0"')
        sock.shutdown(socket.SHUT_WR)
        status, _, payload = read_answer(sock)
    assert status == 400 and "shorter than its Content-Length" in payload["error"]


def test_an_idle_kept_alive_connection_is_closed_after_the_idle_time_out(quick: Server) -> None:
    kept: dict[socket.socket, float] = {}
    try:
        for _ in range(50):
            sock = connect(quick)
            asked = time.monotonic()  # before the server's idle clock starts
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
            answer = b""
            while not answer.endswith(b"}"):
                answer += sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200")
            kept[sock] = asked
        closed = wait_closed(kept, PATIENCE_S)
        assert len(closed) == len(kept)
        assert min(closed.values()) >= IDLE_S * 0.9
    finally:
        for sock in kept:
            sock.close()


def test_connections_over_the_limit_get_503_and_the_server_recovers(small: Server) -> None:
    held = []
    try:
        for _ in range(20):
            sock = connect(small)
            sock.sendall(b"GET /health HT")
            held.append(sock)
        over = [exchange(small, b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n") for _ in range(3)]
        assert still_open(held) == 20, "a connection within the limit was refused"
    finally:
        for sock in held:
            sock.close()
    for status, headers, payload in over:
        assert (status, headers["connection"], headers["content-type"]) == (
            503,
            "close",
            "application/json",
        )
        assert "20 connections" in payload["error"]
    deadline = time.monotonic() + PATIENCE_S
    status = 503
    while status == 503 and time.monotonic() < deadline:
        status, _ = get_health(small)
    assert status == 200


def checkout(body: bytes, headers: bytes = b"Content-Type: application/json\r\n") -> bytes:
    """A ``POST /checkout`` asking to close, with ``body`` and its length."""
    return (
        b"POST /checkout HTTP/1.1\r\nHost: t\r\nIdempotency-Key: wire\r\nConnection: close\r\n"
        + headers
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )


def framed(head: str, body: bytes = b"") -> bytes:
    """A ``POST /checkout`` with header lines ``head`` (CRLF-separated) and ``body``."""
    return b"POST /checkout HTTP/1.1\r\n" + head.encode() + b"\r\n\r\n" + body


GOOD = '{"sku": "sku-0", "quantity": 1}'
LONG = "1" * 4301
JSON_UTF16 = "Content-Type: application/json; charset=utf-16"
#: (what is wrong, raw request, status, words of the error)
ON_THE_WIRE: list[tuple[str, bytes, int, str]] = [
    (
        "superscript digit",
        checkout('{"sku": "sku-\u00b2", "quantity": 1}'.encode()),
        404,
        "no such",
    ),
    (
        "Arabic-Indic digit",
        checkout('{"sku": "sku-\u0663", "quantity": 1}'.encode()),
        404,
        "no such",
    ),
    ("4,301-digit SKU", checkout(f'{{"sku": "sku-{LONG}", "quantity": 1}}'.encode()), 400, "sku"),
    ("4,301 digits", checkout(f'{{"sku": "sku-0", "quantity": {LONG}}}'.encode()), 400, "digits"),
    ("UTF-16 body", checkout(GOOD.encode("utf-16")), 415, "UTF-8"),
    ("UTF-16-BE body", checkout(GOOD.encode("utf-16-be")), 415, "UTF-8"),
    ("UTF-32 body", checkout(GOOD.encode("utf-32")), 415, "UTF-8"),
    ("UTF-8 BOM", checkout(GOOD.encode("utf-8-sig")), 400, "byte-order mark"),
    ("Latin-1 body", checkout('{"sku": "\u00e9"}'.encode("latin-1")), 400, "UTF-8"),
    ("charset=utf-16", checkout(GOOD.encode(), JSON_UTF16.encode() + b"\r\n"), 415, "UTF-8"),
    ("text/plain", checkout(GOOD.encode(), b"Content-Type: text/plain\r\n"), 415, "Content-Type"),
    ("repeated key", checkout(b'{"sku": "sku-0", "sku": "sku-1"}'), 400, "more than once"),
    ("invalid JSON", checkout(b'{"sku": '), 400, "JSON"),
    ("a JSON array", checkout(b"[1]"), 400, "JSON object"),
    ("Content-Length 1_0", framed("Content-Length: 1_0", b"0" * 10), 400, "Content-Length"),
    ("Content-Length +5", framed("Content-Length: +5", b"01234"), 400, "Content-Length"),
    ("two lengths", framed("Content-Length: 1\r\nContent-Length: 2", b"01"), 400, "Content-Length"),
    ("Content-Length: lots", framed("Content-Length: lots"), 400, "malformed"),
    ("no Content-Length", framed("Idempotency-Key: k\r\nConnection: close"), 411, "Content-Length"),
    ("chunked", framed("Transfer-Encoding: chunked", b"5\r\nhello\r\n0\r\n\r\n"), 411, "Transfer"),
    ("request line over 8 KiB", b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", 414, "request line"),
    ("garbage request line", b"\x00\x01 nonsense\r\n\r\n", 400, "malformed"),
    ("HTTP/3.0", b"GET /health HTTP/3.0\r\n\r\n", 400, "malformed"),
    ("headers over 16 KiB", framed("X-A: " + "a" * 20_000), 431, "headers"),
    ("150 headers", framed("\r\n".join(["X-A: a"] * 150)), 431, "headers"),
    # RFC 9112 section 5: a server must refuse these; the e-mail parser gevent
    # uses dropped the line and every header after it instead.
    ("space before the colon", framed("Content-Length : 2", b"{}"), 400, "name: value"),
    ("folded header line", framed("X-A: a\r\n  b\r\nContent-Length: 0"), 400, "name: value"),
    ("bare CR in a header", framed("X-A: a\rContent-Length: 2", b"{}"), 400, "name: value"),
    ("a line with no colon", framed("Idempotency-Key k\r\nContent-Length: 0"), 400, "name: value"),
]


@pytest.mark.parametrize(
    ("problem", "request_bytes", "status", "words"),
    ON_THE_WIRE,
    ids=[case[0] for case in ON_THE_WIRE],
)
def test_malformed_text_on_the_wire_gets_a_4xx_json_error(
    quick: Server, problem: str, request_bytes: bytes, status: int, words: str
) -> None:
    answer, headers, payload = exchange(quick, request_bytes)
    assert (answer, set(payload)) == (status, {"error"}), (problem, payload)
    assert headers["content-type"] == "application/json"
    assert words in payload["error"], (problem, payload)
    assert not EXCEPTION_NAME.search(payload["error"]), payload


FIT_CHECK = """
import resource
from checkoutsim.load.bounded import RESERVED_FILES, REFUSALS, ServeLimits, fit_to_open_files
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 2048), hard))
limits, now = fit_to_open_files(ServeLimits(max_connections=10**9))
assert now == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
assert hard == resource.RLIM_INFINITY or now == hard, (now, hard)
assert limits.max_connections == now - RESERVED_FILES - REFUSALS, (limits, now)
assert fit_to_open_files(ServeLimits(max_connections=100))[0].max_connections == 100
print("ok")
"""


def test_the_open_file_limit_is_raised_and_the_connection_limit_kept_below_it() -> None:
    # A child process: the soft limit is the process's own, and the load package is gevent's.
    result = subprocess.run(
        [sys.executable, "-c", FIT_CHECK], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.stdout.strip() == "ok", result.stderr[-2000:]
