"""PostgreSQL connections held for the run, each with its own cursor and way of waiting.

A checkout makes eight round trips, and each used to pay, beside the server's
answer, for the pool's check-out and check-in (locks, a health check, three
log calls), a new cursor, and gevent's ``select.poll`` emulation (a poll
object, a timer and a watcher per wait). Measured under the closed loop, that
was a third of the client's CPU per round trip. Here:

- ``HeldConnections`` takes every connection out of the pool once and lends
  them from a free list guarded by a semaphore (the pool still opens them,
  and replaces one that comes back broken or mid-transaction);
- ``WaitingConnection`` keeps one cursor for its statements, and waits for its
  socket with the function it is given (``socket_wait``): under gevent, one
  cached watcher per direction on the hub, so a wait is one switch to the hub
  and back (``checkoutsim.load.green.GreenWaits``). Without one (plain
  threads), psycopg's own C wait serves.

Both the wait and the free list's semaphore come from a ``Waits``: by default
``threading``'s semaphore and psycopg's wait, under gevent the runtime's.

Imported only when a PostgreSQL store is opened: psycopg is needed here.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

#: ``socket_wait(generator, fileno, watchers)``: drive one of psycopg's
#: generators to its end, waiting for the socket as it asks; ``watchers`` is a
#: dictionary the connection keeps for the function's own use.
SocketWait = Callable[[Any, int, dict[Any, Any]], Any]


#: How long a caller waits for a free connection before giving up (the pool's default).
WAIT_S = 30.0


class Waits:
    """How connections wait: for their socket (None: psycopg's way), and for each other."""

    socket_wait: SocketWait | None = None

    def semaphore(self, count: int) -> Any:
        """A counting semaphore for the free list (``acquire``, ``release``)."""
        return threading.Semaphore(count)


class WaitingConnection(psycopg.Connection[Any]):
    """A psycopg connection that waits with ``socket_wait`` and reuses one cursor."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.socket_wait: SocketWait | None = None
        self.watchers: dict[Any, Any] = {}
        self._statements: psycopg.Cursor[Any] | None = None

    def wait(self, gen: Any, *args: Any, **kwargs: Any) -> Any:
        """As ``psycopg.Connection.wait``; with ``socket_wait`` when set and no time-out."""
        if self.socket_wait is None or args or kwargs.get("timeout") is not None:
            return super().wait(gen, *args, **kwargs)
        return self.socket_wait(gen, self.pgconn.socket, self.watchers)

    def statements(self) -> psycopg.Cursor[Any]:
        """The cursor this connection runs the store's statements on (made once)."""
        if self._statements is None or self._statements.closed:
            self._statements = self.cursor()
        return self._statements


class HeldConnections:
    """Every connection of ``pool``, taken out once and lent from a free list.

    Safe from several threads with the default ``Waits`` (``deque`` appends
    and pops are atomic, the semaphore is ``threading``'s); under gevent, safe
    from the greenlets of one thread.
    """

    def __init__(self, pool: Any, waits: Waits | None = None) -> None:
        self._pool = pool
        waits = waits or Waits()
        self._socket_wait = waits.socket_wait
        self._idle: deque[Any] = deque()
        for _ in range(pool.max_size):
            self._idle.append(self._prepared(pool.getconn()))
        self.size = len(self._idle)
        self._free = waits.semaphore(self.size)
        self._closed = False

    def _prepared(self, connection: Any) -> Any:
        if isinstance(connection, WaitingConnection):
            connection.socket_wait = self._socket_wait
        return connection

    def take(self) -> Any:
        """A connection of one's own until ``give``; waits while all are lent.

        Gives up after ``WAIT_S``, as the pool would, rather than hang for ever.
        """
        if not self._free.acquire(timeout=WAIT_S):
            raise TimeoutError(f"no PostgreSQL connection free after {WAIT_S:g} s")
        return self._idle.pop()

    def give(self, connection: Any) -> None:
        """Put ``connection`` back; a broken or busy one goes to the pool for a new one."""
        if self._closed:
            # Lent when the database closed (a caller cut short): nothing to lend it to.
            connection.close()
            return
        if connection.closed or connection.pgconn.transaction_status != TransactionStatus.IDLE:
            # The pool closes (or rolls back) it and opens a replacement.
            self._pool.putconn(connection)
            try:
                connection = self._prepared(self._pool.getconn())
            except BaseException:
                self.size -= 1  # one fewer to lend: its slot is never released
                raise
        self._idle.append(connection)
        self._free.release()

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """``with held.connection() as connection``: take, then give back."""
        connection = self.take()
        try:
            yield connection
        finally:
            self.give(connection)

    def idle(self) -> list[Any]:
        """Every connection, when none is lent (a tracer's or an inspector's view)."""
        if len(self._idle) != self.size:
            raise RuntimeError("connections are in use")
        return list(self._idle)

    def close(self) -> None:
        """Give every idle connection back to the pool (before it closes); close later ones."""
        self._closed = True
        while self._idle:
            self._pool.putconn(self._idle.pop())
