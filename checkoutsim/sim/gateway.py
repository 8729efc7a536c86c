"""The simulated payment gateway: simulated time and in-memory books for the gateway's rules.

What a call meets (outages, brown-outs, errors, declines, lost responses, the
rate limit, refunds in an outage, captures after a hold) is decided by
``checkoutsim.world.gateway_rules``, which the real body executes too; this
module only waits in SimPy and keeps the books. The gateway keeps its own
ledger (captures and refunds) and its own idempotency keys. The circuit
breaker sits on the shop's side of the wire: it refuses calls before they are
sent, and it learns from each call's outcome and duration.
"""

from __future__ import annotations

import random
from typing import Any

import simpy

from checkoutsim.policy import ops
from checkoutsim.policy.breaker import TIMELINE_CODES, charge_outcome
from checkoutsim.scenario.settings import Settings
from checkoutsim.sim import SimStep
from checkoutsim.sim.clock import SimClock
from checkoutsim.sim.state import Ledger
from checkoutsim.world import gateway_rules as rules
from checkoutsim.world.faults import FaultSchedule, RateLimiter, make_breaker
from checkoutsim.world.latency import sampler

REFUSED = ops.ChargeResult(ops.ChargeStatus.REFUSED)


class Books:
    """The gateway's storage in the model: the in-memory ``Ledger`` and rate limiter.

    Implements ``checkoutsim.world.gateway_rules.GatewayBooks``; the rules decide.
    """

    def __init__(
        self,
        env: simpy.Environment,
        ledger: Ledger,
        limiter: RateLimiter,
        index: int = 0,
        count: int = 1,
    ) -> None:
        self.env = env
        self.ledger = ledger
        self.limiter = limiter
        #: Capture ids name their provider: ledger row * count + index (the row itself
        #: with one provider), so a refund finds its provider's ledger.
        self.index = index
        self.count = count

    def claim(self, key: str, claim: bool) -> bool:
        """Has ``key`` been seen? If not and ``claim``, mark it in flight."""
        keys = self.ledger.keys
        if key in keys:
            return True
        if claim:
            keys[key] = None
        return False

    def stored(self, key: str) -> ops.ChargeResult | None:
        """The answer stored under ``key``; None while in flight."""
        stored = self.ledger.keys[key]
        if isinstance(stored, int):
            return ops.ChargeResult(ops.ChargeStatus.CAPTURED, stored)
        return stored

    def settle(
        self, intent_id: int, amount: int, key: str | None, declined: bool
    ) -> ops.ChargeResult:
        """Book the capture (unless declined), remember the answer under the key."""
        if declined:
            result = rules.DECLINED
        else:
            row = self.ledger.capture(intent_id, amount, self.env.now)
            capture_id = row * self.count + self.index
            result = ops.ChargeResult(ops.ChargeStatus.CAPTURED, capture_id)
        if key is not None:
            # A capture is stored as its id alone (see ``Ledger.keys``).
            self.ledger.keys[key] = result if declined else result.capture_id
        return result

    def take_token(self, intent_id: int) -> bool:
        """The account's token bucket (counts the 429s)."""
        return self.limiter.allow(intent_id, self.env.now)

    def hold(self, intent_id: int) -> None:
        """A two-phase prepare holds the intent's funds."""
        self.ledger.held.add(intent_id)

    def held(self, intent_id: int) -> bool:
        """Whether a two-phase prepare holds the intent's funds."""
        return intent_id in self.ledger.held

    def request_refund(self, capture_id: int) -> None:
        """Nothing to book: the model's callers do not crash mid-refund."""

    def refund(self, capture_id: int) -> bool:
        """Refund once."""
        return self.ledger.refund(capture_id // self.count, self.env.now)


class GatewayModel:
    """Executes the gateway operations of the policy core in simulated time."""

    def __init__(
        self,
        env: simpy.Environment,
        settings: Settings,
        streams: dict[str, random.Random],
        ledger: Ledger,
        faults: FaultSchedule,
        index: int = 0,
        count: int = 1,
    ) -> None:
        self.env = env
        self.settings = settings.gateway
        self.ledger = ledger
        self.faults = faults
        self.breaker = make_breaker(settings.breakers.gateway, SimClock(env))
        self.limiter = RateLimiter(settings.faults)
        self.calls = 0
        #: Refunds that failed because the gateway was down (their owner tries again).
        self.refunds_in_outage = 0
        self.rules = rules.faults_from_settings(settings)
        self.books = Books(env, ledger, self.limiter, index, count)
        self._latency = sampler(settings.gateway.latency, streams["gateway"], batched=True)
        self._rng = streams["gateway_faults"]

    def handlers(self) -> dict[type, Any]:
        """The operations this model executes."""
        return {
            ops.Charge: self.charge,
            ops.Refund: self.refund,
            ops.Authorize: self.authorize,
            ops.UnrefundedCaptures: self.unrefunded,
        }

    def charge(self, op: ops.Charge) -> SimStep:
        """A charge, guarded by the breaker when there is one."""
        self.calls += 1
        breaker = self.breaker
        if breaker is not None and not breaker.try_acquire_permission():
            return REFUSED
        started = self.env.now
        result = yield from self._charge(op)
        if breaker is not None:
            # A 429 is ignored: the account is throttled, the gateway is not sick.
            breaker.record(charge_outcome(result), self.env.now - started)
        return result

    def _charge(self, op: ops.Charge) -> SimStep:
        """Latency, errors, declines, lost responses, outages, 429s, the read time-out."""
        env = self.env
        # Every number drawn on every call, so that variants stay on common random numbers.
        draws = rules.draw_charge(self._latency, self._rng, self.settings)
        call = rules.charge(op, draws, env.now, self.rules, self.books)
        if call.late is not None:
            late = call.late
            env.timeout(call.late_s).callbacks.append(lambda _: late())
        yield env.timeout(call.wait_s)
        return call.answer()

    def refund(self, op: ops.Refund) -> SimStep:
        """A refund; it fails while the gateway is down (its owner tries again)."""
        call = rules.refund(op, self._latency(), self._now, self.rules, self.books)
        yield self.env.timeout(call.wait_s)
        refunded = call.answer()
        if not refunded and self.rules.outages and self.rules.outage(self.env.now) is not None:
            self.refunds_in_outage += 1
        return refunded

    def authorize(self, op: ops.Authorize) -> SimStep:
        """Two-phase commit's prepare: hold funds (no ledger entry until capture)."""
        latency = self._latency()
        declined = self._rng.random() < self.settings.decline_rate
        call = rules.authorize(op, latency, declined, self._now, self.rules, self.books)
        yield self.env.timeout(call.wait_s)
        return call.answer()

    def _now(self) -> float:
        return self.env.now

    def unrefunded(self, op: ops.UnrefundedCaptures) -> SimStep:
        """The sweeper's read of the ledger (a reporting API, no fault injection)."""
        yield self.env.timeout(rules.FAST_FAILURE_S)
        books = self.books
        return [
            (row * books.count + books.index, intent_id)
            for row, intent_id in self.ledger.unrefunded(self.env.now - op.min_age_s)
        ]

    def query(self, key: str) -> SimStep:
        """A status look-up of the charge under ``key`` (safe failover asks before moving on)."""
        call = rules.query(key, self._latency(), self.env.now, self.rules, self.books)
        yield self.env.timeout(call.wait_s)
        return call.answer()

    def open_seconds(self) -> float:
        """Time the breaker spent open, up to the last call it was asked about."""
        return self.breaker.open_seconds_while_asked() if self.breaker is not None else 0.0

    def rejections(self) -> int:
        """Calls the breaker refused."""
        return self.breaker.total_not_permitted_calls if self.breaker is not None else 0

    def state_code(self) -> int:
        """Breaker state for the timeline: 0 closed (or none), 1 half-open, 2 open."""
        return TIMELINE_CODES[self.breaker.state] if self.breaker is not None else 0
