"""The payment gateway's rules, written once: both bodies execute these functions.

A gateway call here is decided, not performed: ``charge``, ``refund`` and
``authorize`` take the call's random draws, the time it starts at and the
gateway's books (``GatewayBooks``: the storage a body supplies) and return a
``Call``: how long the caller waits, what it is answered once that time has
passed, and any work the gateway still finishes on its own time after the
caller stopped waiting. The SimPy body turns a ``Call`` into timeouts on its
event loop (``checkoutsim.sim.gateway``), the real body into pauses and
threads over SQLite (``checkoutsim.real.gateway``); neither decides anything
about outages, brown-outs, declines, lost responses, rate limits or refunds.

The rules, in the order a charge meets them:

- every random number is drawn on every call (``draw_charge``), whatever branch
  the call takes, so that variants stay on common random numbers;
- a brown-out multiplies the drawn latency;
- an outage at the moment of the call: ``error`` refuses after
  ``FAST_FAILURE_S``, ``hang`` answers nothing until the caller's time-out;
  nothing is processed;
- the account's rate limit: a 429 (``THROTTLED``) after ``FAST_FAILURE_S``,
  nothing processed;
- a key the gateway has seen: the stored answer (or, still in flight, an
  unknown outcome: a 409) after the call's latency;
- an injected error: nothing captured; an error, or unknown past the time-out;
- past the caller's time-out the gateway still settles on its own time;
- a decline, unless the funds were held by a two-phase prepare
  (``authorize``): a capture of held funds is not declined again;
- a lost response: captured, answered as unknown.

A status look-up (``query``: what became of the charge under a key?) is one
latency, not slowed by a brown-out (it reads the provider's records, not the
card networks), and meets outages as a charge does. A key is recorded when
the provider accepts a call, before processing, so "no such charge" is final.

A refund is one latency (capped at the caller's time-out) and is decided when
the gateway would process it: in an outage then, it fails and nothing is
refunded; whoever owns it tries again (the saga's compensation leaves the
capture for the orphan sweeper; the sweeper's next pass; the retry queue). A
two-phase prepare is decided the same way (an outage when it ends, or a
latency past the time-out: not held).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from checkoutsim.policy import ops
from checkoutsim.scenario.settings import Latency, Settings

T = TypeVar("T")

ERROR = ops.ChargeResult(ops.ChargeStatus.ERROR)
THROTTLED = ops.ChargeResult(ops.ChargeStatus.THROTTLED)
UNKNOWN = ops.ChargeResult(ops.ChargeStatus.UNKNOWN)
DECLINED = ops.ChargeResult(ops.ChargeStatus.DECLINED)

#: How long a refused connection or a 429 takes to come back (model seconds).
FAST_FAILURE_S = 0.01

#: What a call met, for the bodies' fault counters (``checkoutsim.real.fault_counts``).
OUTAGE_REFUSED = "outage_refused"
OUTAGE_HUNG = "outage_hung"
RATE_LIMITED = "rate_limited"
PROCESSED = "processed"


@dataclass(frozen=True)
class GatewayFaults:
    """The gateway's behaviour, in model seconds."""

    latency: Latency
    decline_rate: float = 0.0
    error_rate: float = 0.0
    lost_response_rate: float = 0.0
    timeout_s: float = 10.0
    #: ``(start_s, end_s, mode)`` windows in which the gateway is down: ``error``
    #: refuses at once, ``hang`` never answers and the caller times out.
    outages: Sequence[tuple[float, float, str]] = ()
    #: ``(start_s, end_s, factor)`` windows in which its latency is multiplied.
    brownouts: Sequence[tuple[float, float, float]] = ()
    #: Calls per model second each account accepts (token bucket); 0 means no limit.
    rate_limit_per_s: float = 0.0
    rate_limit_burst: float = 20.0
    accounts: int = 1

    def outage(self, now: float) -> str | None:
        """The mode of the outage the gateway is in at ``now``, if any."""
        for start, end, mode in self.outages:
            if start <= now < end:
                return mode
        return None

    def slowdown(self, now: float) -> float:
        """How much slower the gateway is at ``now`` (1.0 outside brown-outs)."""
        factor = 1.0
        for start, end, multiplier in self.brownouts:
            if start <= now < end:
                factor *= multiplier
        return factor


def faults_from_settings(settings: Settings) -> GatewayFaults:
    """The gateway's fault knobs as the scenario sets them."""
    gateway = settings.gateway
    faults = settings.faults
    return GatewayFaults(
        latency=gateway.latency,
        decline_rate=gateway.decline_rate,
        error_rate=gateway.error_rate,
        lost_response_rate=gateway.lost_response_rate,
        timeout_s=gateway.timeout_s,
        outages=tuple(
            (outage.start_s, outage.end_s, outage.mode)
            for outage in faults.outages
            if outage.service == "gateway"
        ),
        brownouts=tuple(
            (brownout.start_s, brownout.end_s, brownout.latency_factor)
            for brownout in faults.brownouts
            if brownout.service == "gateway"
        ),
        rate_limit_per_s=faults.gateway_rate_limit_per_s,
        rate_limit_burst=faults.gateway_rate_limit_burst,
        accounts=faults.gateway_accounts,
    )


class GatewayBooks(Protocol):
    """The gateway's storage, as a body keeps it (lists in the model, SQLite in the real body)."""

    def claim(self, key: str, claim: bool) -> bool:
        """Has ``key`` been seen? If not and ``claim``, mark it in flight, atomically."""
        ...

    def stored(self, key: str) -> ops.ChargeResult | None:
        """The answer stored under ``key``; None while its first call is in flight."""
        ...

    def settle(
        self, intent_id: int, amount: int, key: str | None, declined: bool
    ) -> ops.ChargeResult:
        """Book the capture (unless declined) and store the answer under the key."""
        ...

    def take_token(self, intent_id: int) -> bool:
        """Take a token from the intent's account's bucket; False means a 429."""
        ...

    def hold(self, intent_id: int) -> None:
        """Record that a two-phase prepare holds the intent's funds."""
        ...

    def held(self, intent_id: int) -> bool:
        """Whether a two-phase prepare holds the intent's funds."""
        ...

    def request_refund(self, capture_id: int) -> None:
        """Book that a refund was asked for (before it is done)."""
        ...

    def refund(self, capture_id: int) -> bool:
        """Refund a capture once; False for a second refund or an unknown capture."""
        ...


@dataclass(frozen=True, slots=True)
class ChargeDraws:
    """The random numbers of one charge, all drawn whatever the call meets."""

    latency: float
    errored: bool
    declined: bool
    lost: bool


def draw_charge(latency: Callable[[], float], rng: random.Random, faults: Any) -> ChargeDraws:
    """One charge's draws, in the order both bodies have always drawn them.

    ``faults`` has ``error_rate``, ``decline_rate`` and ``lost_response_rate``
    (``GatewayFaults`` or the scenario's ``gateway`` section).
    """
    drawn = latency()
    errored = rng.random() < faults.error_rate
    declined = rng.random() < faults.decline_rate
    lost = rng.random() < faults.lost_response_rate
    return ChargeDraws(drawn, errored, declined, lost)


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """A decided call: wait ``wait_s``, then ``answer()``; ``late()`` at ``late_s`` if set."""

    wait_s: float
    answer: Callable[[], T]
    #: What the call met (``OUTAGE_REFUSED``, ``OUTAGE_HUNG``, ``RATE_LIMITED``, ``PROCESSED``).
    met: str = PROCESSED
    #: Work the gateway finishes on its own time after the caller stopped waiting.
    late: Callable[[], object] | None = None
    late_s: float = 0.0


def _constant(value: T) -> Callable[[], T]:
    return lambda: value


def charge(
    op: ops.Charge, draws: ChargeDraws, now: float, faults: GatewayFaults, books: GatewayBooks
) -> Call[ops.ChargeResult]:
    """One capture call, decided by the rules of the module's docstring."""
    latency = draws.latency * faults.slowdown(now) if faults.brownouts else draws.latency
    if faults.outages:
        outage = faults.outage(now)
        if outage == "hang":
            # Accepted and never answered: nothing happened, but the caller cannot know.
            return Call(faults.timeout_s, _constant(UNKNOWN), OUTAGE_HUNG)
        if outage is not None:
            return Call(FAST_FAILURE_S, _constant(ERROR), OUTAGE_REFUSED)
    if faults.rate_limit_per_s > 0 and not books.take_token(op.intent_id):
        return Call(FAST_FAILURE_S, _constant(THROTTLED), RATE_LIMITED)  # 429: not processed
    timeout_s = faults.timeout_s
    waited = min(latency, timeout_s)
    key = op.gateway_key
    # Funds held by a two-phase prepare are captured, not declined again.
    declined = draws.declined and not books.held(op.intent_id)
    if key is not None and books.claim(key, claim=not draws.errored):

        def replay() -> ops.ChargeResult:
            # Still in flight under the same key: the gateway answers 409, and
            # whether that first call will capture is not known yet.
            stored = books.stored(key)
            return UNKNOWN if stored is None else stored

        return Call(waited, replay)
    if draws.errored:
        return Call(waited, _constant(ERROR if latency <= timeout_s else UNKNOWN))

    def settle() -> ops.ChargeResult:
        return books.settle(op.intent_id, op.amount, key, declined)

    if latency > timeout_s:
        # The shop stops waiting; the gateway finishes on its own time.
        return Call(waited, _constant(UNKNOWN), late=settle, late_s=latency)
    lost = draws.lost

    def answer() -> ops.ChargeResult:
        result = settle()
        return UNKNOWN if lost else result

    return Call(latency, answer)


def refund(
    op: ops.Refund,
    latency: float,
    at: Callable[[], float],
    faults: GatewayFaults,
    books: GatewayBooks,
) -> Call[bool]:
    """A refund call: booked as asked for, one latency, then done unless the gateway is down.

    ``at`` reads the clock when the answer is due: the refund is decided when
    the gateway would process it. In an outage then it fails and refunds nothing.
    """
    books.request_refund(op.capture_id)

    def answer() -> bool:
        if faults.outages and faults.outage(at()) is not None:
            return False
        return books.refund(op.capture_id)

    return Call(min(latency, faults.timeout_s), answer)


def authorize(
    op: ops.Authorize,
    latency: float,
    declined: bool,
    at: Callable[[], float],
    faults: GatewayFaults,
    books: GatewayBooks,
) -> Call[bool]:
    """Two-phase commit's prepare: hold the funds (no ledger entry until the capture).

    Not held when declined, when it takes longer than the caller's time-out,
    or when it ends inside an outage; a hold is recorded in the books, so the
    capture that follows is not declined again (``charge``).
    """

    def answer() -> bool:
        if faults.outages and faults.outage(at()) is not None:
            return False
        held = not declined and latency <= faults.timeout_s
        if held:
            books.hold(op.intent_id)
        return held

    return Call(min(latency, faults.timeout_s), answer)


#: A status look-up's answer when the provider has no charge under the key.
NOT_FOUND = ERROR


def query(
    key: str, latency: float, now: float, faults: GatewayFaults, books: GatewayBooks
) -> Call[ops.ChargeResult]:
    """A status look-up of the charge under ``key``, decided when its answer is due.

    ``CAPTURED`` or ``DECLINED`` as stored; ``NOT_FOUND`` (``ERROR``) when the
    key was never accepted; ``UNKNOWN`` while its call is in flight, when the
    provider is down, or past the caller's time-out.
    """
    if faults.outages:
        outage = faults.outage(now)
        if outage == "hang":
            return Call(faults.timeout_s, _constant(UNKNOWN), OUTAGE_HUNG)
        if outage is not None:
            return Call(FAST_FAILURE_S, _constant(UNKNOWN), OUTAGE_REFUSED)
    if latency > faults.timeout_s:
        return Call(faults.timeout_s, _constant(UNKNOWN))

    def answer() -> ops.ChargeResult:
        if not books.claim(key, claim=False):
            return NOT_FOUND
        stored = books.stored(key)
        return UNKNOWN if stored is None else stored

    return Call(latency, answer)
