"""The server's own work before a request's check (``[server] acceptors, accept_s``).

One Python process accepts, reads and parses its requests one at a time (the
GIL), and past that rate a crowd waits at the door, before its checks. A
request through the door never waits there again: the write a check-then-decrement
makes after its window waits only for the database. So with one place at the
door, held ``accept_s`` a request, at most about ``gap / accept_s`` checks pass
while the first writes are in their window, however large the crowd; a pool of
database connections served first come first served (the inventory's workers)
at the same rate puts those writes in line behind the crowd's checks, and lets
many more through. A probe target past its capacity oversold the first way
(the model with the second predicted twice what a tutorial shop measured).
"""

from __future__ import annotations

import math
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkoutsim.real.api import CheckoutApi
from checkoutsim.real.door import Door
from checkoutsim.results.metrics import summarise
from checkoutsim.scenario import files
from checkoutsim.scenario.settings import Settings
from checkoutsim.sim.model import simulate
from tests.test_server_threads import start_checkouts


def sale(seed: int, gap_s: float, accept_s: float, door: bool, stock: int = 20) -> dict[str, float]:
    """A burst of 300 on one SKU of ``stock`` units, checks served one at a time,
    ``accept_s`` each: at the door (``door``) or by one inventory worker."""
    inventory: dict[str, Any] = {
        "strategy": "check_then_decrement",
        "costs": {"check_gap_s": gap_s},
        "query": {"distribution": "constant", "mean_s": 0.00001 if door else accept_s},
        "workers": 1000 if door else 1,
    }
    configured = Settings.model_validate(
        {
            "load": {"rate_per_s": 1.0, "duration_s": 2.0, "drain_s": 60.0, "burst_size": 300},
            "catalog": {"stock_per_sku": stock, "skus": 1},
            "inventory": inventory,
            "server": {"acceptors": 1 if door else 0, "accept_s": accept_s if door else 0.0},
            "shopper": {"timeout_s": 60.0},
            "gateway": {"latency": {"distribution": "constant", "mean_s": 0.0}},
        }
    )
    return summarise(simulate(configured, seed), configured.load.duration_s)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(min_value=1, max_value=10_000),
    gap_s=st.floats(min_value=0.01, max_value=0.2),
    accept_s=st.floats(min_value=0.001, max_value=0.01),
)
def test_one_place_at_the_door_lets_about_gap_over_accept_checks_into_the_window(
    seed: int, gap_s: float, accept_s: float
) -> None:
    metrics = sale(seed, gap_s, accept_s, door=True)
    # Check i passes the door at i * accept_s; the write of check j lands gap_s
    # after its check. Check i finds stock while fewer than `stock` writes landed:
    # at most ceil(gap / accept) checks beyond the stock (and the burst's 300).
    bound = min(300 - 20, math.ceil(gap_s / accept_s) + 1)
    assert 0 < metrics["oversold_units"] <= bound


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(min_value=1, max_value=10_000))
def test_a_line_at_the_door_oversells_less_than_the_same_rate_in_a_connection_pool(
    seed: int,
) -> None:
    # The same one check per 4 ms either way; only where the crowd waits differs.
    at_door = sale(seed, 0.1, 0.004, door=True)
    in_pool = sale(seed, 0.1, 0.004, door=False)
    assert at_door["oversold_units"] <= math.ceil(0.1 / 0.004) + 1
    # In the pool, the first write waits behind every check queued before it.
    assert in_pool["oversold_units"] > 3 * at_door["oversold_units"]


def test_the_door_is_off_by_default_and_refuses_bad_values() -> None:
    base = files.load("flash-sale", [], []).variants[0].settings
    assert base.server.acceptors == 0 and base.server.accept_s == 0.0
    assert base.server.respond_s == 0.0
    for wrong in ("server.acceptors=-1", "server.accept_s=-0.5", "server.accept_s=100"):
        try:
            files.load("flash-sale", [wrong], [])
        except files.ScenarioError as error:
            field, value = wrong.split("=")
            assert field in str(error) and value in str(error)
        else:
            raise AssertionError(f"{wrong} was accepted")


def test_the_real_api_admits_acceptors_at_once_each_for_accept_s() -> None:
    config = Settings.model_validate({"server": {"acceptors": 2, "accept_s": 0.25}})
    inside, most, slept = [0], [0], []
    guard = threading.Lock()
    release = threading.Event()
    entered = threading.Semaphore(0)

    def sleep(seconds: float) -> None:
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
            slept.append(seconds)
        entered.release()
        release.wait(30)
        with guard:
            inside[0] -= 1

    answered = []

    def drive(steps: Any, saga: Any) -> tuple[int, dict[str, Any]]:
        answered.append(True)
        return 201, {}

    api = CheckoutApi(config, lambda *args: iter(()), drive, sleep)
    callers = start_checkouts(api, 5)
    # Two are at the door; the other three wait in its line, and none has a check yet.
    assert entered.acquire(timeout=30) and entered.acquire(timeout=30)
    assert not entered.acquire(timeout=0.2)
    assert answered == []
    release.set()
    for caller in callers:
        caller.join(30)
    assert most[0] == 2 and inside[0] == 0
    assert slept == [0.25] * 5 and len(answered) == 5


@settings(max_examples=6, deadline=None)
@given(rho=st.floats(min_value=0.3, max_value=0.8), seed=st.integers(1, 10_000))
def test_one_place_at_the_door_is_an_md1_queue_pollaczek_khinchine(rho: float, seed: int) -> None:
    # Sold out from the start, every request is the door's constant 2 ms on the
    # way in and nothing else: Poisson arrivals at one constant server, whose
    # mean wait in line is rho * s / (2 * (1 - rho)) (Pollaczek-Khinchine).
    service_s = 0.002
    rate = rho / service_s
    configured = Settings.model_validate(
        {
            "load": {"rate_per_s": rate, "duration_s": 60.0, "drain_s": 10.0, "burst_size": 0},
            "catalog": {"stock_per_sku": 0, "skus": 1},
            "inventory": {
                "strategy": "atomic",
                "workers": 1000,
                "query": {"distribution": "constant", "mean_s": 0.0},
            },
            "server": {"acceptors": 1, "accept_s": service_s, "respond_s": 0.5},
        }
    )
    latencies = simulate(configured, seed).checkouts["latency_s"]
    waited = float(latencies.mean()) - service_s
    expected = rho * service_s / (2 * (1 - rho))
    # 60 s of arrivals: the mean of a few thousand waits, within 15% at rho 0.8.
    assert math.isclose(waited, expected, rel_tol=0.15, abs_tol=0.00005), (waited, expected)
    # A sold-out answer never takes the door a second time (respond_s is 0.5 s).
    assert float(latencies.max()) < 0.5


def test_the_real_api_charges_the_answer_of_anything_but_sold_out() -> None:
    config = Settings.model_validate(
        {"server": {"acceptors": 1, "accept_s": 0.25, "respond_s": 0.5}}
    )
    slept: list[float] = []
    answers = iter([(201, {"status": "ordered"}), (200, {"status": "sold_out"})])
    api = CheckoutApi(
        config, lambda *args: iter(()), lambda steps, saga: next(answers), slept.append
    )
    body = {"sku": "sku-0", "quantity": 1}
    assert api.checkout("k1", body)[1]["status"] == "ordered"
    assert slept == [0.25, 0.5]
    assert api.checkout("k2", body)[1]["status"] == "sold_out"
    assert slept == [0.25, 0.5, 0.25]  # a sold-out answer's work was its way in


def _until(condition: Any) -> bool:
    """Wait (at most 10 s) until ``condition()`` holds."""
    tick = threading.Event()
    for _ in range(10_000):
        if condition():
            return True
        tick.wait(0.001)
    return False


def _held_door() -> tuple[Door, threading.Thread, threading.Event, list[float]]:
    """A door of one place, held (for 1.0 "seconds") by a thread until the gate opens;
    each hold's seconds are recorded in order, as the place is taken."""
    served: list[float] = []
    holding, gate = threading.Event(), threading.Event()

    def sleep(seconds: float) -> None:
        served.append(seconds)
        if seconds == 1.0:
            holding.set()
            gate.wait(30)

    door = Door(1, sleep)
    holder = threading.Thread(target=door.hold, args=(1.0,))
    holder.start()
    assert holding.wait(30)
    return door, holder, gate, served


def test_a_waiter_marked_first_goes_ahead_of_the_line_and_a_killed_one_leaves_it() -> None:
    door, holder, gate, served = _held_door()
    waiters = [threading.Thread(target=door.hold, args=(2.0,))]
    waiters[0].start()
    assert _until(lambda: len(door._line) == 1)
    waiters.append(threading.Thread(target=door.hold, args=(3.0, True)))
    waiters[1].start()
    assert _until(lambda: len(door._line) == 2)
    gate.set()
    for thread in [holder, *waiters]:
        thread.join(30)
    assert served == [1.0, 3.0, 2.0]
    assert door._free == 1 and not door._line

    # A waiter killed in line leaves it, and the place is not lost.
    class Killed(Exception):
        pass

    class Refusing:
        def acquire(self) -> None:
            raise Killed

    door._free = 0
    door._line.append(Refusing())
    with pytest.raises(Killed):
        door._wait(door._line[0])
    assert not door._line and door._free == 0
    # One handed its place (out of the line) as it was killed hands it on: here,
    # with nobody waiting, back to the door.
    with pytest.raises(Killed):
        door._wait(Refusing())
    assert door._free == 1


def test_a_waiter_killed_inside_hold_leaves_the_line_and_the_next_one_gets_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from checkoutsim.real import door as door_module

    door, holder, gate, served = _held_door()

    class Killed(Exception):
        pass

    class KilledWhileWaiting:
        """A waiter's lock whose wait is interrupted, as a greenlet killed in line."""

        def __init__(self) -> None:
            self.taken = False

        def acquire(self) -> None:
            if self.taken:
                raise Killed
            self.taken = True

    with monkeypatch.context() as patched:
        patched.setattr(door_module.threading, "Lock", KilledWhileWaiting)
        with pytest.raises(Killed):
            door.hold(2.0)
    assert not door._line  # it left the line
    waiter = threading.Thread(target=door.hold, args=(3.0,))
    waiter.start()
    assert _until(lambda: len(door._line) == 1)
    gate.set()
    for thread in (holder, waiter):
        thread.join(30)
    assert served == [1.0, 3.0]
    assert door._free == 1 and not door._line
