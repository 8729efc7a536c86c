"""Queueing formulas for sizing: Erlang B and C, M/M/c waits and quantiles, Little's law.

Everything here is a pure function of rates (per second) and server counts. An
unstable queue (utilisation at or above one) is not an error: its wait is
``math.inf`` and every arrival waits, so callers can report it rather than crash.
"""

from __future__ import annotations

import math

# Relative slack when comparing a load against a utilisation target: 1,000 orders/s
# computed as 999.9999999999999 or 1000.0000000000001 must not buy a whole extra server.
_TOLERANCE = 1e-9


def _check_rates(arrival_rate: float, service_rate: float, servers: int) -> None:
    if not arrival_rate >= 0 or not math.isfinite(arrival_rate):
        raise ValueError(f"arrival rate must be a finite number >= 0, got {arrival_rate!r}")
    if not service_rate > 0 or not math.isfinite(service_rate):
        raise ValueError(f"service rate must be a finite number > 0, got {service_rate!r}")
    if servers < 1:
        raise ValueError(f"servers must be at least 1, got {servers!r}")


def _check_quantile(quantile: float) -> None:
    if not 0 < quantile < 1:
        raise ValueError(f"quantile must be between 0 and 1 (exclusive), got {quantile!r}")


def erlang_b(servers: int, offered_load: float) -> float:
    """Blocking probability of an M/M/c/c loss system (Erlang B).

    Uses the recursion B0 = 1, Bk = a·B(k-1) / (k + a·B(k-1)), which stays within
    [0, 1] at every step, unlike the textbook ratio of factorials.
    """
    if servers < 0:
        raise ValueError(f"servers must be at least 0, got {servers!r}")
    if not offered_load >= 0:
        raise ValueError(f"offered load must be >= 0, got {offered_load!r}")
    blocking = 1.0
    for k in range(1, servers + 1):
        blocking = offered_load * blocking / (k + offered_load * blocking)
    return blocking


def erlang_c(servers: int, offered_load: float) -> float:
    """Probability that an arrival waits in an M/M/c queue (Erlang C).

    ``offered_load`` is a = λ/μ in Erlangs. At or above saturation (a >= c) the
    queue grows without bound and every arrival waits: the result is 1.
    """
    if servers < 1:
        raise ValueError(f"servers must be at least 1, got {servers!r}")
    if offered_load >= servers:
        return 1.0
    blocking = erlang_b(servers, offered_load)
    load_per_server = offered_load / servers
    return blocking / (1 - load_per_server * (1 - blocking))


def utilisation(arrival_rate: float, service_rate: float, servers: int = 1) -> float:
    """Fraction of time each server is busy, ρ = λ / (cμ); 1 or more means unstable."""
    _check_rates(arrival_rate, service_rate, servers)
    return arrival_rate / (servers * service_rate)


def mean_wait(arrival_rate: float, service_rate: float, servers: int = 1) -> float:
    """Mean time in the queue before service, Wq = C / (cμ − λ); ``inf`` when ρ >= 1."""
    _check_rates(arrival_rate, service_rate, servers)
    spare_rate = servers * service_rate - arrival_rate
    if spare_rate <= 0:
        return math.inf
    return erlang_c(servers, arrival_rate / service_rate) / spare_rate


def mean_response_time(arrival_rate: float, service_rate: float, servers: int = 1) -> float:
    """Mean time in the system, W = Wq + 1/μ; ``inf`` when ρ >= 1."""
    return mean_wait(arrival_rate, service_rate, servers) + 1 / service_rate


def probability_wait_exceeds(
    arrival_rate: float, service_rate: float, servers: int, wait_s: float
) -> float:
    """P(Wq > t) = C · exp(−(cμ − λ) t) for an M/M/c queue; 1 when ρ >= 1."""
    _check_rates(arrival_rate, service_rate, servers)
    if wait_s < 0:
        return 1.0
    spare_rate = servers * service_rate - arrival_rate
    if spare_rate <= 0:
        return 1.0
    return erlang_c(servers, arrival_rate / service_rate) * math.exp(-spare_rate * wait_s)


def waiting_time_quantile(
    arrival_rate: float, service_rate: float, servers: int = 1, quantile: float = 0.99
) -> float:
    """The exact ``quantile`` of the M/M/c waiting time (0 when few enough arrivals wait).

    Solves C · exp(−(cμ − λ) t) = 1 − q for t; ``inf`` when ρ >= 1.
    """
    _check_rates(arrival_rate, service_rate, servers)
    _check_quantile(quantile)
    spare_rate = servers * service_rate - arrival_rate
    if spare_rate <= 0:
        return math.inf
    waiting = erlang_c(servers, arrival_rate / service_rate)
    if waiting <= 1 - quantile:
        return 0.0
    return math.log(waiting / (1 - quantile)) / spare_rate


def probability_response_exceeds(
    arrival_rate: float, service_rate: float, servers: int, time_s: float
) -> float:
    """P(W > t) for the M/M/c response time (wait plus an exponential service).

    The wait is 0 with probability 1 − C and otherwise exponential with rate
    θ = cμ − λ; adding an independent exponential service (rate μ) gives a
    hypoexponential tail, whose two-rate form degenerates when θ = μ.
    """
    _check_rates(arrival_rate, service_rate, servers)
    if time_s <= 0:
        return 1.0
    spare_rate = servers * service_rate - arrival_rate
    if spare_rate <= 0:
        return 1.0
    waiting = erlang_c(servers, arrival_rate / service_rate)
    service_tail = math.exp(-service_rate * time_s)
    if abs(spare_rate - service_rate) <= 1e-6 * service_rate:
        # Equal rates: the sum of two exponentials is Erlang-2.
        sum_tail = (1 + service_rate * time_s) * service_tail
    else:
        sum_tail = (spare_rate * service_tail - service_rate * math.exp(-spare_rate * time_s)) / (
            spare_rate - service_rate
        )
    return (1 - waiting) * service_tail + waiting * sum_tail


def response_time_quantile(
    arrival_rate: float, service_rate: float, servers: int = 1, quantile: float = 0.99
) -> float:
    """The ``quantile`` of the M/M/c response time, found numerically (relative error ~1e-9).

    The tail has no closed-form inverse, so this bisects the exact tail from
    :func:`probability_response_exceeds`; ``inf`` when ρ >= 1.
    """
    _check_rates(arrival_rate, service_rate, servers)
    _check_quantile(quantile)
    if servers * service_rate - arrival_rate <= 0:
        return math.inf
    target = 1 - quantile
    low, high = 0.0, mean_response_time(arrival_rate, service_rate, servers)
    while probability_response_exceeds(arrival_rate, service_rate, servers, high) > target:
        low, high = high, high * 2
    while high - low > _TOLERANCE * high:
        middle = (low + high) / 2
        if probability_response_exceeds(arrival_rate, service_rate, servers, middle) > target:
            low = middle
        else:
            high = middle
    return high


def items_in_system(arrival_rate: float, time_in_system_s: float) -> float:
    """Little's law, L = λW: how many items are inside at once on average."""
    return arrival_rate * time_in_system_s


def time_in_system(items: float, arrival_rate: float) -> float:
    """Little's law solved for W = L/λ: how long an item stays on average."""
    if arrival_rate <= 0:
        raise ValueError(f"arrival rate must be > 0, got {arrival_rate!r}")
    return items / arrival_rate


def throughput(items: float, time_in_system_s: float) -> float:
    """Little's law solved for λ = L/W: the rate that keeps L items in for W seconds each."""
    if time_in_system_s <= 0:
        raise ValueError(f"time in system must be > 0, got {time_in_system_s!r}")
    return items / time_in_system_s


def _check_targets(target_utilisation: float, max_mean_wait_s: float | None) -> None:
    if not 0 < target_utilisation <= 1:
        raise ValueError(f"target utilisation must be in (0, 1], got {target_utilisation!r}")
    if max_mean_wait_s is not None and not max_mean_wait_s > 0:
        # Some arrivals always wait when servers are busy, so a zero bound is unreachable.
        raise ValueError(f"maximum mean wait must be > 0 seconds, got {max_mean_wait_s!r}")


def _within_target(load: float, capacity: float, target_utilisation: float) -> bool:
    return load < capacity and load <= target_utilisation * capacity * (1 + _TOLERANCE)


def servers_needed(
    arrival_rate: float,
    service_rate: float,
    target_utilisation: float,
    max_mean_wait_s: float | None = None,
) -> int:
    """The least c for one pooled M/M/c queue with ρ <= target and (optionally) Wq <= bound.

    Pooled means any free server takes the next request (a load balancer with a
    shared queue). The queue must also be stable, so a target of 1 still asks
    for c > λ/μ. Walks c upward, extending the Erlang B recursion one step at a
    time, so the whole search costs O(c).
    """
    _check_rates(arrival_rate, service_rate, 1)
    _check_targets(target_utilisation, max_mean_wait_s)
    offered_load = arrival_rate / service_rate
    blocking = 1.0
    servers = 0
    while True:
        servers += 1
        blocking = offered_load * blocking / (servers + offered_load * blocking)
        if not _within_target(offered_load, servers, target_utilisation):
            continue
        if max_mean_wait_s is None:
            return servers
        waiting = blocking / (1 - offered_load / servers * (1 - blocking))
        if waiting / (servers * service_rate - arrival_rate) <= max_mean_wait_s:
            return servers


def partitions_needed(
    arrival_rate: float,
    service_rate: float,
    target_utilisation: float,
    max_mean_wait_s: float | None = None,
) -> int:
    """The least n of separate M/M/1 queues, sharing the load evenly, meeting both targets.

    For keyed routing (database shards, Kafka partitions, gateway accounts): a
    request belongs to one unit and cannot move to an idle one, so there is no
    pooling and each unit queues on its own.
    """
    _check_rates(arrival_rate, service_rate, 1)
    _check_targets(target_utilisation, max_mean_wait_s)
    least = arrival_rate / (service_rate * target_utilisation)
    if max_mean_wait_s is not None:
        # M/M/1: Wq = s / (μ(μ − s)) <= b  exactly when  s <= bμ² / (1 + bμ); starting
        # there keeps a tight bound from walking up one unit at a time.
        bound_times_rate = max_mean_wait_s * service_rate
        least = max(
            least, arrival_rate * (1 + bound_times_rate) / (bound_times_rate * service_rate)
        )
    partitions = max(1, math.ceil(least * (1 - _TOLERANCE)))
    while True:
        share = arrival_rate / partitions
        if _within_target(share, service_rate, target_utilisation) and (
            max_mean_wait_s is None or mean_wait(share, service_rate, 1) <= max_mean_wait_s
        ):
            return partitions
        partitions += 1
