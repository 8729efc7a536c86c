"""The lock table's shared timers behave exactly as one timer per waiter and per lease did."""

from __future__ import annotations

import math
from typing import Any

import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from checkoutsim.sim.locks import LockState, LockTable, Waiter


class OneTimerEach(LockTable):
    """The reference: a give-up timer per waiter and an expiry timer per lease."""

    def _wait_in_line(self, lock: LockState, waiter: Waiter, wait_s: float) -> None:
        self.env.timeout(wait_s).callbacks.append(lambda _: self._give_up(waiter))

    def _watch_expiry(self, lock: LockState) -> None:
        token = lock.token
        if lock.watching == token or math.isinf(lock.expires_at):
            return
        lock.watching = token
        delay = max(0.0, lock.expires_at - self.env.now)
        self.env.timeout(delay).callbacks.append(lambda _: self._on_expiry(lock, token))


# (start delay, lock name, ttl, wait, hold): times on a 1/8 s grid, so ties happen.
_clients = st.lists(
    st.tuples(
        st.integers(0, 40).map(lambda n: n / 8),
        st.sampled_from(["a", "b"]),
        st.sampled_from([0.5, 1.0, 2.0]),
        st.sampled_from([0.0, 0.25, 1.0, 3.0]),
        st.integers(0, 24).map(lambda n: n / 8),
    ),
    max_size=25,
)


def _play(table_type: type[LockTable], clients: list[tuple[Any, ...]]) -> list[Any]:
    """Every client's story (when it got what) and the table's counts."""
    env = simpy.Environment()
    table = table_type(env)
    story: list[Any] = []

    def client(number: int, start: float, name: str, ttl: float, wait: float, hold: float):
        yield env.timeout(start)
        got = table.try_acquire(name, ttl, wait)
        if isinstance(got, simpy.Event):
            got = yield got
        story.append((number, env.now, got))
        if got is not None:
            yield env.timeout(hold)
            table.release(name, got)
            story.append((number, env.now, "released"))

    for number, spec in enumerate(clients):
        env.process(client(number, *spec))
    env.run()
    stats = table.stats
    return [*story, (stats.grants, stats.expirations, stats.timeouts, stats.holds)]


@settings(max_examples=150, deadline=None)
@given(_clients)
def test_shared_timers_give_the_same_story(clients: list[tuple[Any, ...]]) -> None:
    assert _play(LockTable, clients) == _play(OneTimerEach, clients)
