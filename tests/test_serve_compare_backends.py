"""``serve`` and ``compare`` on a chosen backend: ``--store``, ``--locks`` and their variables.

Bad URLs fail before anything runs (one line, exit code 2). A store that does
not answer fails with the store's reason, which shows the option reached the
run. Cases that need PostgreSQL or Redis skip, with the reason, without them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from typing import Any

import pytest

from tests.backend_support import POSTGRES_URL, REDIS_URL, require
from tests.test_cli import run_cli

#: Nothing listens on port 1: the pool gives up with the server's reason.
DEAD_STORE = "postgresql://127.0.0.1:1/test"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The console entry point in a subprocess, bounded in time."""
    return run_cli(*args, env=env, timeout=180)


@pytest.mark.parametrize("command", ["serve", "compare", "loadtest"])
def test_a_bad_store_url_is_one_line_and_exit_code_2(command: str) -> None:
    result = cli(command, "flash-sale", "--store", "mysql://127.0.0.1/test")
    assert result.returncode == 2
    assert "--store 'mysql://127.0.0.1/test'" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["serve", "compare"])
def test_a_bad_locks_url_from_the_environment_is_refused(command: str) -> None:
    result = cli(command, "flash-sale", env={"CHECKOUTSIM_LOCKS": "memcached://x"})
    assert result.returncode == 2 and "--locks 'memcached://x'" in result.stderr


def test_serve_refuses_a_db_file_with_a_server_store() -> None:
    result = cli("serve", "flash-sale", "--store", POSTGRES_URL, "--db", "shop.sqlite")
    assert result.returncode == 2 and "--db" in result.stderr and "Traceback" not in result.stderr


def test_compare_takes_its_store_from_the_environment() -> None:
    result = cli(
        "compare", "flash-sale", "--variant", "atomic", "--run-time", "1s", "--json",
        env={"CHECKOUTSIM_STORE": DEAD_STORE},
    )  # fmt: skip
    assert result.returncode == 2 and "cannot open the store" in result.stderr
    # Said at once with the server's reason, not after the pool's 10 s time-out.
    assert "Connection refused" in result.stderr and "Traceback" not in result.stderr


def test_a_redis_that_does_not_answer_is_one_line_before_the_run() -> None:
    # Redis clients are made per thread on first use; the backend asks the server
    # once when it opens, so a dead one is not a traceback in the audit.
    result = cli(
        "loadtest", "flash-sale", "--variant", "lock_ttl", "--run-time", "1s",
        "--locks", "redis://127.0.0.1:1/0",
    )  # fmt: skip
    assert result.returncode == 2 and "cannot open the store" in result.stderr
    assert "Connection refused" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_compare_runs_the_real_side_on_postgresql_and_redis() -> None:
    require("postgresql")
    require("redis")
    result = cli(
        "compare", "flash-sale", "--variant", "lock_ttl", "--run-time", "2s", "--json",
        "--store", POSTGRES_URL, "--locks", REDIS_URL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    (row,) = json.loads(result.stdout)["variants"]
    assert row["name"] == "lock_ttl" and row["real"]["orders"] > 0
    assert row["real"]["duplicate_charges"] == 0 and row["sim"]["orders"] > 0


def _get(url: str, body: Any = None, key: str | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Idempotency-Key", key)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _schemas(namespace: str) -> list[str]:
    import psycopg

    with psycopg.connect(POSTGRES_URL) as connection:
        rows = connection.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (f"{namespace}%",)
        ).fetchall()
    return sorted(row[0] for row in rows)


def test_serve_keeps_the_shop_on_postgresql_and_drops_it_on_exit() -> None:
    require("postgresql")
    command = ["serve", "flash-sale", "--variant", "atomic", "--port", "0"]
    process = subprocess.Popen(
        [sys.executable, "-m", "checkoutsim", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CHECKOUTSIM_STORE": POSTGRES_URL},
    )
    try:
        assert process.stderr is not None
        url, namespace = "", ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not namespace:
            line = process.stderr.readline()
            if line.startswith("serving on "):
                url = line.split()[2]
            if line.startswith("PostgreSQL schemas "):
                namespace = line.split()[2]
        assert url and namespace, "the server never said where it listens and keeps state"
        assert _schemas(namespace) == [namespace, f"{namespace}_gateway"]
        answer = _get(f"{url}/checkout", {"sku": "sku-0", "quantity": 1}, key="k1")
        assert answer["status"] == "ordered"
        assert _get(f"{url}/stock")["sku-0"] == 199
        assert _get(f"{url}/audit")["metrics"]["orders"] == 1
    finally:
        process.terminate()
        process.wait(30)
    assert _schemas(namespace) == []
