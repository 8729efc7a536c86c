"""The model's lean timeout and event loop against SimPy's own, event for event."""

from __future__ import annotations

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from checkoutsim.sim import SimStep, loop

#: Delays on a coarse grid, so that many events fall due at the very same instant.
_delays = st.lists(st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0]), min_size=1, max_size=6)


def _trace(plans: list[list[float]], lean: bool, until: float) -> list[tuple[float, int, int]]:
    """(time, process, step) each time a process wakes, with either timeout and loop.

    The lean version mixes its timeouts with SimPy's own and with events
    triggered at once, as the model does, so a key given differently by
    ``sleep`` would move it against them.
    """
    env = simpy.Environment()
    woken: list[tuple[float, int, int]] = []

    def timeout(delay: float, step: int) -> simpy.Event:
        if lean and step % 2 == 0:
            return loop.sleep(env, delay)
        return env.timeout(delay)

    def process(number: int, delays: list[float]) -> SimStep:
        for step, delay in enumerate(delays):
            yield timeout(delay, step)
            woken.append((env.now, number, step))
            # A timer made from a callback too, as the shoppers' are, and an
            # event triggered now, as a pool's hand-over is.
            if step == 0:
                timer = timeout(delay, step)
                timer.callbacks.append(lambda _, n=number: woken.append((env.now, n, -1)))
            yield env.event().succeed()
            woken.append((env.now, number, -2))

    # Timers made before the run, due on the grid (the stop's own time too).
    for due in (0.5, 1.0, 2.0, 3.0, 7.5):
        early = timeout(due, 0)
        early.callbacks.append(lambda _, d=due: woken.append((env.now, -3, int(d * 10))))
    for number, delays in enumerate(plans):
        env.process(process(number, delays))
    if lean:
        loop.run(env, until)
    else:
        env.run(until=until)
    woken.append((env.now, -1, -1))
    return woken


@settings(max_examples=80, deadline=None)
@given(st.lists(_delays, min_size=1, max_size=8), st.sampled_from([0.5, 2.0, 3.0, 7.5]))
def test_sleep_and_run_keep_simpys_order(plans: list[list[float]], until: float) -> None:
    assert _trace(plans, lean=True, until=until) == _trace(plans, lean=False, until=until)


def test_run_raises_a_failed_event_nobody_handled() -> None:
    env = simpy.Environment()
    env.event().fail(ValueError("lost"))
    with pytest.raises(ValueError, match="lost"):
        loop.run(env, 1.0)


def test_run_refuses_a_stop_in_the_past() -> None:
    env = simpy.Environment()
    loop.run(env, 1.0)
    assert env.now == 1.0
    with pytest.raises(ValueError, match="must be greater"):
        loop.run(env, 0.5)


def test_sleep_refuses_a_negative_delay_as_simpy_does() -> None:
    env = simpy.Environment()
    with pytest.raises(ValueError, match="negative delay"):
        loop.sleep(env, -0.1)
    with pytest.raises(ValueError, match="Negative delay"):
        env.timeout(-0.1)


def test_an_environment_without_the_queue_read_here_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Renamed:
        """A SimPy environment whose event queue went by another name."""

    monkeypatch.setattr(loop.simpy, "Environment", Renamed)
    with pytest.raises(ImportError, match="_queue, _now, _eid"):
        loop._check_simpy()
