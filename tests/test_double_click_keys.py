"""The idempotency-key rules at the API's door, shared by the model and the real body.

A double click's second request with the key of one still running (key_first)
or already answered is answered at the door, before the saga: it reserves no
stock, so it has nothing to give back. Both bodies run the one
``request_steps`` of the policy core.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from checkoutsim.experiments.runner import run_scenario
from checkoutsim.policy import request_keys
from checkoutsim.policy.operation import Operation, Step
from checkoutsim.policy.saga import Outcome
from checkoutsim.real import api
from checkoutsim.scenario import files as scenarios
from checkoutsim.sim import SimStep, requests
from checkoutsim.sim.requests import RequestTable, keyed_checkout

ROUND_TRIP_S = 0.005
SAGA_S = 0.3


@dataclass(slots=True, unsafe_hash=True)
class Busy(Operation):
    """The saga's work, as one stretch of simulated time."""

    seconds: float


def test_both_bodies_run_the_policy_cores_request_steps() -> None:
    assert api.request_steps is request_keys.request_steps
    assert requests.request_steps is request_keys.request_steps


def test_model_key_first_double_clicks_give_nothing_back() -> None:
    """The duplicate is answered at the door: no reservation, no compensation."""
    result = run_scenario(scenarios.load("double-click", ["load.duration_s=20"]), seed=1)
    metrics = {variant.name: variant.metrics for variant in result.variants}
    assert metrics["key_first"]["duplicate_charges"] == 0
    assert metrics["key_first"]["compensations"] == 0
    # The textbook's overlapping clicks both pass the look-up and both run the
    # saga (the second gives its units back); a click after the first answer
    # gets the replay, so fewer give back than without keys, where all do.
    textbook = metrics["check_then_charge"]["compensations"]
    assert 0 < textbook < metrics["no_key"]["compensations"]


def _drive(env: simpy.Environment, table: RequestTable, steps: Step[Any]) -> SimStep:
    """A small engine: the table's handlers, and ``Busy`` as a sleep."""
    handlers = table.handlers()
    result: Any = None
    while True:
        try:
            operation = steps.send(result)
        except StopIteration as stop:
            return stop.value
        if isinstance(operation, Busy):
            yield env.timeout(operation.seconds)
            result = None
        else:
            result = yield from handlers[type(operation)](operation)


def _clicks(strategy: str, gaps: list[float]) -> tuple[list[Outcome], int]:
    """Requests with one key started ``gaps`` apart: their outcomes and sagas run."""
    env = simpy.Environment()

    def round_trip() -> SimStep:
        yield env.timeout(ROUND_TRIP_S)

    table = RequestTable(round_trip)
    table.intent_of["i7"] = 7
    sagas = [0]
    outcomes: list[Outcome] = []

    def saga() -> Generator[Operation, Any, Outcome]:
        sagas[0] += 1
        yield Busy(SAGA_S)
        return Outcome.ORDERED

    def request(delay: float) -> SimStep:
        yield env.timeout(delay)
        outcome = yield from _drive(env, table, keyed_checkout(strategy, "i7", 3, 1, saga()))
        outcomes.append(outcome)

    start = 0.0
    for gap in [0.0, *gaps]:
        start += gap
        env.process(request(start))
    env.run()
    return outcomes, sagas[0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 2.0), min_size=1, max_size=5))
def test_key_first_runs_one_saga_per_key_whatever_the_gaps(gaps: list[float]) -> None:
    outcomes, sagas = _clicks("key_first", gaps)
    assert sagas == 1
    assert len(outcomes) == len(gaps) + 1
    # Each answer is the first request's (replayed) or "processing" (409 while it ran).
    assert set(outcomes) <= {Outcome.ORDERED, Outcome.PROCESSING}
    assert outcomes.count(Outcome.ORDERED) >= 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 2.0), min_size=1, max_size=5))
def test_check_then_charge_reruns_only_clicks_that_overlap(gaps: list[float]) -> None:
    outcomes, sagas = _clicks("check_then_charge", gaps)
    starts = [sum(gaps[:index]) for index in range(len(gaps) + 1)]
    # The first answer is stored a look-up, the saga and an insert after its start;
    # a click whose look-up lands after that gets the replay and runs nothing.
    stored_at = 2 * ROUND_TRIP_S + SAGA_S
    late = sum(1 for start in starts[1:] if start + ROUND_TRIP_S > stored_at + 1e-9)
    overlapping = sum(1 for start in starts[1:] if start + ROUND_TRIP_S < stored_at - 1e-9)
    assert 1 + overlapping <= sagas <= len(starts) - late
    assert outcomes == [Outcome.ORDERED] * len(starts)
