"""PostgreSQL connections held for the run: the free list, its replacements, the gevent wait.

Needs a PostgreSQL server (skipped with the reason when none answers, as the
contract suites are). Each case works in a schema of its own, dropped after.
"""

from __future__ import annotations

from collections.abc import Iterator

import gevent
import pytest

from checkoutsim.load.green import GreenWaits
from checkoutsim.real.backends import new_namespace
from tests.backend_support import POSTGRES_URL, require


@pytest.fixture
def schema() -> Iterator[str]:
    """A fresh schema name, dropped when the case ends."""
    require("postgresql")
    import psycopg

    name = new_namespace()
    yield name
    with psycopg.connect(POSTGRES_URL, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def test_a_connection_lent_is_not_lent_twice_and_comes_back(schema: str) -> None:
    from checkoutsim.real.postgres import PostgresDatabase

    database = PostgresDatabase(POSTGRES_URL, schema, pool_size=2)
    try:
        first = database.held.take()
        second = database.held.take()
        assert first is not second
        with pytest.raises(RuntimeError, match="in use"):
            database.held.idle()
        database.held.give(second)
        database.held.give(first)
        assert {id(each) for each in database.held.idle()} == {id(first), id(second)}
    finally:
        database.close()


def test_a_connection_given_back_broken_or_mid_transaction_is_replaced(schema: str) -> None:
    from checkoutsim.real.postgres import PostgresDatabase

    database = PostgresDatabase(POSTGRES_URL, schema, pool_size=2)
    try:
        broken = database.held.take()
        broken.close()
        database.held.give(broken)
        busy = database.held.take()
        busy.execute("BEGIN")
        database.held.give(busy)
        from psycopg.pq import TransactionStatus

        idle = database.held.idle()
        assert len(idle) == 2
        # The closed one was replaced; the other was rolled back by the pool.
        assert broken not in idle
        assert all(not each.closed for each in idle)
        assert all(each.info.transaction_status == TransactionStatus.IDLE for each in idle)
        # Both still serve statements, outside any transaction.
        for _ in range(4):
            assert database.read().execute("SELECT 1").fetchone() == (1,)
    finally:
        database.close()


def test_greenlets_share_connections_through_the_hub_wait(schema: str) -> None:
    """Ten greenlets, two connections: each statement waits on the hub's watcher."""
    from checkoutsim.real.postgres import PostgresDatabase

    database = PostgresDatabase(POSTGRES_URL, schema, pool_size=2, waits=GreenWaits())
    try:
        database.execute_script("CREATE TABLE IF NOT EXISTS tally (n INTEGER NOT NULL)")

        def add(number: int) -> None:
            for _ in range(5):
                database.write_one("INSERT INTO tally (n) VALUES (?)", (number,))

        gevent.joinall([gevent.spawn(add, number) for number in range(10)], raise_error=True)
        rows = database.read().execute("SELECT COUNT(*), SUM(n) FROM tally").fetchone()
        assert (rows[0], int(rows[1])) == (50, 5 * sum(range(10)))
        # The hub's watchers were made and kept, one per connection and direction.
        assert any(connection.watchers for connection in database.held.idle())
    finally:
        database.close()


def test_a_caller_that_finds_no_free_connection_is_told_so(
    schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from checkoutsim.real import pg_connections
    from checkoutsim.real.postgres import PostgresDatabase

    database = PostgresDatabase(POSTGRES_URL, schema, pool_size=1)
    try:
        held = database.held.take()
        monkeypatch.setattr(pg_connections, "WAIT_S", 0.0)
        with pytest.raises(TimeoutError, match="no PostgreSQL connection free"):
            database.held.take()
        database.held.give(held)
        assert len(database.held.idle()) == 1
    finally:
        database.close()


def test_pools_are_sized_to_the_cores_within_what_the_workers_need() -> None:
    from checkoutsim.real.backends import pool_sizes

    assert pool_sizes(16, cores=2) == (8, 4)
    assert pool_sizes(16, cores=4) == (16, 6)
    assert pool_sizes(16, cores=64) == (24, 6)
    # Few inventory workers need few connections, whatever the cores.
    assert pool_sizes(2, cores=64) == (10, 6)


def test_a_connection_given_back_after_the_database_closed_is_closed(schema: str) -> None:
    from checkoutsim.real.postgres import PostgresDatabase

    database = PostgresDatabase(POSTGRES_URL, schema, pool_size=2)
    late = database.held.take()
    database.close()
    database.held.give(late)
    assert late.closed


def test_a_greenlet_waiting_on_the_server_lets_the_others_run(schema: str) -> None:
    """One greenlet waits for a lock that only another greenlet can free.

    With a wait that blocks the thread (psycopg's C wait, which psycopg picks
    when it is imported before gevent's patching) the second never runs and
    the first gives up at its lock time-out.
    """
    import psycopg

    from checkoutsim.real.postgres import PostgresDatabase

    database = PostgresDatabase(POSTGRES_URL, schema, pool_size=2, waits=GreenWaits())
    holder = psycopg.connect(POSTGRES_URL, autocommit=True)
    finished: list[str] = []
    try:
        holder.execute("SELECT pg_advisory_lock(7)")

        def wait_for_the_lock(session: object) -> None:
            session.execute("SET LOCAL lock_timeout = '3s'")  # type: ignore[attr-defined]
            session.execute("SELECT pg_advisory_xact_lock(7)")  # type: ignore[attr-defined]

        def waiter() -> None:
            database.transaction(wait_for_the_lock)
            finished.append("waiter")

        def freer() -> None:
            assert database.read().execute("SELECT 1").fetchone() == (1,)
            holder.execute("SELECT pg_advisory_unlock(7)")
            finished.append("freer")

        gevent.joinall([gevent.spawn(waiter), gevent.spawn(freer)], raise_error=True)
        assert finished == ["freer", "waiter"]
    finally:
        holder.close()
        database.close()
