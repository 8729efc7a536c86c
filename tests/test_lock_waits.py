"""Lock waiters in the real body: one line per lock, only its front looks again.

A manual clock and a scripted store: nothing really waits, and every attempt
the waiters make is counted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from checkoutsim.policy.ops import AcquireLock
from checkoutsim.real.lock_waits import Leases
from checkoutsim.real.runtime import LockWait, ThreadRuntime
from checkoutsim.real.saga_context import SagaContext
from checkoutsim.real.timebase import ManualTime
from checkoutsim.real.wait_lines import WaitLines

T = TypeVar("T")


class ScriptedStore:
    """A store whose lock answers are given in advance; it counts the attempts."""

    def __init__(self, clock: ManualTime, answers: list[tuple[int | None, float]]) -> None:
        self.clock = clock
        self.answers = answers
        self.attempts = 0
        self.asked: list[float | None] = []
        self.timeouts: list[tuple[str, float, float]] = []

    def try_lock(
        self, name: str, ttl_s: float, asked_s: float | None = None
    ) -> tuple[int | None, float]:
        """The next scripted answer; ``held_until`` is relative to now."""
        token, held_for = self.answers[min(self.attempts, len(self.answers) - 1)]
        self.attempts += 1
        self.asked.append(asked_s)
        return token, self.clock.now() + held_for

    def record_lock_timeout(self, name: str, asked_s: float) -> None:
        """Keep the record of a wait given up: (name, asked, gave up)."""
        self.timeouts.append((name, asked_s, self.clock.now()))


class CountingRuntime(ThreadRuntime):
    """A thread runtime that counts calls sent to the inventory service's pool."""

    inventory_calls = 0

    def offload_inventory(self, function: Callable[..., T], *args: Any) -> T:
        self.inventory_calls += 1
        return function(*args)


class Tally:
    """Counters as the executor keeps them."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def add(self, name: str, amount: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + amount


def leases_for(answers: list[tuple[int | None, float]]) -> tuple[Leases, CountingRuntime, Any]:
    clock = ManualTime()
    runtime = CountingRuntime(clock)
    store = ScriptedStore(clock, answers)
    # A poll far longer than any wait here: the front wakes at the lease's expiry.
    return Leases(store, runtime, Tally(), lock_poll_s=1000.0), runtime, store  # type: ignore[arg-type]


def test_the_front_of_the_line_asks_again_when_the_lease_runs_out() -> None:
    leases, runtime, store = leases_for([(None, 5.0), (7, 5.0)])
    saga = SagaContext(1, "a")
    wait = leases.acquire(AcquireLock("lock", 5.0, 20.0), saga)
    assert isinstance(wait, LockWait)
    assert leases.wait(wait) == (7, None)
    assert store.attempts == 2
    assert 5.0 <= runtime.time.now() < 5.01
    assert saga.leases == {"lock": 7}
    # Every attempt tells the store when the lock was first asked for.
    assert store.asked == [0.0, 0.0] and store.timeouts == []
    # Retries are not inventory calls: a waiter holds no inventory worker.
    assert runtime.inventory_calls == 0
    assert runtime.lines.waiting("lock") == 0


def test_a_waiter_behind_the_front_gives_up_at_its_deadline_without_asking_again() -> None:
    leases, runtime, store = leases_for([(None, 5.0)])
    front = runtime.join_line("lock")
    wait = leases.acquire(AcquireLock("lock", 5.0, 20.0), SagaContext(1, "a"))
    assert isinstance(wait, LockWait)
    assert leases.wait(wait) == (None, None)
    # One attempt only, however many leases ran out meanwhile.
    assert store.attempts == 1
    assert runtime.time.now() == 20.0
    # The give-up is recorded in the store, with when it was first asked for (the
    # records count it as a timeout, and, at a second or more, a blocked transaction).
    assert store.timeouts == [("lock", 0.0, 20.0)]
    assert leases.counters.counts == {}
    assert runtime.lines.is_first(front) and runtime.lines.waiting("lock") == 1


def test_lines_are_first_come_first_served_and_hand_over_the_front() -> None:
    lines = WaitLines(threading.Event, threading.Lock())
    first, second, third = (lines.join("lock") for _ in range(3))
    other = lines.join("other")
    assert lines.is_first(first) and not lines.is_first(second)
    assert lines.seconds_for(first, 0.5, 9.0) == 0.5
    assert lines.seconds_for(second, 0.5, 9.0) == 9.0
    # A release wakes the front only.
    assert lines.wake_first("lock")
    assert first.event.is_set() and not second.event.is_set()
    # A waiter behind the front leaving wakes nobody.
    lines.leave(third)
    assert not second.event.is_set()
    # The front leaving wakes the next, which now looks again on its own.
    lines.leave(first)
    assert second.event.is_set() and lines.is_first(second)
    assert lines.is_first(other) and not other.event.is_set()
    lines.leave(second)
    assert lines.waiting("lock") == 0 and not lines.wake_first("lock")
