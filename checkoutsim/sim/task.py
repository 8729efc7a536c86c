"""A lean SimPy process for the model's many short-lived requests.

``simpy.Process`` schedules two events of its own per process (one to start
it, one to mark its end) and does bookkeeping on every resume that the model
never uses (the active process, interrupts, a waitable end). A flash sale
starts a process per request, so those two events were about a fifth of all
events, and the resume is paid on every event a request waits for.
``start`` drives a generator on SimPy's event loop with neither: the request
runs at once to its first event, and each event it yields resumes it.
Nothing may wait on a task's end, and a task cannot be interrupted; a failed
event is thrown into the generator as ``simpy.Process`` would. What the
generator returns goes to ``done``, called as it ends: a caller that wraps the
generator in one of its own only to act on that value would pay one more
generator level on every event the task waits for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import simpy

from checkoutsim.sim import SimStep


def start(generator: SimStep, done: Callable[[Any], None] | None = None) -> None:
    """Run ``generator`` as a task: now, up to its first event, then on each event.

    ``done``, if given, is called with the generator's return value when it ends.
    """
    _Task(generator, done).resume(None)


class _Task:
    """One running generator; each event it waits on holds ``resume`` as its callback.

    A class rather than a closure: a closure that registers itself is a
    reference cycle, left for the garbage collector, whose passes then cost
    more than the rest of a short request. Here the task is freed as soon as
    its last event has fired.
    """

    __slots__ = ("_done", "_generator")

    def __init__(self, generator: SimStep, done: Callable[[Any], None] | None) -> None:
        self._generator = generator
        self._done = done

    def resume(self, event: simpy.Event | None) -> None:
        """Send ``event``'s value in (or throw its failure) and wait on what comes out."""
        generator = self._generator
        value: Any = None
        ok = True
        if event is not None:
            value = event._value
            ok = event._ok
        while True:
            try:
                if ok:
                    event = generator.send(value)
                else:
                    event._defused = True  # type: ignore[union-attr]
                    event = generator.throw(value)
            except StopIteration as stop:
                if self._done is not None:
                    self._done(stop.value)
                return
            callbacks = event.callbacks
            if callbacks is not None:
                callbacks.append(self.resume)
                return
            # Yielded an event that has already been processed: go on at once.
            value = event._value
            ok = event._ok
