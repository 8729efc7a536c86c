"""The real body's lock operations: a lease attempt, a wait in the lock's line, a release.

As in the model (``checkoutsim.sim.locks``), the first attempt is an inventory
call (it takes a worker for its query), and a refused shopper then waits in the
lock's first-come, first-served line holding no inventory worker: its later
attempts run on the general pool, so a holder's read and write never queue
behind waiters' retries. Only the front of the line looks again on its own
(``checkoutsim.real.wait_lines``); a release in this process wakes it at once.

Nothing is counted here: each grant is recorded with the time its holder first
asked (``lock_grants.asked_s``), and each wait given up in ``lock_timeouts``;
``checkoutsim.real.records.collect`` counts ``lock_timeouts`` and
``blocked_transactions`` (waits of ``LONG_LOCK_WAIT_S`` or more) from those rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from checkoutsim.policy import ops
from checkoutsim.real.runtime import LockWait

if TYPE_CHECKING:
    from checkoutsim.real.counters import Counters
    from checkoutsim.real.runtime import Runtime
    from checkoutsim.real.saga_context import SagaContext
    from checkoutsim.real.store import Store


class Leases:
    """``AcquireLock`` and ``ReleaseLock`` on the store's (or Redis's) leases."""

    def __init__(
        self, store: Store, runtime: Runtime, counters: Counters, lock_poll_s: float
    ) -> None:
        self.store = store
        self.runtime = runtime
        self.counters = counters
        self._lock_poll_s = lock_poll_s

    def acquire(self, op: ops.AcquireLock, saga: SagaContext) -> int | LockWait | None:
        """Try the lease; while it is held, a ``LockWait`` for the caller to wait in line."""
        now = self.runtime.time.now
        asked = now()
        deadline = asked + op.wait_s
        poll_model_s = self._lock_poll_s / max(self.runtime.time.wall(1.0), 1e-12)

        def attempt() -> int | LockWait | None:
            token, held_until = self.store.try_lock(op.name, op.ttl_s, asked)
            if token is not None:
                saga.leases[op.name] = token
                return token
            remaining = deadline - now()
            if remaining <= 0:
                self.store.record_lock_timeout(op.name, asked)
                return None
            # A hair past the expiry, so that the front's retry finds the lease lapsed.
            until_expiry = max(held_until - now(), 0.0) + 1e-6
            return LockWait(
                min(remaining, until_expiry, poll_model_s),
                attempt,
                wake=op.name,
                deadline=deadline,
                asked_s=asked,
            )

        return attempt()

    def release(self, op: ops.ReleaseLock, saga: SagaContext) -> None:
        """Compare-and-delete the lease, and wake the front of its line in this process."""
        self.store.release_lock(op.name, op.token)
        saga.leases.pop(op.name, None)
        self.runtime.notify(op.name)

    def wait(self, wait: LockWait) -> tuple[Any, Exception | None]:
        """Wait in the lock's line until granted or out of time; call from the waiting side.

        Returns the last attempt's result (a token, or None when the wait timed
        out) and any failure, for the executor to send into the policy generator.
        """
        runtime = self.runtime
        now = runtime.time.now
        assert wait.wake is not None
        ticket = runtime.join_line(wait.wake)
        value: Any = wait
        try:
            while isinstance(value, LockWait):
                woken = runtime.wait_in_line(ticket, value.seconds, value.deadline - now())
                if not woken and now() >= value.deadline:
                    # Out of time and nobody handed it a turn: give up without
                    # asking again, as the model's waiter does at its deadline.
                    self.store.record_lock_timeout(wait.wake, wait.asked_s)
                    return None, None
                # Not an inventory call: a retry takes no inventory worker.
                value = runtime.offload(value.resume)
        except Exception as failure:
            return None, failure
        finally:
            runtime.leave_line(ticket)
        return value, None
