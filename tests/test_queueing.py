"""Tests for the queueing formulas: textbook values, edge cases and monotonicity."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from checkoutsim.capacity import queueing


def erlang_c_by_factorials(servers: int, offered_load: float) -> float:
    """The textbook closed form, independent of the recursion under test (small c only)."""
    top = offered_load**servers / math.factorial(servers) * servers / (servers - offered_load)
    bottom = sum(offered_load**k / math.factorial(k) for k in range(servers)) + top
    return top / bottom


def test_erlang_b_small_cases_by_hand() -> None:
    # B(1, a) = a / (1 + a); B(2, 1): B1 = 1/2, B2 = (1/2) / (2 + 1/2) = 1/5.
    assert queueing.erlang_b(1, 3.0) == pytest.approx(0.75)
    assert queueing.erlang_b(2, 1.0) == pytest.approx(0.2)
    assert queueing.erlang_b(0, 5.0) == 1.0
    assert queueing.erlang_b(4, 0.0) == 0.0


def test_erlang_c_small_cases_by_hand() -> None:
    # M/M/2 with a = 1: B = 1/5, ρ = 1/2, C = 0.2 / (1 − 0.5 × 0.8) = 1/3.
    assert queueing.erlang_c(2, 1.0) == pytest.approx(1 / 3)
    # M/M/1: every arrival finding the server busy waits, so C = ρ.
    assert queueing.erlang_c(1, 0.7) == pytest.approx(0.7)
    # M/M/2 closed form: C = 2ρ² / (1 + ρ).
    for load in (0.1, 0.5, 0.9):
        assert queueing.erlang_c(2, 2 * load) == pytest.approx(2 * load**2 / (1 + load))


@pytest.mark.parametrize(("servers", "offered_load"), [(3, 2.0), (5, 4.0), (10, 9.0), (20, 12.5)])
def test_erlang_c_matches_the_factorial_formula(servers: int, offered_load: float) -> None:
    assert queueing.erlang_c(servers, offered_load) == pytest.approx(
        erlang_c_by_factorials(servers, offered_load), rel=1e-12
    )


def test_recursion_is_stable_for_thousands_of_servers() -> None:
    # The factorial form overflows long before this; the recursion must not.
    waiting = queueing.erlang_c(3000, 2950.0)
    assert 0 < waiting < 1


def test_mm1_mean_wait_and_response_time() -> None:
    arrival, service = 8.0, 10.0
    load = arrival / service
    assert queueing.mean_wait(arrival, service) == pytest.approx(load / (service - arrival))
    assert queueing.mean_response_time(arrival, service) == pytest.approx(1 / (service - arrival))
    assert queueing.utilisation(arrival, service) == pytest.approx(0.8)


def test_mm1_quantiles_have_closed_forms() -> None:
    arrival, service = 8.0, 10.0
    # M/M/1 response time is exponential with rate μ − λ.
    expected = -math.log(0.01) / (service - arrival)
    assert queueing.response_time_quantile(arrival, service, 1, 0.99) == pytest.approx(
        expected, rel=1e-6
    )
    # Waiting time: P(Wq > t) = ρ e^{−(μ−λ)t} = 0.01.
    assert queueing.waiting_time_quantile(arrival, service, 1, 0.99) == pytest.approx(
        math.log(0.8 / 0.01) / 2
    )
    assert queueing.probability_wait_exceeds(arrival, service, 1, 0.0) == pytest.approx(0.8)


def test_waiting_quantile_is_zero_when_few_wait() -> None:
    # Only 10% wait at all, so the median wait is zero.
    assert queueing.waiting_time_quantile(1.0, 10.0, 1, 0.5) == 0.0


def test_response_tail_is_continuous_where_the_two_rates_meet() -> None:
    # M/M/2 with λ = 1, μ = 1: θ = cμ − λ = 1 = μ, the degenerate (Erlang-2) branch.
    at_equal = queueing.probability_response_exceeds(1.0, 1.0, 2, 1.5)
    nearby = queueing.probability_response_exceeds(1.0 + 1e-4, 1.0, 2, 1.5)
    assert at_equal == pytest.approx(nearby, rel=1e-3)


def test_saturated_queue_is_reported_not_raised() -> None:
    assert queueing.erlang_c(4, 4.0) == 1.0
    assert queueing.mean_wait(10.0, 2.0, 5) == math.inf
    assert queueing.mean_response_time(12.0, 2.0, 5) == math.inf
    assert queueing.probability_wait_exceeds(10.0, 2.0, 5, 100.0) == 1.0
    assert queueing.waiting_time_quantile(10.0, 2.0, 5) == math.inf
    assert queueing.response_time_quantile(10.0, 2.0, 5) == math.inf


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="service rate"):
        queueing.mean_wait(1.0, 0.0)
    with pytest.raises(ValueError, match="quantile"):
        queueing.waiting_time_quantile(1.0, 2.0, 1, 1.0)
    with pytest.raises(ValueError, match="target utilisation"):
        queueing.servers_needed(1.0, 2.0, 0.0)
    with pytest.raises(ValueError, match="maximum mean wait"):
        queueing.partitions_needed(1.0, 2.0, 0.5, 0.0)


def test_littles_law_round_trip() -> None:
    inside = queueing.items_in_system(200.0, 0.25)
    assert inside == pytest.approx(50.0)
    assert queueing.time_in_system(inside, 200.0) == pytest.approx(0.25)
    assert queueing.throughput(inside, 0.25) == pytest.approx(200.0)


def test_servers_needed_known_sizes() -> None:
    # 5,000 requests/s of 40 ms is 200 Erlangs; at most 60% busy needs ceil(200 / 0.6).
    assert queueing.servers_needed(5000.0, 25.0, 0.6) == 334
    # A target of 1 still demands a stable queue: c > a.
    assert queueing.servers_needed(1.0, 1.0, 1.0) == 2
    # With only a wait bound, pooling lets 200 Erlangs run far hotter than 60%.
    assert queueing.servers_needed(5000.0, 25.0, 1.0, 0.005) < 334


def test_partitions_needed_known_sizes_and_tight_bounds() -> None:
    assert queueing.partitions_needed(5000.0, 1000.0, 0.5) == 10
    assert queueing.partitions_needed(4000.0, 500.0, 0.8, 0.05) == 10
    # A bound of a nanosecond must be solved, not walked up one partition at a time.
    tight = queueing.partitions_needed(5000.0, 1000.0, 0.5, 1e-9)
    assert queueing.mean_wait(5000.0 / tight, 1000.0) <= 1e-9
    assert queueing.mean_wait(5000.0 / (tight - 1), 1000.0) > 1e-9


# Loads up to a few hundred Erlangs keep each O(c) search, and the whole file, fast.
rates = st.floats(min_value=0.5, max_value=200.0)
fractions = st.floats(min_value=0.05, max_value=0.99)


@given(servers=st.integers(1, 60), offered=st.floats(0.01, 50.0))
def test_erlang_b_and_c_are_probabilities_with_c_above_b(servers: int, offered: float) -> None:
    blocking = queueing.erlang_b(servers, offered)
    waiting = queueing.erlang_c(servers, offered)
    assert 0 <= blocking <= 1
    assert 0 <= waiting <= 1
    assert waiting >= blocking - 1e-12


@given(servers=st.integers(1, 60), offered=st.floats(0.01, 50.0))
def test_erlang_c_falls_with_more_servers(servers: int, offered: float) -> None:
    assert queueing.erlang_c(servers + 1, offered) <= queueing.erlang_c(servers, offered) + 1e-12


@given(servers=st.integers(1, 60), offered=st.floats(0.01, 50.0), extra=st.floats(0.0, 10.0))
def test_erlang_c_rises_with_more_load(servers: int, offered: float, extra: float) -> None:
    assert (
        queueing.erlang_c(servers, offered + extra) >= queueing.erlang_c(servers, offered) - 1e-12
    )


@given(arrival=rates, service=rates, servers=st.integers(1, 40))
def test_mean_wait_falls_with_more_servers(arrival: float, service: float, servers: int) -> None:
    assert queueing.mean_wait(arrival, service, servers + 1) <= queueing.mean_wait(
        arrival, service, servers
    )


@settings(max_examples=50)
@given(arrival=rates, service=rates, target=fractions, bound=st.floats(1e-4, 10.0))
def test_servers_needed_is_the_least_count_meeting_both(
    arrival: float, service: float, target: float, bound: float
) -> None:
    servers = queueing.servers_needed(arrival, service, target, bound)
    assert queueing.utilisation(arrival, service, servers) <= target * (1 + 1e-9)
    assert queueing.mean_wait(arrival, service, servers) <= bound
    if servers > 1:
        fewer = servers - 1
        assert (
            queueing.utilisation(arrival, service, fewer) > target
            or queueing.mean_wait(arrival, service, fewer) > bound
        )


@settings(max_examples=50)
@given(arrival=rates, extra=st.floats(0.0, 200.0), service=rates, target=fractions)
def test_servers_needed_never_falls_as_load_rises(
    arrival: float, extra: float, service: float, target: float
) -> None:
    assert queueing.servers_needed(arrival + extra, service, target, 0.5) >= (
        queueing.servers_needed(arrival, service, target, 0.5)
    )


@given(arrival=rates, service=rates, target=fractions, bound=st.floats(1e-3, 10.0))
def test_partitions_needed_is_the_least_count_meeting_both(
    arrival: float, service: float, target: float, bound: float
) -> None:
    count = queueing.partitions_needed(arrival, service, target, bound)
    share = arrival / count
    assert share / service <= target * (1 + 1e-9)
    assert queueing.mean_wait(share, service) <= bound
    if count > 1:
        fewer = arrival / (count - 1)
        assert fewer / service > target or queueing.mean_wait(fewer, service) > bound


@settings(max_examples=50)
@given(arrival=rates, service=rates, servers=st.integers(1, 30), quantile=st.floats(0.5, 0.999))
def test_quantiles_invert_their_tails(
    arrival: float, service: float, servers: int, quantile: float
) -> None:
    assume(arrival < servers * service)
    response = queueing.response_time_quantile(arrival, service, servers, quantile)
    tail = queueing.probability_response_exceeds(arrival, service, servers, response)
    assert tail == pytest.approx(1 - quantile, rel=1e-6, abs=1e-12)
    wait = queueing.waiting_time_quantile(arrival, service, servers, quantile)
    assert queueing.probability_wait_exceeds(arrival, service, servers, wait) <= 1 - quantile + 1e-9
    # Response = wait + service, so its quantile is never below the wait's.
    assert response >= wait
