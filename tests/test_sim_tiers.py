"""The station's one-pass simulation against a SimPy event simulation of the same queue."""

from __future__ import annotations

import math
import random
from collections import deque

import numpy as np
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from checkoutsim.sim.tiers import StationResult, simulate_station


def _simpy_station(
    arrival_rate: float, service_rate: float, servers: int, customers: int, rng: random.Random
) -> StationResult:
    """The M/M/c FIFO queue as SimPy events (the station as it was first written)."""
    env = simpy.Environment()
    waiting: deque[tuple[float, int]] = deque()
    waits = np.empty(customers)
    state = {"busy": 0, "busy_time": 0.0, "from": math.inf, "to": math.inf}
    warmup = int(customers * 0.1)

    def start(arrived: float, index: int) -> None:
        state["busy"] += 1
        waits[index] = env.now - arrived
        service = rng.expovariate(service_rate)
        if state["from"] <= env.now < state["to"]:
            state["busy_time"] += min(service, state["to"] - env.now)
        env.timeout(service).callbacks.append(lambda _: finish())

    def finish() -> None:
        state["busy"] -= 1
        if waiting:
            start(*waiting.popleft())

    def arrivals(gaps: list[float]):
        for index, gap in enumerate(gaps):
            yield env.timeout(gap)
            if index == warmup:
                state["from"] = env.now
            if state["busy"] < servers:
                start(env.now, index)
            else:
                waiting.append((env.now, index))

    gaps = [rng.expovariate(arrival_rate) for _ in range(customers)]
    state["to"] = float(np.cumsum(gaps)[-1])
    env.process(arrivals(gaps))
    env.run()
    measured = waits[warmup:]
    span = state["to"] - state["from"]
    utilisation = state["busy_time"] / (servers * span) if span > 0 else math.nan
    return StationResult(
        customers=customers,
        utilisation=min(utilisation, 1.0),
        mean_wait_s=float(measured.mean()),
        p99_wait_s=float(np.percentile(measured, 99)),
        saturated=arrival_rate / (service_rate * servers) >= 1.0,
    )


@settings(max_examples=40, deadline=None)
@given(
    st.floats(0.5, 50.0),
    st.floats(0.5, 20.0),
    st.integers(1, 6),
    st.integers(10, 800),
    st.integers(0, 2**32),
)
def test_one_pass_equals_the_event_simulation_exactly(
    arrival_rate: float, service_rate: float, servers: int, customers: int, seed: int
) -> None:
    ours = simulate_station(arrival_rate, service_rate, servers, customers, random.Random(seed))
    events = _simpy_station(arrival_rate, service_rate, servers, customers, random.Random(seed))
    assert ours == events or (math.isnan(ours.utilisation) and math.isnan(events.utilisation))
