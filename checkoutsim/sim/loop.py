"""SimPy's event loop and its timeout, each at one Python call instead of two.

A flash-sale checkout waits on about four events, each a ``Timeout`` made
through ``Timeout.__init__`` and ``Environment.schedule``, and each processed
through ``Environment.step``. ``sleep`` makes the same event in one call, and
``run`` processes events with ``step``'s body inlined. Both keep SimPy's order
exactly: an event is pushed with the same (time, priority, serial) key SimPy
gives it, and popped and fired as ``step`` does, so every simulated number is
the same as with ``env.timeout`` and ``env.run``. They read the environment's
queue, clock and serial counter (``_queue``, ``_now``, ``_eid``), as
``locks.fire_in`` does.
"""

from __future__ import annotations

from heapq import heappop, heappush

import simpy
from simpy.events import NORMAL, URGENT, Timeout

_new = object.__new__


def _check_simpy() -> None:
    """Refuse to run on a SimPy whose environment lacks the fields read here.

    The project pins SimPy below 5; a 4.x release that renamed these would
    otherwise fail deep inside a run, or worse, order events differently.
    """
    environment = simpy.Environment()
    missing = [name for name in ("_queue", "_now", "_eid") if not hasattr(environment, name)]
    if missing:
        raise ImportError(
            f"checkoutsim needs SimPy 4's event queue; SimPy {simpy.__version__} "
            f"has no {', '.join(missing)}"
        )


_check_simpy()


def sleep(env: simpy.Environment, delay: float) -> Timeout:
    """``env.timeout(delay)``: a ``Timeout`` scheduled ``delay`` (at least 0) from now."""
    if delay < 0:
        # As Timeout does: a negative delay would move the clock backwards.
        raise ValueError(f"negative delay {delay}")
    event = _new(Timeout)
    event.env = env
    event.callbacks = []
    event._value = None
    event._delay = delay
    event._ok = True
    heappush(env._queue, (env._now + delay, NORMAL, next(env._eid), event))  # type: ignore[attr-defined]
    return event


def run(env: simpy.Environment, until: float) -> None:
    """``env.run(until=until)``: process every event due before ``until``, then stop there.

    The stop is an event scheduled as SimPy schedules its own (urgent, at
    ``until - now`` from now), so events due at ``until`` itself are left
    exactly as ``env.run`` leaves them.
    """
    if until <= env.now:
        raise ValueError(f"until ({until}) must be greater than the current simulation time")
    stop = simpy.Event(env)
    stop._ok = True
    stop._value = None
    env.schedule(stop, URGENT, until - env.now)
    queue = env._queue  # type: ignore[attr-defined]
    while True:
        try:
            env._now, _, _, event = heappop(queue)  # type: ignore[attr-defined]
        except IndexError:
            raise RuntimeError(f"No scheduled events left before {until}") from None
        if event is stop:
            return
        callbacks, event.callbacks = event.callbacks, None
        for callback in callbacks:
            callback(event)
        if not event._ok and not hasattr(event, "_defused"):
            # A failed event nobody handled: raise a copy, as ``step`` does.
            failure = event._value
            error = type(failure)(*failure.args)
            error.__cause__ = failure
            raise error
