"""The SQLite group commit: every caller gets its own result or error, and only its own.

Real threads write at once, so writes are grouped into shared transactions;
some of them fail (a UNIQUE clash in one statement, or an error half-way
through a write of several statements), and none of that may leak into the
writes grouped with them.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from checkoutsim.real.database import Database, take_file_lock

THREADS = 8
WRITES_PER_THREAD = 150


class Planned(Exception):
    """The failure a multi-statement write raises after its first statement."""


def make(tmp_path: Path) -> Database:
    database = Database(tmp_path / "group.sqlite")
    database.execute_script(
        "CREATE TABLE IF NOT EXISTS items (key TEXT PRIMARY KEY, owner INTEGER NOT NULL);"
        "CREATE TABLE IF NOT EXISTS notes (key TEXT PRIMARY KEY, owner INTEGER NOT NULL);"
    )
    return database


def test_concurrent_writes_each_get_their_own_outcome(tmp_path: Path) -> None:
    database = make(tmp_path)
    outcomes: dict[tuple[int, int], str] = {}
    guard = threading.Lock()

    def writer(owner: int) -> None:
        for index in range(WRITES_PER_THREAD):
            kind = index % 3
            try:
                if kind == 0:
                    # Every thread inserts the same shared keys: one wins each.
                    database.write_one(
                        "INSERT INTO items (key, owner) VALUES (?, ?)", (f"shared-{index}", owner)
                    )
                elif kind == 1:
                    database.write_one(
                        "INSERT INTO items (key, owner) VALUES (?, ?)",
                        (f"own-{owner}-{index}", owner),
                    )
                else:

                    def half_done(connection: sqlite3.Connection, index: int = index) -> None:
                        connection.execute(
                            "INSERT INTO notes (key, owner) VALUES (?, ?)",
                            (f"note-{owner}-{index}", owner),
                        )
                        if index % 2 == 0:
                            raise Planned
                        connection.execute(
                            "INSERT INTO items (key, owner) VALUES (?, ?)",
                            (f"pair-{owner}-{index}", owner),
                        )

                    database.transaction(half_done)
                outcome = "ok"
            except sqlite3.IntegrityError:
                outcome = "clash"
            except Planned:
                outcome = "planned"
            with guard:
                outcomes[(owner, index)] = outcome

    threads = [threading.Thread(target=writer, args=(owner,)) for owner in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a writer was never woken"

    connection = database.connection()
    items = dict(connection.execute("SELECT key, owner FROM items").fetchall())
    notes = dict(connection.execute("SELECT key, owner FROM notes").fetchall())
    database.close()

    for (owner, index), outcome in outcomes.items():
        kind = index % 3
        if kind == 0:
            # The winner is told ok and owns the row; every other thread is told clash.
            assert (outcome == "ok") == (items[f"shared-{index}"] == owner)
        elif kind == 1:
            assert outcome == "ok" and items[f"own-{owner}-{index}"] == owner
        elif index % 2 == 0:
            # The failed write's first statement was undone, nothing else was.
            assert outcome == "planned" and f"note-{owner}-{index}" not in notes
        else:
            assert outcome == "ok"
            assert notes[f"note-{owner}-{index}"] == owner
            assert items[f"pair-{owner}-{index}"] == owner
    assert len(outcomes) == THREADS * WRITES_PER_THREAD
    shared = [index for index in range(WRITES_PER_THREAD) if index % 3 == 0]
    winners = [outcomes[(owner, index)] for owner in range(THREADS) for index in shared]
    assert winners.count("ok") == len(shared)


def test_a_lone_failing_write_is_rolled_back_and_raised(tmp_path: Path) -> None:
    database = make(tmp_path)

    def fails(connection: sqlite3.Connection) -> None:
        connection.execute("INSERT INTO items (key, owner) VALUES ('a', 1)")
        raise Planned

    with pytest.raises(Planned):
        database.transaction(fails)
    assert database.connection().execute("SELECT COUNT(*) FROM items").fetchone()[0] == 0
    assert database.transaction(lambda connection: 42) == 42
    database.close()


def test_the_write_lock_counts_each_group_and_its_writes(tmp_path: Path) -> None:
    """One thread's writes are groups of one; a ``write()`` block takes the lock uncounted."""
    database = make(tmp_path)
    for number in range(5):
        database.write_one("INSERT INTO items (key, owner) VALUES (?, ?)", (f"k{number}", 1))
    figures = database.write_lock
    assert (figures.groups, figures.writes) == (5, 5)
    assert figures.held_s > 0 and figures.waited_s >= 0
    held = figures.held_s
    with database.write() as connection:
        connection.execute("INSERT INTO notes (key, owner) VALUES ('n', 1)")
    assert (figures.groups, figures.writes) == (5, 5)
    assert figures.held_s > held
    database.close()


def test_the_file_lock_is_taken_at_once_when_free_and_after_its_holder_when_not(
    tmp_path: Path,
) -> None:
    """Two descriptors of one file stand for two processes (``flock`` locks an open file)."""
    path = tmp_path / "shop.db.writelock"
    holder = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    waiter = os.open(path, os.O_RDWR)
    try:
        take_file_lock(holder, time.perf_counter())
        with pytest.raises(BlockingIOError):
            fcntl.flock(waiter, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # Held elsewhere: the waiter polls, then sleeps, and gets it once it is let go,
        # whichever of the two it is doing when that happens.
        took = threading.Event()
        thread = threading.Thread(
            target=lambda: (take_file_lock(waiter, time.perf_counter()), took.set())
        )
        thread.start()
        fcntl.flock(holder, fcntl.LOCK_UN)
        thread.join(timeout=30)
        assert took.is_set()
        with pytest.raises(BlockingIOError):
            fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(holder)
        os.close(waiter)
