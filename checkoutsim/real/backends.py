"""Choosing where a run's state lives: SQLite files or a PostgreSQL server, leases in Redis.

``--store`` takes ``sqlite:PATH`` (the default; PATH is the folder the run's
throw-away database files go in, empty for ``real.store_dir``) or a PostgreSQL
URL (``postgresql://HOST[:PORT]/DATABASE``); ``--locks`` takes ``database``
(the default: leases in the store's own tables) or ``redis://HOST:PORT/DB``.
``CHECKOUTSIM_STORE`` and ``CHECKOUTSIM_LOCKS`` give the defaults.

A server store is shared by every process of a run, on any machine, so each
run gets a namespace of its own (two PostgreSQL schemas, shop and ledger, and a
Redis key prefix), created by the first process and removed by the one that
audits. Nothing here imports psycopg or redis until a server is asked for.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checkoutsim.real.database import Database
from checkoutsim.real.store import Store
from checkoutsim.scenario.settings import Settings

STORE_ENV = "CHECKOUTSIM_STORE"
LOCKS_ENV = "CHECKOUTSIM_LOCKS"
_NAMESPACE = re.compile(r"^cs_[0-9a-f]{12}$")


class BackendError(ValueError):
    """A store or lock URL that cannot be used (named in the message)."""


@dataclass(frozen=True)
class BackendChoice:
    """Where the shop's state and the lock leases live."""

    store: str = "sqlite:"
    locks: str = "database"

    @property
    def postgres(self) -> bool:
        """Is the store a PostgreSQL server?"""
        return self.store.startswith(("postgresql://", "postgres://"))

    @property
    def redis(self) -> bool:
        """Are lock leases kept in Redis?"""
        return self.locks.startswith(("redis://", "rediss://"))

    @property
    def sqlite_folder(self) -> Path | None:
        """The folder for SQLite files, if ``sqlite:PATH`` named one."""
        path = self.store.removeprefix("sqlite:")
        return Path(path) if path and not self.postgres else None

    @property
    def default(self) -> bool:
        """Nothing but the embedded defaults (the original code path serves it)."""
        return not self.postgres and not self.redis and self.sqlite_folder is None


def choose(store: str | None = None, locks: str | None = None) -> BackendChoice:
    """Validate ``--store`` and ``--locks`` (or their environment variables)."""
    store = store or os.environ.get(STORE_ENV) or "sqlite:"
    locks = locks or os.environ.get(LOCKS_ENV) or "database"
    if not (store.startswith("sqlite:") or store.startswith(("postgresql://", "postgres://"))):
        raise BackendError(f"--store {store!r}: expected sqlite:PATH or postgresql://HOST/DATABASE")
    if locks != "database" and not locks.startswith(("redis://", "rediss://")):
        raise BackendError(f"--locks {locks!r}: expected database or redis://HOST:PORT/DB")
    return BackendChoice(store, locks)


def new_namespace() -> str:
    """A fresh name for one run's schemas and keys."""
    return f"cs_{uuid.uuid4().hex[:12]}"


def pause_for(runtime: Any) -> Any:
    """A cooperative wall-clock sleep built from the runtime's model-time sleeper."""
    scale = max(runtime.time.wall(1.0), 1e-12)
    return lambda wall_seconds: runtime.time.sleep(wall_seconds / scale)


def pool_sizes(inventory_workers: int, cores: int | None = None) -> tuple[int, int]:
    """Connections to hold to the shop's schema and to the gateway's, in one process.

    Sized to the cores, as ``pgbench`` is run (8 clients on 2 cores): a server
    process per connection, and on a small machine more of them only add
    switching between them. Measured on 2 cores (alternating closed loops,
    load 2.6 to 3.5): 24 and 6 connections cost 1.15 ms of server CPU and
    0.82 ms of client CPU a checkout, 8 and 4 cost 0.81 and 0.67 ms. Callers
    beyond the pool wait for a connection; no transaction takes two.
    Never more than the inventory workers plus the saga's other calls need.
    """
    cores = cores or os.cpu_count() or 1
    return min(24, inventory_workers + 8, max(8, 4 * cores)), min(6, max(4, 2 * cores))


@dataclass
class RunBackend:
    """One run's databases and leases on the chosen backend."""

    choice: BackendChoice
    namespace: str = field(default_factory=new_namespace)

    def __post_init__(self) -> None:
        if not _NAMESPACE.match(self.namespace):
            raise BackendError(f"bad namespace {self.namespace!r}")

    @property
    def schemas(self) -> tuple[str, str]:
        """The shop's and the ledger's PostgreSQL schemas."""
        return self.namespace, f"{self.namespace}_gateway"

    def open(self, settings: Settings, runtime: Any, paths: Any) -> tuple[Any, Any, Any]:
        """The shop database, the ledger's database and the store, for one service."""
        real = settings.real
        if self.choice.postgres:
            from checkoutsim.real.postgres import PostgresDatabase, PostgresStore

            shop_schema, gateway_schema = self.schemas
            shop_size, gateway_size = pool_sizes(settings.inventory.workers)
            shop = PostgresDatabase(
                self.choice.store,
                shop_schema,
                shop_size,
                real.store_round_trip_s,
                pause_for(runtime),
                waits=getattr(runtime, "database_waits", None),
            )
            gateway = PostgresDatabase(
                self.choice.store,
                gateway_schema,
                gateway_size,
                waits=getattr(runtime, "database_waits", None),
            )
            store: Any = PostgresStore(shop, runtime.time)
        else:
            shop = Database(
                paths.shop, runtime.threading, real.store_round_trip_s, runtime.time.block
            )
            gateway = Database(paths.gateway, runtime.threading)
            store = Store(shop, runtime.time)
        if self.choice.redis:
            from checkoutsim.real.redis_clients import PerThread
            from checkoutsim.real.redis_locks import LeasedStore, RedisLeases, connect

            # One client per OS thread: the SQLite store's calls run in a thread
            # pool, and under gevent a connection must not cross threads.
            url = self.choice.locks
            clients = PerThread(lambda: connect(url), runtime.threading)
            # Clients are made on first use: ask the server once now, so one that
            # does not answer stops the run here (one line, exit 2) rather than in
            # its first lease or in the audit, as a traceback.
            clients().ping()
            leases = RedisLeases(clients, f"{self.namespace}:", runtime.time)
            store = LeasedStore(store, leases)
        return shop, gateway, store

    def drop(self) -> None:
        """Remove the run's schemas and keys (the SQLite files are the caller's).

        A server that does not answer has nothing of the run to drop, or cannot
        be told to; failing here would hide the error that ended the run.
        """
        if self.choice.postgres:
            import psycopg

            try:
                connection = psycopg.connect(self.choice.store, autocommit=True, connect_timeout=5)
            except psycopg.OperationalError:
                connection = None
            if connection is not None:
                with connection:
                    for schema_name in self.schemas:
                        connection.execute(f'DROP SCHEMA IF EXISTS "{schema_name}" CASCADE')
        if self.choice.redis:
            import redis

            from checkoutsim.real.redis_locks import RedisLeases, connect

            client = connect(self.choice.locks)
            try:
                RedisLeases(client, f"{self.namespace}:", _NoTime()).drop()
            except redis.exceptions.ConnectionError:
                pass  # nothing of the run reached it, or it cannot be told to drop
            finally:
                client.close()


class _NoTime:
    """A clock for dropping keys, which needs none."""

    def now(self) -> float:
        """Always 0: dropping keys reads no time."""
        return 0.0

    def wall(self, seconds: float) -> float:
        """Model seconds as wall seconds, unscaled."""
        return seconds
