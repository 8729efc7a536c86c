"""Backends for the contract suites: SQLite always, PostgreSQL and Redis when reachable.

A server that is not reachable at the default address makes its cases skip
with the reason (the URL tried and the error). Setting
``CHECKOUTSIM_TEST_POSTGRES`` or ``CHECKOUTSIM_TEST_REDIS`` (as CI does) says the
server must be there: then an unreachable one fails its cases instead of
skipping them, so a broken server cannot turn the suite into silent skips. Every case gets
a namespace of its own (schemas, key prefix), removed when it ends.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from checkoutsim.real.backends import BackendChoice, RunBackend
from checkoutsim.real.runtime import ThreadRuntime
from checkoutsim.real.service import CheckoutService, StorePaths
from checkoutsim.real.timebase import ManualTime
from checkoutsim.scenario.settings import Settings
from tests.real_support import settings

POSTGRES_VARIABLE = "CHECKOUTSIM_TEST_POSTGRES"
REDIS_VARIABLE = "CHECKOUTSIM_TEST_REDIS"
POSTGRES_URL = os.environ.get(POSTGRES_VARIABLE, "postgresql://127.0.0.1/test")
REDIS_URL = os.environ.get(REDIS_VARIABLE, "redis://127.0.0.1:6379/0")


@functools.cache
def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used here, or None when it can."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=2) as connection:
            connection.execute("SELECT 1")
    except Exception as error:
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {error}".strip()
    return None


@functools.cache
def redis_problem() -> str | None:
    """Why Redis cannot be used here, or None when it can."""
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
        client.close()
    except Exception as error:
        return f"Redis not reachable at {REDIS_URL}: {error}".strip()
    return None


def require(kind: str, environment: Mapping[str, str] | None = None) -> None:
    """Skip the calling case, with the reason, if ``kind``'s server is not reachable.

    Fail it instead when the server was asked for by its variable: a server
    the run was told to use and that does not answer is a broken run.
    """
    problem = {"postgresql": postgres_problem, "redis": redis_problem}.get(kind, lambda: None)()
    if not problem:
        return
    variable = {"postgresql": POSTGRES_VARIABLE, "redis": REDIS_VARIABLE}[kind]
    if variable in (os.environ if environment is None else environment):
        pytest.fail(f"{variable} is set but {problem}", pytrace=False)
    pytest.skip(problem)


def choice_for(store: str, locks: str = "database") -> BackendChoice:
    """The backend choice for a store kind and a lock kind."""
    return BackendChoice(
        POSTGRES_URL if store == "postgresql" else "sqlite:",
        REDIS_URL if locks == "redis" else "database",
    )


class Services:
    """Makes services on one backend, each over a fresh namespace, and cleans up."""

    def __init__(self, choice: BackendChoice, directory: Path) -> None:
        self.choice = choice
        self.directory = directory
        self._opened: list[tuple[CheckoutService, RunBackend]] = []

    def make(
        self, config: Settings | None = None, clock: ManualTime | None = None
    ) -> tuple[CheckoutService, ManualTime]:
        """A service on a manual clock (no injected latency)."""
        clock = clock or ManualTime()
        backend = RunBackend(self.choice)
        folder = self.directory / backend.namespace
        folder.mkdir()
        service = CheckoutService(
            config or settings(),
            StorePaths.in_directory(folder),
            ThreadRuntime(clock),
            backend=backend,
        )
        self._opened.append((service, backend))
        return service, clock

    def close(self) -> None:
        """Close every service and drop its namespace."""
        for service, backend in self._opened:
            service.close()
            backend.drop()


def services_for(store: str, locks: str, directory: Path) -> Iterator[Services]:
    """A ``Services`` for a fixture, skipping when a server is missing."""
    require(store)
    require(locks)
    made = Services(choice_for(store, locks), directory)
    try:
        yield made
    finally:
        made.close()


def sql_count(service: CheckoutService, sql: str) -> Any:
    """The first column of the first row of a read."""
    return service.store.db.read().execute(sql).fetchone()[0]
