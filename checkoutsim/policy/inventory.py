"""Inventory reservation strategies, from the textbook race to the one-statement fix.

Each strategy is a generator that yields store operations and returns a
``ReserveResult``. The races are not staged: they come from the gap between a
read and a write that each cost a database round trip in either body.

- ``naive``: read stock, check, write the new value back (lost updates oversell).
- ``lock_ttl``: the textbook distributed lock with a TTL around check-and-reserve;
  safe until the holder pauses past the TTL, then two holders write.
- ``fenced``: the same lock plus a fencing token the store checks on write.
- ``optimistic``: version compare-and-set with bounded retries.
- ``atomic``: one conditional update, decrement only where enough is left.

The strategies found in the wild (``docs/model.md``, "Inventory races in the wild"):

- ``check_then_decrement``: read, check, then a relative decrement. No update
  is lost; it oversells only by the checks in flight at sell-out, driving the
  row negative unless a CHECK constraint refuses the write (an error, then).
- ``decrement_then_check``: decrement first, give back if negative. Never
  oversells; shoppers arriving while the row is briefly negative are turned
  away though units remain (false sold-outs).
- ``select_for_update``: a pessimistic row lock from the read to the write.
- ``mutex``: an in-process lock around read-check-write: safe in one serving
  process, lost updates once two processes each hold their own.
- ``stock_buckets``: the SKU's stock split over N rows, one picked at random;
  a shopper whose bucket is empty is told sold out while others still hold stock.
- ``queue_per_sku``: reservations serialised through one consumer per SKU.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from checkoutsim.policy.ops import (
    CONSTRAINT_FAILED,
    STOCK_NEGATIVE,
    UNAVAILABLE,
    AcquireLock,
    AcquireMutex,
    CompareAndSetStock,
    DecrementBucket,
    DecrementIfAvailable,
    DecrementStock,
    DecrementThenCheck,
    ExpireReservation,
    GiveBack,
    ReadStock,
    ReleaseLock,
    ReleaseMutex,
    ReleaseReservation,
    ReservationRequest,
    ReserveForUpdate,
    ReserveThroughQueue,
    Step,
    Wait,
    WriteStock,
)

#: The strategies found in the wild, added after the first five.
WILD_STRATEGIES = (
    "check_then_decrement",
    "decrement_then_check",
    "select_for_update",
    "mutex",
    "stock_buckets",
    "queue_per_sku",
)
STRATEGIES = ("naive", "lock_ttl", "fenced", "optimistic", "atomic", *WILD_STRATEGIES)


#: Strategies whose oversell grows with the time from a check's answer to its
#: write: a read-then-write with nothing in the store re-checking it (naive,
#: check_then_decrement), a lease that a late holder outlives (lock_ttl), and an
#: in-process lock once two processes hold their own (mutex, with processes > 1).
#: The others decide in one statement or under a lock the store holds, so the
#: host's lateness moves their latency (judged with it) and not their invariants.
RACE_STRATEGIES = ("naive", "check_then_decrement", "lock_ttl")


def has_race_window(strategy: str, processes: int = 1, check_constraint: bool = False) -> bool:
    """Whether a strategy's invariants depend on its read-to-write window.

    check_then_decrement under a CHECK constraint does not: the store refuses
    a write past zero, so a wider window turns into errors (a rate, judged
    with the host's lateness allowed for), never into oversold units.
    """
    if strategy == "check_then_decrement" and check_constraint:
        return False
    return strategy in RACE_STRATEGIES or (strategy == "mutex" and processes > 1)


class ReserveStatus(Enum):
    """How a reservation attempt ended."""

    RESERVED = "reserved"
    SOLD_OUT = "sold_out"
    CONFLICT = "conflict"  # gave up: lock wait timed out, stale fence, CAS retries spent
    UNAVAILABLE = "unavailable"  # the inventory service was down or its breaker open
    ERROR = "error"  # the store refused the write (a CHECK constraint fired)


@dataclass(slots=True, unsafe_hash=True)
class ReserveResult:
    """Outcome of a reservation attempt; ``reservation_id`` set when reserved."""

    status: ReserveStatus
    reservation_id: int | None = None


@dataclass(frozen=True, slots=True)
class InventoryPolicy:
    """Knobs of the inventory strategies."""

    strategy: str = "atomic"
    lock_ttl_s: float = 5.0
    lock_wait_s: float = 2.0
    optimistic_retries: int = 3
    optimistic_backoff_s: float = 0.002
    #: Rows the SKU's stock is split over (``stock_buckets``).
    buckets: int = 1
    #: Time the application spends between a check and its write (seconds).
    check_gap_s: float = 0.0

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"unknown inventory strategy {self.strategy!r}")
        if self.buckets < 1:
            raise ValueError(f"buckets must be at least 1, not {self.buckets}")


SOLD_OUT = ReserveResult(ReserveStatus.SOLD_OUT)
CONFLICT = ReserveResult(ReserveStatus.CONFLICT)
DOWN = ReserveResult(ReserveStatus.UNAVAILABLE)
REFUSED_BY_CONSTRAINT = ReserveResult(ReserveStatus.ERROR)


def mutex_name(sku: int) -> str:
    """Name of the in-process lock the ``mutex`` strategy takes."""
    return f"mutex:inventory:{sku}"


def lock_name(sku: int) -> str:
    """Name of the per-SKU lock the lock-based strategies take."""
    return f"lock:inventory:{sku}"


#: A wait for a lock this long (seconds) or longer counts as a transaction
#: blocked behind its holder (``blocked_transactions``), in both bodies.
LONG_LOCK_WAIT_S = 1.0

#: What every per-SKU inventory lock's name starts with.
_INVENTORY_LOCK = lock_name(0).removesuffix("0")


def locked_sku(name: str) -> int | None:
    """The SKU whose inventory row a lock guards, or None for any other lock."""
    number = name.removeprefix(_INVENTORY_LOCK)
    return int(number) if number != name and number.isdigit() else None


def reserve(
    policy: InventoryPolicy, request: ReservationRequest, rng: random.Random
) -> Step[ReserveResult]:
    """Reserve ``request.quantity`` units of ``request.sku`` with the policy's strategy."""
    strategy = policy.strategy
    if strategy == "atomic":
        reservation_id = yield DecrementIfAvailable(request)
        if reservation_id is UNAVAILABLE:
            return DOWN
        if reservation_id is None:
            return SOLD_OUT
        return ReserveResult(ReserveStatus.RESERVED, reservation_id)
    if strategy == "naive":
        return (yield from _read_check_write(request, None, policy.check_gap_s))
    if strategy == "optimistic":
        return (yield from _optimistic(policy, request, rng))
    if strategy in WILD_STRATEGIES:
        return (yield from _wild(policy, request, rng))
    return (yield from _locked(policy, request, fenced=strategy == "fenced"))


def _reserved(reservation_id: object) -> ReserveResult:
    """What one reserving operation's result means to the shopper."""
    if reservation_id is UNAVAILABLE:
        return DOWN
    if reservation_id is CONSTRAINT_FAILED:
        return REFUSED_BY_CONSTRAINT
    if reservation_id is None:
        return SOLD_OUT
    assert isinstance(reservation_id, int)
    return ReserveResult(ReserveStatus.RESERVED, reservation_id)


def _wild(
    policy: InventoryPolicy, request: ReservationRequest, rng: random.Random
) -> Step[ReserveResult]:
    """The strategies found in the wild (see the module's docstring)."""
    strategy = policy.strategy
    if strategy == "check_then_decrement":
        row = yield ReadStock(request.sku)
        if row is UNAVAILABLE:
            return DOWN
        if row.available < request.quantity:
            return SOLD_OUT
        if policy.check_gap_s > 0:
            yield Wait(policy.check_gap_s)
        return _reserved((yield DecrementStock(request)))
    if strategy == "decrement_then_check":
        taken = yield DecrementThenCheck(request)
        if taken is STOCK_NEGATIVE:
            # Gone below zero: give the units back. Until that lands, every
            # other shopper's decrement also sees a negative value.
            yield GiveBack(request.sku, request.quantity)
            return SOLD_OUT
        return _reserved(taken)
    if strategy == "select_for_update":
        return _reserved((yield ReserveForUpdate(request)))
    if strategy == "stock_buckets":
        bucket = rng.randrange(policy.buckets)
        return _reserved((yield DecrementBucket(request, bucket)))
    if strategy == "queue_per_sku":
        return _reserved((yield ReserveThroughQueue(request)))
    # mutex: the naive read-check-write inside this process's own lock.
    name = mutex_name(request.sku)
    yield AcquireMutex(name, request.intent_id)
    try:
        result = yield from _read_check_write(request, None, policy.check_gap_s)
    except Exception:
        # A failed store call is thrown in here: the lock must not stay held.
        yield ReleaseMutex(name, request.intent_id)
        raise
    yield ReleaseMutex(name, request.intent_id)
    return result


#: Strategies whose reservations read the row and write it back under a lock:
#: every other writer of the row must take that lock too (``give_back``).
LOCKED_GIVE_BACK = ("mutex", "lock_ttl", "fenced")

#: The mutex holder the reservation reaper takes the lock as (one process's job).
REAPER = -1


def gives_back_under_lock(policy: InventoryPolicy | None) -> bool:
    """Whether returning units under ``policy`` must take the strategy's lock."""
    return policy is not None and policy.strategy in LOCKED_GIVE_BACK


def give_back_policy(protocol: str, policy: InventoryPolicy) -> InventoryPolicy | None:
    """The rules every give-back follows under a transaction ``protocol``.

    The saga's reservations are the strategy's, so are its give-backs. 2PC
    reads and writes the row under the SKU's lock (``lock_name``), the lock
    ``lock_ttl`` takes, so a give-back takes it as ``lock_ttl`` does. The local
    transaction reserves in one conditional statement: no read-then-write to
    lose a give-back, so no lock (None).
    """
    if protocol == "two_phase_commit":
        return replace(policy, strategy="lock_ttl")
    if protocol == "local_transaction":
        return None
    return policy


def give_back(
    policy: InventoryPolicy | None, reservation_id: int, sku: int, holder: int
) -> Step[bool]:
    """Return a reservation's units to stock (a compensation), as the strategy must.

    Under ``mutex``, ``lock_ttl`` and ``fenced`` the give-back is one more
    writer of the row the lock guards: a relative ``available + q`` landing
    between a lock holder's read and its absolute write-back is overwritten,
    and the units vanish (neither sold nor in stock). So it takes the same
    lock. With several serving processes each has its own mutex, and
    give-backs are lost there as reservations are. A lock wait that runs out
    is waited again; a lock store that is down is given back around,
    unguarded, rather than keep the units held. ``None``: a caller that does not know the strategy.
    """
    return (yield from _under_lock(policy, sku, holder, ReleaseReservation(reservation_id)))


#: How long a compensation told not to wait in a lock's line waits before asking again.
GIVE_BACK_RETRY_S = 0.01


def expire(policy: InventoryPolicy | None, reservation_id: int, sku: int) -> Step[Any]:
    """The reaper's give-back of a reservation past its TTL, under the strategy's lock.

    It writes the row as a compensation does, so it races a lock holder's
    read-then-write the same way (see ``give_back``); the reaper holds the
    mutex as ``REAPER``, one serving process's job. ``UNAVAILABLE`` when the
    inventory was down or the lock not granted within its wait: the
    reservation is still due, for the reaper's next pass.
    """
    return (yield from _under_lock(policy, sku, REAPER, ExpireReservation(reservation_id)))


def _under_lock(
    policy: InventoryPolicy | None,
    sku: int,
    holder: int,
    returning: ReleaseReservation | ExpireReservation,
) -> Step[Any]:
    """Run the operation ``returning`` a reservation's units inside the strategy's lock."""
    strategy = None if policy is None else policy.strategy
    if strategy == "mutex":
        name = mutex_name(sku)
        yield AcquireMutex(name, holder)
        try:
            released = yield returning
        except Exception:
            yield ReleaseMutex(name, holder)
            raise
        yield ReleaseMutex(name, holder)
        return released
    if policy is not None and strategy in ("lock_ttl", "fenced"):
        name = lock_name(sku)
        token = yield AcquireLock(name, policy.lock_ttl_s, policy.lock_wait_s)
        if token is None and isinstance(returning, ExpireReservation):
            # The reaper does not wait its turn twice: the reservation stays due
            # and its next pass asks again (a lease with no TTL, as 2PC's, could
            # otherwise hold one pass, and every SKU's expiries, for good).
            return UNAVAILABLE
        while token is None:
            # A compensation does not give up: the lease expires, the FIFO
            # line moves, and the give-back gets its turn. Told not to wait in
            # line at all, it asks again after a pause, not at once (at no cost
            # per ask, asking at once would never let simulated time move).
            if policy.lock_wait_s <= 0:
                yield Wait(GIVE_BACK_RETRY_S)
            token = yield AcquireLock(name, policy.lock_ttl_s, policy.lock_wait_s)
        released = yield returning
        if token is not None and token is not UNAVAILABLE:
            yield ReleaseLock(name, token)
        return released
    return (yield returning)


def _read_check_write(
    request: ReservationRequest, fence_token: int | None, check_gap_s: float = 0.0
) -> Step[ReserveResult]:
    """Read the row, check availability, write the new value: the racy core."""
    row = yield ReadStock(request.sku)
    if row is UNAVAILABLE:
        return DOWN
    if row.available < request.quantity:
        return SOLD_OUT
    if check_gap_s > 0:
        yield Wait(check_gap_s)
    reservation_id = yield WriteStock(
        request.sku, row.available - request.quantity, request, fence_token
    )
    if reservation_id is UNAVAILABLE:
        return DOWN
    if reservation_id is None:
        # Only a fenced write is ever refused: a newer lock holder has written.
        return CONFLICT
    return ReserveResult(ReserveStatus.RESERVED, reservation_id)


def _locked(
    policy: InventoryPolicy, request: ReservationRequest, fenced: bool
) -> Step[ReserveResult]:
    """The textbook lock around check-and-reserve, optionally fenced."""
    name = lock_name(request.sku)
    token = yield AcquireLock(name, policy.lock_ttl_s, policy.lock_wait_s)
    if token is UNAVAILABLE:
        return DOWN
    if token is None:
        return CONFLICT
    result = yield from _read_check_write(request, fence_token=token if fenced else None)
    # Release compares the token, so a holder whose lease expired cannot free
    # the lock someone else now holds.
    yield ReleaseLock(name, token)
    return result


def _optimistic(
    policy: InventoryPolicy, request: ReservationRequest, rng: random.Random
) -> Step[ReserveResult]:
    """Version compare-and-set, retried a bounded number of times with jitter."""
    for attempt in range(policy.optimistic_retries + 1):
        row = yield ReadStock(request.sku)
        if row is UNAVAILABLE:
            return DOWN
        if row.available < request.quantity:
            return SOLD_OUT
        reservation_id = yield CompareAndSetStock(
            request.sku, row.version, row.available - request.quantity, request
        )
        if reservation_id is UNAVAILABLE:
            return DOWN
        if reservation_id is not None:
            return ReserveResult(ReserveStatus.RESERVED, reservation_id)
        if attempt < policy.optimistic_retries:
            # Full jitter keeps colliding writers from colliding again in lockstep.
            yield Wait(rng.uniform(0.0, policy.optimistic_backoff_s * (2**attempt)))
    return CONFLICT
