"""The shop's store and the gateway's ledger on PostgreSQL (psycopg 3 and its pool).

``PostgresDatabase`` offers what ``checkoutsim.real.database.Database`` offers
(``read``, ``transaction``, ``write_one``, ``write``, ``execute_script``,
``close``), so ``Store``, ``RequestTable``, ``Ledger`` and the audit run on it
unchanged. Their SQL is written for SQLite; the few dialect differences are
translated once per statement (``?`` placeholders, ``INSERT OR REPLACE``,
scalar ``MAX``, and ``lastrowid``, which PostgreSQL gives through
``RETURNING``). Each run lives in its own schemas, one for the shop and one for
the gateway's ledger, so that the ledger stays a database the shop never joins.

Concurrency is PostgreSQL's, at READ COMMITTED: every public store method is
one transaction on a pooled connection. Naive read-then-write is two
transactions with a real gap, so it loses updates; optimistic, atomic and fenced
writes are single conditional ``UPDATE``s, which READ COMMITTED re-checks
against the latest row version after waiting for a concurrent writer, so they
stay safe. Lease grants, which SQLite serialises with its one writer, are one
conditional upsert here (``PostgresStore.try_lock``).

psycopg is imported lazily: SQLite users never need it.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from checkoutsim.policy.inventory import locked_sku
from checkoutsim.real import pg_schema, schema
from checkoutsim.real.database import Written
from checkoutsim.real.pg_checkout import OneStatementCheckout

T = TypeVar("T")

#: Tables whose inserts report a generated id (SQLite's ``lastrowid``), and its column.
GENERATED_IDS = {
    "reservations": "id",
    "orders": "id",
    "lock_grants": "token",
    "intent_ids": "id",
    "captures": "id",
}
#: SQLite scripts and their PostgreSQL versions.
SCRIPTS = {schema.SHOP: pg_schema.SHOP, schema.GATEWAY: pg_schema.GATEWAY}
#: Session settings. ``synchronous_commit=off`` is the durability SQLite's WAL
#: with ``synchronous=NORMAL`` has: a commit is in the server's log at once and
#: survives a crash of the application; a crash of the server's machine may lose
#: the last few hundred milliseconds. Without it each autocommit statement waits
#: for its own disk flush, and the store measures the disk, not the design.
SESSION = "-c synchronous_commit=off"
#: Transient failures worth running a transaction again for, once or twice.
RETRIES = 3

_INSERT = re.compile(r"^\s*INSERT\s+INTO\s+(\w+)", re.IGNORECASE)
_REPLACE = re.compile(
    r"^\s*INSERT\s+OR\s+REPLACE\s+INTO\s+(\w+)\s*\(([^)]*)\)\s*(VALUES\s*\(.*\))\s*$",
    re.IGNORECASE | re.DOTALL,
)
_SCALAR_MAX = re.compile(r"\bMAX\(([^(),]+),([^()]+)\)")


@functools.lru_cache(maxsize=512)
def translate(sql: str) -> tuple[str, str | None]:
    """A SQLite statement in PostgreSQL's dialect, and the id column it now returns."""
    replace = _REPLACE.match(sql)
    if replace:
        table, columns, values = replace.groups()
        names = [name.strip() for name in columns.split(",")]
        # Every table written this way is keyed by its first column.
        updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in names[1:])
        sql = (
            f"INSERT INTO {table} ({columns}) {values}"
            f" ON CONFLICT ({names[0]}) DO UPDATE SET {updates}"
        )
    sql = _SCALAR_MAX.sub(r"GREATEST(\1,\2)", sql)
    sql = sql.replace("%", "%%").replace("?", "%s")
    returned = None
    insert = _INSERT.match(sql)
    if insert and "RETURNING" not in sql.upper() and insert.group(1) in GENERATED_IDS:
        returned = GENERATED_IDS[insert.group(1)]
        sql = f"{sql} RETURNING {returned}"
    return sql, returned


class Rows:
    """A statement's outcome, fetched at once so the connection can go back to the pool."""

    def __init__(self, rows: list[Any], rowcount: int, lastrowid: int | None) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount
        self.lastrowid = lastrowid

    def fetchone(self) -> Any:
        """The next row, or None."""
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[Any]:
        """Every row not fetched yet."""
        rows, self._next = self._rows[self._next :], len(self._rows)
        return rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


def _run(connection: Any, sql: str, parameters: Sequence[Any] = ()) -> Rows:
    """Execute one SQLite-dialect statement on a ``WaitingConnection``."""
    import psycopg

    translated, returned = translate(sql)
    try:
        cursor = connection.statements().execute(translated, tuple(parameters), prepare=True)
    except psycopg.errors.IntegrityError as error:
        # The callers were written against sqlite3 and catch its error.
        raise sqlite3.IntegrityError(str(error)) from error
    rows = cursor.fetchall() if cursor.description is not None else []
    if returned is not None:
        return Rows([], cursor.rowcount, rows[0][0] if rows else None)
    return Rows(rows, cursor.rowcount, None)


class Session:
    """A connection as the store's code uses it: ``execute`` and ``executemany``."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Rows:
        """Run one statement; its rows are already fetched."""
        return _run(self.connection, sql, parameters)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each parameter row."""
        translated, _ = translate(sql)
        with self.connection.cursor() as cursor:
            cursor.executemany(translated, [tuple(row) for row in rows])


class Reader:
    """Autocommit reads, each on whichever pooled connection is free."""

    def __init__(self, database: PostgresDatabase) -> None:
        self._database = database

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Rows:
        """One autocommit statement."""
        with self._database.held.connection() as connection:
            return _run(connection, sql, parameters)


class PostgresDatabase:
    """A pool of connections to one schema of a PostgreSQL database.

    ``round_trip_s`` adds a wall-clock delay before every transaction, as the
    SQLite database does, slept with ``pause`` (cooperative under gevent).
    ``waits`` is how a connection waits for the server and for a free
    connection (``checkoutsim.real.pg_connections.Waits``; None: threads').
    """

    def __init__(
        self,
        dsn: str,
        schema_name: str,
        pool_size: int = 16,
        round_trip_s: float = 0.0,
        pause: Callable[[float], None] | None = None,
        waits: Any = None,
    ) -> None:
        import psycopg
        from psycopg_pool import ConnectionPool

        from checkoutsim.real.pg_connections import HeldConnections, WaitingConnection

        # A server that refuses or does not answer is said at once, with its
        # reason: the pool would retry for its whole time-out and then give none.
        psycopg.connect(dsn, connect_timeout=5).close()
        self.dsn = dsn
        self.schema = schema_name
        self.round_trip_s = round_trip_s
        self._pause = pause
        self.pool = ConnectionPool(
            dsn,
            # Every connection opened up front: a pool that grows on demand makes
            # the first burst's callers wait for connections one at a time.
            min_size=max(1, pool_size),
            max_size=max(1, pool_size),
            kwargs={"autocommit": True, "options": f"-c search_path={schema_name} {SESSION}"},
            connection_class=WaitingConnection,
            open=True,
            name=f"checkoutsim-{schema_name}",
        )
        # Fail now, with the server's reason, rather than at the first query.
        self.pool.wait(timeout=10.0)
        # Held for the run and lent without the pool's per-call bookkeeping.
        self.held = HeldConnections(self.pool, waits)
        self._reader = Reader(self)

    def _round_trip(self) -> None:
        if self.round_trip_s > 0 and self._pause is not None:
            self._pause(self.round_trip_s)

    def read(self) -> Reader:
        """Something with ``execute`` for one autocommit read (after the round trip)."""
        self._round_trip()
        return self._reader

    def transaction(self, work: Callable[[Session], T], single_statement: bool = False) -> T:
        """Run ``work(session)`` as one transaction at READ COMMITTED.

        PostgreSQL lets writers run side by side where SQLite queues them, so a
        transaction can lose an insert race on a UNIQUE key, or a deadlock
        between two multi-row transactions; it is run again (its effects were
        rolled back), and then sees the winner's row.
        """
        import psycopg

        self._round_trip()
        for attempt in range(RETRIES):
            try:
                with self.held.connection() as connection:
                    if single_statement:
                        return work(Session(connection))
                    with connection.transaction():
                        return work(Session(connection))
            except (
                sqlite3.IntegrityError,
                psycopg.errors.DeadlockDetected,
                psycopg.errors.SerializationFailure,
            ):
                if attempt == RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def write_one(self, sql: str, parameters: tuple[Any, ...] = ()) -> Written:
        """One statement as its own (autocommit) transaction."""
        self._round_trip()
        with self.held.connection() as connection:
            rows = _run(connection, sql, parameters)
        return Written(rows.rowcount, rows.lastrowid, rows.fetchall())

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction, committed on success."""
        self._round_trip()
        with self.held.connection() as connection, connection.transaction():
            yield Session(connection)

    def execute_script(self, script: str) -> None:
        """Create the schema and run DDL, serialised between processes by an advisory lock."""
        ddl = SCRIPTS.get(script, script)
        with self.held.connection() as connection, connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.schema,))
            connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            connection.execute(ddl)

    def close(self) -> None:
        """Close the pool and every connection in it."""
        self.held.close()
        self.pool.close()


class PostgresStore(OneStatementCheckout):
    """The shop's store on PostgreSQL: ``Store`` with lease grants made atomic.

    A checkout's reservation and order are one statement each
    (``checkoutsim.real.pg_checkout``).
    """

    def try_lock(
        self, name: str, ttl_s: float, asked_s: float | None = None
    ) -> tuple[int | None, float]:
        """Grant ``name`` if free or lapsed, in one conditional upsert.

        Two shoppers that both saw the lease lapse both try; PostgreSQL locks the
        row for the first and re-checks the ``WHERE`` for the second against the
        new lease, so exactly one is granted. The token comes from a sequence.
        A grant of an inventory lock also raises that SKU row's fence to the new
        token (see ``checkoutsim.real.redis_locks.LeasedStore.try_lock``: the
        store knows the newest holder before it writes).
        """
        now = self.time.now()
        expires = now + ttl_s
        sku = locked_sku(name)

        def work(session: Session) -> tuple[int | None, float]:
            granted = session.execute(
                "WITH granted AS (INSERT INTO locks (name, token, expires_s)"
                " VALUES (?, nextval('lock_tokens'), ?) ON CONFLICT (name) DO UPDATE"
                " SET token = EXCLUDED.token, expires_s = EXCLUDED.expires_s"
                " WHERE locks.expires_s <= ? RETURNING token),"
                " fenced AS (UPDATE inventory SET fence = GREATEST(fence, granted.token)"
                " FROM granted WHERE inventory.sku = ?)"
                " INSERT INTO lock_grants (token, name, granted_s, expires_s, asked_s)"
                " SELECT token, ?, ?, ?, ? FROM granted RETURNING token",
                (
                    name,
                    expires,
                    now,
                    -1 if sku is None else sku,
                    name,
                    now,
                    expires,
                    now if asked_s is None else asked_s,
                ),
            ).fetchone()
            if granted is not None:
                return granted[0], expires
            held = session.execute("SELECT expires_s FROM locks WHERE name = ?", (name,))
            row = held.fetchone()
            return None, row[0] if row is not None else now

        return self.db.transaction(work, single_statement=True)  # type: ignore[arg-type]

    def raise_fence(self, name: str, token: int) -> None:
        """As ``Store.raise_fence``, in PostgreSQL's words (``GREATEST``)."""
        sku = locked_sku(name)
        if sku is not None:
            self.db.write_one(
                "UPDATE inventory SET fence = GREATEST(fence, ?) WHERE sku = ?", (token, sku)
            )
