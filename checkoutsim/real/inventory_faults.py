"""What a scenario does to the inventory service, as wrappers around the real body's handlers.

Each wrapper keeps the meaning the model gives the fault
(``checkoutsim.sim.engine.Engine._inventory_gate`` and the pause after a
query): a brown-out makes calls slower while they hold their worker, an outage
refuses them or leaves them hanging until the caller's time-out, the
inventory breaker refuses calls while open and records the others, and a
lock holder now and then stops the world after a call.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from checkoutsim.policy import ops
from checkoutsim.real.breakers import SharedBreaker, inventory_judged
from checkoutsim.real.runtime import LockWait, Pause, Runtime, after
from checkoutsim.scenario.settings import Settings
from checkoutsim.world import service_rules
from checkoutsim.world.faults import FaultSchedule
from checkoutsim.world.latency import sampler

if TYPE_CHECKING:
    from checkoutsim.real.counters import Counters
    from checkoutsim.real.saga_context import SagaContext

Handler = Callable[[Any, "SagaContext"], Any]


class InventoryFaults:
    """The scenario's inventory faults, applied to a handler by ``wrap``.

    The pauses and the brown-outs' extra query time each draw from a stream of
    their own, derived from ``rng`` only when the scenario has them, so that
    other scenarios' draws from ``rng`` stay as they were.
    """

    def __init__(
        self,
        settings: Settings,
        runtime: Runtime,
        counters: Counters,
        breaker: SharedBreaker | None,
        rng: random.Random,
    ) -> None:
        self.settings = settings
        self.runtime = runtime
        self.counters = counters
        self.breaker = breaker
        self.schedule = FaultSchedule(settings.faults)
        self._lock = runtime.threading.lock()
        faults = settings.faults
        self._pause_rng = (
            random.Random(rng.getrandbits(64)) if faults.pause_probability > 0 else None
        )
        self._pause = sampler(faults.pause, self._pause_rng) if self._pause_rng else None
        slowed = any(brownout.service == "inventory" for brownout in faults.brownouts)
        self._extra_query = (
            sampler(settings.inventory.query, random.Random(rng.getrandbits(64)))
            if slowed
            else None
        )

    def wrap(self, handler: Handler) -> Handler:
        """``handler`` with every fault the scenario has, innermost first."""
        if self._extra_query is not None:
            handler = self._slowed(handler, self._extra_query)
        if self.schedule.has_outages("inventory"):
            handler = self._unless_down(handler)
        if self.breaker is not None:
            handler = self._behind_breaker(handler, self.breaker)
        if self._pause is not None:
            handler = self._pausing(handler, self._pause)
        return handler

    def _slowed(self, handler: Handler, extra_query: Callable[[], float]) -> Handler:
        """In a brown-out each call takes longer, holding its worker.

        The database work here is real and cannot be slowed on cue, so a
        brown-out of factor ``f`` adds ``f - 1`` of the model's query latencies
        (``inventory.query``, scaled to wall time) to each call, blocking the
        worker's thread as a slow query would. A factor below 1 changes nothing.
        """
        time = self.runtime.time
        schedule = self.schedule

        def slowed(op: Any, saga: SagaContext) -> Any:
            factor = schedule.latency_factor("inventory", time.now())
            if factor > 1:
                with self._lock:
                    extra_s = (factor - 1) * extra_query()
                time.block(time.wall(extra_s))
            return handler(op, saga)

        return slowed

    def _unless_down(self, handler: Handler) -> Handler:
        """During an outage the call does not happen.

        The rule is the model's (``checkoutsim.world.service_rules``): ``error``
        refuses at once; ``hang`` answers nothing until the caller's time-out
        (``inventory.timeout_s``), waited holding no worker.
        """
        timeout_s = self.settings.inventory.timeout_s
        now = self.runtime.time.now
        schedule = self.schedule

        def guarded(op: Any, saga: SagaContext) -> Any:
            wait_s = service_rules.inventory_outage_wait(schedule, now(), timeout_s)
            if wait_s is None:
                return handler(op, saga)
            return after(wait_s, _unavailable)

        return guarded

    def _behind_breaker(self, handler: Handler, breaker: SharedBreaker) -> Handler:
        """The inventory service's breaker, as the model's.

        An open breaker refuses the call (it does not happen: ``UNAVAILABLE``);
        otherwise the query's own duration is recorded when it answers, a failure
        if the service was down. A lock wait or a pause that follows is not part
        of the query, as in the model.
        """
        now = self.runtime.time.now
        counters = self.counters

        def guarded(op: Any, saga: SagaContext) -> Any:
            if not breaker.try_acquire_permission():
                counters.add("inventory_refusals")
                return ops.UNAVAILABLE
            started = now()
            try:
                value = handler(op, saga)
            except Exception:
                breaker.on_error(now() - started)
                raise
            if isinstance(value, Pause) and not isinstance(value, LockWait):
                # A hung call: measured until it gives up (a lock's line is not a query).
                return breaker.measured(lambda: value, inventory_judged)
            if value is ops.UNAVAILABLE:
                breaker.on_error(now() - started)
            else:
                breaker.on_success(now() - started)
            return value

        return guarded

    def _pausing(self, handler: Handler, pause: Callable[[], float]) -> Handler:
        """Now and then the caller stops the world after a call.

        As in the model, a GC or page fault after an inventory call: a real wait
        of the scaled pause, with whatever lease the saga holds, so one longer
        than the TTL gives two holders. (A lock wait that ends in a grant is not
        drawn again: its attempts return through ``Pause``.)
        """
        rng = self._pause_rng
        assert rng is not None
        probability = self.settings.faults.pause_probability

        def paused(op: Any, saga: SagaContext) -> Any:
            value = handler(op, saga)
            if isinstance(value, Pause):
                return value
            with self._lock:
                stops = rng.random() < probability
                seconds = pause() if stops else 0.0
            return after(seconds, lambda: value)

        return paused


def _unavailable() -> Any:
    return ops.UNAVAILABLE
