"""One Redis client per OS thread: redis-py's connections must not cross threads under gevent.

Under Locust's monkey-patching a redis-py connection's socket is a gevent
socket, and a gevent socket belongs to the hub of the thread that opened it:
its read and write waits are watchers on that hub's loop. redis-py's pool
hands a released connection to whichever thread asks next, so with the SQLite
store, whose calls run in a pool of real threads (``load.runtime.GeventRuntime``),
a connection opened in one thread was read in another, and the wait failed
with ``greenlet.error: Cannot switch to a different thread``. The pool's lock
is a patched ``threading.Lock``, a greenlet primitive, shared the same way.

``PerThread`` therefore gives every OS thread a client (and so a pool and
connections) of its own, made in that thread on its first call; greenlets of
one thread still share their thread's client, as intended (the PostgreSQL
store's calls all run in the hub's thread). The thread-local storage must be
the unpatched one (``Threading.local`` from the runtime): the patched one is
per greenlet, which would open a connection for every shopper.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from checkoutsim.real.database import Threading


class PerThread:
    """A source of Redis clients: the calling OS thread's own, made on first use."""

    def __init__(self, connect: Callable[[], Any], threading: Threading) -> None:
        self._connect = connect
        self._local = threading.local()

    def __call__(self) -> Any:
        """The calling thread's client."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._connect()
            self._local.client = client
        return client


def client_source(client: Any) -> Callable[[], Any]:
    """A source of clients from a ``PerThread`` (returned as is) or one client (always it).

    A single client is right where only one thread uses it: a test, or dropping
    a run's keys.
    """
    if isinstance(client, PerThread):
        return client
    return lambda: client
