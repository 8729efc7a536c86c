"""One SQLite file in WAL mode: a connection per thread, writes serialised and grouped.

Readers never block in WAL mode. Writers are serialised by an in-process mutex,
so threads queue in the kernel instead of in SQLite's busy handler (which sleeps
1, 2, 5, 10 ms... between retries and wrecks throughput under contention), and
by ``flock`` on a side file, so several processes sharing the file (Locust
workers, a server) also queue outside SQLite; a writer polls the file lock
briefly before it sleeps in it (``take_file_lock``).

Writes are *group-committed*, as server databases do: one thread at a time
leads, and commits every write queued by the time it holds the write lock, in
one transaction on the process's one writer connection; a write of several
statements runs in its own savepoint, so one failing does not undo the others.
A commit's cost (its WAL frames, the shared pages they dirty) is then paid
once per group, not once per write. Each caller still gets its own result, or
its own exception, only after the group's commit; the leader then wakes each
of them, and hands the lead to the first write that queued behind the group.

The threading primitives are injected: under gevent's monkey-patching
``threading.local`` and ``threading.Lock`` become greenlet objects, and this
module runs in real threads, so the load layer passes the unpatched ones.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any, Generic, NamedTuple, TypeVar

T = TypeVar("T")


#: How long a writer polls for the file lock another process holds before it sleeps.
FILE_LOCK_SPIN_S = 0.0003


def take_file_lock(descriptor: int, asked: float) -> None:
    """``flock`` the write-lock file, polling for ``FILE_LOCK_SPIN_S`` before sleeping in it.

    Another process holds the lock for a group commit, about 0.1 ms. A writer
    that sleeps in ``flock`` meanwhile gives up its core; the kernel wakes it
    once the lock is free, and on a virtual machine waking an idle core is an
    exit to the hypervisor: two workers on one file spent half their CPU in
    the scheduler, and the lock stood free while its next holder woke. Polling
    a little first (yielding the core to this process's other threads between
    tries) took two workers on one file from about 4,600 to 5,900 checkouts/s,
    and less CPU each (``docs/performance.md``). A lock nobody holds costs one
    call, as before; one held longer than the poll is waited for asleep.
    """
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.perf_counter() - asked > FILE_LOCK_SPIN_S:
                break
            os.sched_yield()
    fcntl.flock(descriptor, fcntl.LOCK_EX)


@dataclass(frozen=True)
class Threading:
    """Thread-local storage and lock factories that work in real threads."""

    local: Callable[[], Any] = threading.local
    lock: Callable[[], Any] = threading.Lock


class _Job(Generic[T]):
    """One caller's write, waiting for a group commit.

    A one-statement write keeps its ``sql`` and ``parameters`` (``work`` is
    None): run in place, it costs no closure and no extra call. ``wake`` is set
    only for a caller that queued behind a leader: a lock it holds from the start
    and blocks on a second time, so that releasing it wakes that caller alone,
    when the job is done or when the caller is to lead the next group. A caller
    that found no leader leads its own group and never waits, so it needs none.
    """

    __slots__ = ("error", "finished", "parameters", "result", "sql", "wake", "work")

    def __init__(
        self,
        work: Callable[[sqlite3.Connection], T] | None,
        sql: str | None = None,
        parameters: tuple[Any, ...] = (),
    ) -> None:
        self.work = work
        self.sql = sql
        self.parameters = parameters
        self.wake: Any = None
        self.result: T | None = None
        self.error: Exception | None = None
        self.finished = False

    def run(self, connection: sqlite3.Connection) -> bool:
        """Do the work; keep its result or its error. True if it succeeded."""
        try:
            if self.work is None:
                cursor = connection.execute(self.sql, self.parameters)  # type: ignore[arg-type]
                self.result = Written(  # type: ignore[assignment]
                    cursor.rowcount, cursor.lastrowid, cursor.fetchall()
                )
            else:
                self.result = self.work(connection)
        except Exception as failure:
            self.error = failure
            return False
        return True


class Written(NamedTuple):
    """What a one-statement write did: rows changed, the new row id, rows returned.

    A named tuple rather than a frozen dataclass: it is built once per write,
    and a frozen dataclass's ``__init__`` costs several times a tuple's.
    """

    rowcount: int
    lastrowid: int | None
    rows: list[Any]


@dataclass
class WriteLockFigures:
    """What the write lock cost this process: groups committed, writes in them, and time.

    ``waited_s`` is the time spent waiting for the file lock (another process
    held it); ``held_s`` the time it was held, commit included. Kept by the
    group's leader, one update per group, for the benches.
    """

    groups: int = 0
    writes: int = 0
    waited_s: float = 0.0
    held_s: float = 0.0


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
        self._new_lock = self.threading.lock
        self._pending: list[_Job[Any]] = []
        # True while a thread leads a group; later writers wait to be woken.
        self._leading = False
        self._registry_lock = self.threading.lock()
        self._connections: list[sqlite3.Connection] = []
        self._writer: sqlite3.Connection | None = None
        self._lock_fd = os.open(f"{self.path}.writelock", os.O_RDWR | os.O_CREAT, 0o644)
        self.write_lock = WriteLockFigures()

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (for reads), opened on first use."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._open()
            self._local.connection = connection
        return connection

    def _open(self) -> sqlite3.Connection:
        # check_same_thread=False so that close() can run from another thread,
        # and so that the writer connection can serve whichever thread leads a group.
        connection = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30
        )
        connection.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a crash of the application and loses
        # at most the last transactions on power loss: the usual production choice.
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")
        connection.execute("PRAGMA foreign_keys=ON")
        with self._registry_lock:
            self._connections.append(connection)
        return connection

    def _writer_connection(self) -> sqlite3.Connection:
        """The process's one connection for writes (call with ``_mutex`` held).

        SQLite empties a connection's page cache whenever it starts a
        transaction on a file another connection has written since, so a
        write on a thread's own connection would nearly always start cold.
        One connection for every write keeps its cache warm for as long as
        this process is the only writer.
        """
        if self._writer is None:
            self._writer = self._open()
        return self._writer

    def _round_trip(self) -> None:
        if self.round_trip_s > 0 and self.block is not None:
            self.block(self.round_trip_s)

    def round_trip(self) -> None:
        """Pay one more round trip, e.g. for a transaction's second statement."""
        self._round_trip()

    def read(self) -> sqlite3.Connection:
        """A connection for one autocommit read (after the injected round trip)."""
        self._round_trip()
        return self.connection()

    @contextmanager
    def _write_locked(self) -> Iterator[sqlite3.Connection]:
        """The writer connection, with both write locks held: this process's, then the file's."""
        with self._mutex:
            connection = self._writer_connection()
            asked = time.perf_counter()
            take_file_lock(self._lock_fd, asked)
            granted = time.perf_counter()
            try:
                yield connection
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                figures = self.write_lock
                figures.waited_s += granted - asked
                figures.held_s += time.perf_counter() - granted

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``), committed on success."""
        self._round_trip()
        with self._write_locked() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def write_one(self, sql: str, parameters: tuple[Any, ...] = ()) -> Written:
        """One statement as one write (grouped with others' writes at commit).

        Rows it returns (``RETURNING``) are fetched inside the transaction.
        """
        return self._submit(_Job(None, sql, parameters))

    def transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(connection)`` as one atomic write; return its result or raise its error.

        ``work`` may run in another thread (the leader of its group), on the
        process's writer connection: it must use only the connection it is given.
        """
        return self._submit(_Job(work))

    def _submit(self, job: _Job[T]) -> T:
        """Queue ``job`` for the next group commit, leading it if no one else does.

        This runs for every write, so it keeps to local names and makes no
        call it can do without: about 2 us of Python per write, against about
        7 us through context managers and a lock made per write.
        """
        if self.round_trip_s > 0 and self.block is not None:
            self.block(self.round_trip_s)
        with self._pending_lock:
            follow = self._leading
            if follow:
                # Held before the job is visible to a leader, which releases it.
                job.wake = wake = self._new_lock()
                wake.acquire()
            self._pending.append(job)
            self._leading = True
        if follow:
            # Another thread leads: wait to be told the job is done, or to lead.
            job.wake.acquire()
        if not job.finished:
            self._lead()
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]

    def _lead(self) -> None:
        """Commit the queued group, then wake the next leader and every caller served.

        Each caller waits on its own lock, so a finished group is released at
        once, instead of its callers filing one by one through a shared mutex.
        The write locks are taken as in ``_write_locked``, written out here
        because a generator-based context manager costs a write about 1 us.
        """
        batch: list[_Job[Any]] = []
        pending_lock = self._pending_lock
        try:
            with self._mutex:
                connection = self._writer
                if connection is None:
                    connection = self._writer_connection()
                descriptor = self._lock_fd
                asked = perf_counter()
                take_file_lock(descriptor, asked)
                granted = perf_counter()
                figures = self.write_lock
                try:
                    # Taken once the file lock is held, so writes that queued while
                    # another process held it join this group.
                    with pending_lock:
                        batch, self._pending = self._pending, []
                    figures.groups += 1
                    figures.writes += len(batch)
                    self._commit(connection, batch)
                finally:
                    fcntl.flock(descriptor, fcntl.LOCK_UN)
                    figures.waited_s += granted - asked
                    figures.held_s += perf_counter() - granted
        finally:
            with pending_lock:
                pending = self._pending
                successor = pending[0] if pending else None
                self._leading = successor is not None
            if successor is not None:
                successor.wake.release()
            for served in batch:
                # The leader's own job has no wake lock: it is not waiting.
                if served.wake is not None:
                    served.wake.release()

    def _commit(self, connection: sqlite3.Connection, batch: list[_Job[Any]]) -> None:
        """Run a group of writes in one transaction (the caller holds both write locks)."""
        try:
            if len(batch) == 1 and batch[0].work is None:
                # Alone and one statement: its own autocommit transaction is
                # the same atomic write, without the BEGIN and COMMIT round trips.
                batch[0].run(connection)
                return
            connection.execute("BEGIN IMMEDIATE")
            try:
                for job in batch:
                    if len(batch) == 1:
                        job.run(connection)
                    elif job.work is None:
                        # A failed statement undoes only itself: no savepoint
                        # needed, unless SQLite gave up the whole transaction.
                        if not job.run(connection) and not connection.in_transaction:
                            raise job.error  # type: ignore[misc]
                    else:
                        connection.execute("SAVEPOINT job")
                        if not job.run(connection):
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

    def execute_script(self, script: str) -> None:
        """Run DDL (idempotent ``CREATE ... IF NOT EXISTS``) under the write lock."""
        with self._write_locked() as connection:
            connection.executescript(script)

    def close(self) -> None:
        """Close every connection opened by any thread, and the lock file."""
        with self._registry_lock:
            connections, self._connections = self._connections, []
        self._writer = None
        for connection in connections:
            connection.close()
        self._local = self.threading.local()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1
