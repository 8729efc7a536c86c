"""Start the reference shops of ``tests/targets`` in child processes, and probe them.

Each shop runs in its own process on a free port on 127.0.0.1, as its tutorial
would run it (Flask's threaded server, ``ThreadingHTTPServer``, Tornado, ``http.server``
on a fixed thread pool), and is
stopped by its pid. Starting waits until the shop answers its stock call,
bounded in time.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

TARGETS = Path(__file__).parent / "targets"
ROOT = Path(__file__).parent.parent
REDIS_URL = os.environ.get("CHECKOUTSIM_TEST_REDIS", "redis://127.0.0.1:6379/0")
#: The pool shop's request threads (its adapters' ``request_threads`` say the same).
POOL_THREADS = 8
#: The prefork shop's worker processes (its adapters' ``request_threads`` say the same).
PREFORK_WORKERS = 4
#: Longest wait for a shop to answer after it starts.
START_TIMEOUT_S = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def redis_reachable() -> str | None:
    """None if Redis answers PING at ``REDIS_URL``, else why not."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except Exception as error:
        return f"Redis not reachable at {REDIS_URL}: {error}"
    return None


def command(kind: str, port: int, directory: Path, pause_s: float) -> list[str]:
    """The command line that starts reference shop ``kind`` on ``port``."""
    script = str(TARGETS / f"{kind}_shop.py")
    if kind == "flask":
        return [sys.executable, script, str(port), str(pause_s)]
    if kind == "pool":
        return [sys.executable, script, str(port), str(POOL_THREADS), str(pause_s)]
    if kind == "prefork":
        database = str(directory / "prefork.db")
        return [sys.executable, script, str(port), database, str(PREFORK_WORKERS), str(pause_s)]
    if kind == "sqlite":
        return [sys.executable, script, str(port), str(directory / "shop.db"), str(pause_s)]
    key = f"checkoutsim-probe-test:{uuid.uuid4().hex}"
    return [sys.executable, script, str(port), REDIS_URL, key, str(pause_s)]


class Shop(str):
    """A running shop's URL, with its child process (to stop it by its pid)."""

    process: subprocess.Popen[bytes]


@contextmanager
def running(kind: str, directory: Path, pause_s: float = 0.01) -> Iterator[Shop]:
    """Reference shop ``kind`` running on a free port; yields its URL (a ``Shop``)."""
    if kind == "redis" and (reason := redis_reachable()):
        pytest.skip(reason)
    port = free_port()
    log = directory / f"{kind}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command(kind, port, directory, pause_s), stdout=output, stderr=subprocess.STDOUT
        )
    url = Shop(f"http://127.0.0.1:{port}")
    url.process = process
    stock_path = "/items/A1" if kind == "sqlite" else "/stock"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(url + stock_path, timeout=2) as answer:
                    json.loads(answer.read())
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"{kind} shop did not start: {log.read_text()[-2000:]}"
                    ) from None
                time.sleep(0.1)  # polling a child process until it listens
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``checkoutsim ARGS`` in a child process (Locust monkey-patches whoever imports it)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "checkoutsim", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


def probe_json(url: str, adapter: Path | str, *args: str) -> dict[str, Any]:
    """``probe URL --adapter ADAPTER ARGS --json``, parsed; fails on exit code 2."""
    result = cli("probe", url, "--adapter", str(adapter), *args, "--json")
    assert result.returncode in (0, 3), result.stderr[-3000:]
    return json.loads(result.stdout)
