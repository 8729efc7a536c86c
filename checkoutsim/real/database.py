"""One SQLite file in WAL mode: a connection per thread, writes serialised and grouped.

Readers never block in WAL mode. Writers are serialised by an in-process mutex,
so threads queue in the kernel instead of in SQLite's busy handler (which sleeps
1, 2, 5, 10 ms... between retries and wrecks throughput under contention), and
by ``flock`` on a side file, so several processes sharing the file (Locust
workers, a server) also queue without polling.

Writes are *group-committed*, as server databases do: a thread that gets the
write lock commits every write queued by then, each in its own savepoint (one
failing does not undo the others), in one transaction. A commit's cost (its WAL
frames, the shared pages they dirty) is then paid once per group, not once per
write. Each caller still gets its own result, or its own exception, only after
the group's commit.

The threading primitives are injected: under gevent's monkey-patching
``threading.local`` and ``threading.Lock`` become greenlet objects, and this
module runs in real threads, so the load layer passes the unpatched ones.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Threading:
    """Thread-local storage and lock factories that work in real threads."""

    local: Callable[[], Any] = threading.local
    lock: Callable[[], Any] = threading.Lock


class _Job(Generic[T]):
    """One caller's write, waiting for a group commit."""

    __slots__ = ("error", "finished", "result", "single_statement", "work")

    def __init__(self, work: Callable[[sqlite3.Connection], T], single_statement: bool) -> None:
        self.work = work
        self.single_statement = single_statement
        self.result: T | None = None
        self.error: Exception | None = None
        self.finished = False

    def run(self, connection: sqlite3.Connection) -> bool:
        """Do the work; keep its result or its error. True if it succeeded."""
        try:
            self.result = self.work(connection)
        except Exception as failure:
            self.error = failure
            return False
        return True


@dataclass(frozen=True, slots=True)
class Written:
    """What a one-statement write did: rows changed, the new row id, rows returned."""

    rowcount: int
    lastrowid: int | None
    rows: list[Any]


@dataclass
class Database:
    """A SQLite database file shared by threads (and processes) of a run.

    ``round_trip_s`` adds a wall-clock delay before every statement batch to
    model a remote database; ``block`` is how that delay holds the thread.
    """

    path: Path
    threading: Threading = field(default_factory=Threading)
    round_trip_s: float = 0.0
    block: Callable[[float], None] | None = None
    busy_timeout_ms: int = 10_000

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = self.threading.local()
        self._mutex = self.threading.lock()
        self._pending_lock = self.threading.lock()
        self._pending: list[_Job[Any]] = []
        self._registry_lock = self.threading.lock()
        self._connections: list[sqlite3.Connection] = []
        self._lock_fd = os.open(f"{self.path}.writelock", os.O_RDWR | os.O_CREAT, 0o644)

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            # check_same_thread=False only so close() can run from another thread;
            # each connection is otherwise used by the thread that opened it.
            connection = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=30
            )
            connection.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a crash of the application and loses
            # at most the last transactions on power loss: the usual production choice.
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")
            connection.execute("PRAGMA foreign_keys=ON")
            self._local.connection = connection
            with self._registry_lock:
                self._connections.append(connection)
        return connection

    def _round_trip(self) -> None:
        if self.round_trip_s > 0 and self.block is not None:
            self.block(self.round_trip_s)

    def read(self) -> sqlite3.Connection:
        """A connection for one autocommit read (after the injected round trip)."""
        self._round_trip()
        return self.connection()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``), committed on success."""
        self._round_trip()
        connection = self.connection()
        with self._mutex:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                connection.execute("BEGIN IMMEDIATE")
                try:
                    yield connection
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
                connection.execute("COMMIT")
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def write_one(self, sql: str, parameters: tuple[Any, ...] = ()) -> Written:
        """One statement as one write (grouped with others' writes at commit).

        Rows it returns (``RETURNING``) are fetched inside the transaction.
        """

        def work(connection: sqlite3.Connection) -> Written:
            cursor = connection.execute(sql, parameters)
            rows = cursor.fetchall()
            return Written(cursor.rowcount, cursor.lastrowid, rows)

        return self.transaction(work, single_statement=True)

    def transaction(
        self, work: Callable[[sqlite3.Connection], T], single_statement: bool = False
    ) -> T:
        """Run ``work(connection)`` as one atomic write; return its result or raise its error.

        ``work`` may run in another thread, on that thread's connection (the
        leader of its group): it must use only the connection it is given.
        """
        self._round_trip()
        job: _Job[T] = _Job(work, single_statement)
        with self._pending_lock:
            self._pending.append(job)
        with self._mutex:
            if not job.finished:
                with self._pending_lock:
                    batch, self._pending = self._pending, []
                self._commit(batch)
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]

    def _commit(self, batch: list[_Job[Any]]) -> None:
        """Run a group of writes in one transaction (the caller holds the mutex)."""
        connection = self.connection()
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            if len(batch) == 1 and batch[0].single_statement:
                # Alone and one statement: its own autocommit transaction is
                # the same atomic write, without the BEGIN and COMMIT round trips.
                try:
                    batch[0].run(connection)
                finally:
                    batch[0].finished = True
                return
            connection.execute("BEGIN IMMEDIATE")
            try:
                if len(batch) == 1:
                    batch[0].run(connection)
                else:
                    for job in batch:
                        connection.execute("SAVEPOINT job")
                        if job.run(connection):
                            connection.execute("RELEASE job")
                        else:
                            connection.execute("ROLLBACK TO job")
                            connection.execute("RELEASE job")
                if len(batch) == 1 and batch[0].error is not None:
                    connection.execute("ROLLBACK")
                else:
                    connection.execute("COMMIT")
            except BaseException as failure:
                # The commit itself failed: nothing in the group happened.
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                for job in batch:
                    job.result, job.error = (
                        None,
                        failure if isinstance(failure, Exception) else None,
                    )
                raise
            finally:
                for job in batch:
                    job.finished = True
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def execute_script(self, script: str) -> None:
        """Run DDL (idempotent ``CREATE ... IF NOT EXISTS``) under the write lock."""
        connection = self.connection()
        with self._mutex:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                connection.executescript(script)
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close every connection opened by any thread, and the lock file."""
        with self._registry_lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()
        self._local = self.threading.local()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1
