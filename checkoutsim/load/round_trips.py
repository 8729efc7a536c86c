"""Counting the round trips a checkout makes to PostgreSQL, from libpq's own protocol trace.

A round trip is a run of messages the client sends (``F`` lines of the trace:
``Query``, or ``Parse``/``Bind``/``Execute``/``Sync``) followed by the server's
answer (``B`` lines) that the client waits for. Counting the turns from ``F``
to ``B`` in a connection's trace counts exactly the waits, whatever the
statements were (a prepared statement's first ``Parse`` is one more, a
``BEGIN`` and a ``COMMIT`` are one each, a pipeline's batch is one).

``traced(databases)`` traces every connection of the given pools (each to a
file of its own, so that connections used at once do not interleave) and
yields a ``Tally`` that counts, when the block ends, the round trips made on
them meanwhile.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def count_round_trips(trace: str) -> int:
    """The number of waits for the server in one connection's libpq trace."""
    trips = 0
    sending = False
    for line in trace.splitlines():
        # Each line starts with its direction (timestamps are suppressed, see ``traced``).
        direction = line.split("\t", 1)[0]
        if direction == "F":
            sending = True
        elif direction == "B" and sending:
            trips += 1
            sending = False
    return trips


@dataclass
class Tally:
    """The round trips counted by ``traced`` (filled in when its block ends)."""

    round_trips: int = 0
    connections: int = 0


@contextmanager
def traced(databases: Iterable[Any]) -> Iterator[Tally]:
    """Trace every pooled connection of each ``PostgresDatabase`` for the block's length.

    Every connection the database holds is traced, so the databases must be
    idle when the block starts and when it ends
    (``checkoutsim.real.pg_connections.HeldConnections.idle``).
    """
    from psycopg import pq

    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="checkoutsim-trace-") as folder:
        files: list[Any] = []
        helds = [database.held for database in databases]
        for held in helds:
            for connection in held.idle():
                handle = (Path(folder) / f"{len(files)}.trace").open("w")
                files.append(handle)
                connection.pgconn.trace(handle.fileno())
                connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            yield tally
        finally:
            for held in helds:
                for connection in held.idle():
                    connection.pgconn.untrace()
            for handle in files:
                handle.close()
            tally.connections = len(files)
            tally.round_trips = sum(
                count_round_trips(path.read_text()) for path in Path(folder).glob("*.trace")
            )


def backend_pids(databases: Iterable[Any]) -> list[int]:
    """The server processes behind every pooled connection (no round trip: libpq knows).

    The databases must be idle, as for ``traced``.
    """
    return [
        connection.info.backend_pid for database in databases for connection in database.held.idle()
    ]
