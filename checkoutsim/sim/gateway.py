"""The simulated payment gateway: latency, failures, outages, rate limits, its breaker.

The gateway keeps its own ledger (captures and refunds) and its own
idempotency keys. The circuit breaker sits on the shop's side of the wire: it
refuses calls before they are sent, and it learns from each call's outcome and
duration.
"""

from __future__ import annotations

import random
from typing import Any

import simpy

from checkoutsim.policy import ops
from checkoutsim.policy.breaker import TIMELINE_CODES
from checkoutsim.scenario.settings import Settings
from checkoutsim.sim import SimStep
from checkoutsim.sim.clock import SimClock
from checkoutsim.sim.state import Ledger
from checkoutsim.world.faults import FaultSchedule, RateLimiter, make_breaker
from checkoutsim.world.latency import sampler

UNKNOWN = ops.ChargeResult(ops.ChargeStatus.UNKNOWN)
ERROR = ops.ChargeResult(ops.ChargeStatus.ERROR)
DECLINED = ops.ChargeResult(ops.ChargeStatus.DECLINED)
REFUSED = ops.ChargeResult(ops.ChargeStatus.REFUSED)

#: How long a refused connection or a 429 takes to come back.
FAST_FAILURE_S = 0.01


class GatewayModel:
    """Executes the gateway operations of the policy core in simulated time."""

    def __init__(
        self,
        env: simpy.Environment,
        settings: Settings,
        streams: dict[str, random.Random],
        ledger: Ledger,
        faults: FaultSchedule,
    ) -> None:
        self.env = env
        self.settings = settings.gateway
        self.ledger = ledger
        self.faults = faults
        self.breaker = make_breaker(settings.breakers.gateway, SimClock(env))
        self.limiter = RateLimiter(settings.faults)
        self.calls = 0
        self.refunds = 0
        self._latency = sampler(settings.gateway.latency, streams["gateway"], batched=True)
        self._rng = streams["gateway_faults"]
        self._faulty = faults.has_outages("gateway") or bool(settings.faults.brownouts)
        self._authorised: set[int] = set()

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
            duration = self.env.now - started
            if result.status in (ops.ChargeStatus.CAPTURED, ops.ChargeStatus.DECLINED):
                breaker.on_success(duration)
            else:
                breaker.on_error(duration)
        return result

    def _charge(self, op: ops.Charge) -> SimStep:
        """Latency, errors, declines, lost responses, outages, 429s, the read time-out."""
        env = self.env
        gateway = self.settings
        rng = self._rng
        # Draw every random number on every call so that variants stay on
        # common random numbers whatever branch a call takes.
        latency = self._latency()
        errored = rng.random() < gateway.error_rate
        declined = rng.random() < gateway.decline_rate
        lost = rng.random() < gateway.lost_response_rate
        # Funds held by a two-phase prepare are captured, not declined again.
        declined = declined and op.intent_id not in self._authorised
        if self._faulty:
            latency *= self.faults.latency_factor("gateway", env.now)
            outage = self.faults.outage("gateway", env.now)
            if outage is not None:
                if outage.mode == "hang":
                    yield env.timeout(gateway.timeout_s)
                    return UNKNOWN  # nothing happened, but the caller cannot know that
                yield env.timeout(FAST_FAILURE_S)
                return ERROR
        if not self.limiter.allow(op.intent_id, env.now):
            yield env.timeout(FAST_FAILURE_S)
            return ERROR  # 429: refused before processing
        waited = min(latency, gateway.timeout_s)
        key = op.gateway_key
        if key is not None and key in self.ledger.keys:
            yield env.timeout(waited)
            stored = self.ledger.keys[key]
            # In flight under the same key: the gateway answers 409, and whether
            # that first call will capture is not known yet.
            return UNKNOWN if stored is None else stored
        if errored:
            yield env.timeout(waited)
            return ERROR if latency <= gateway.timeout_s else UNKNOWN
        if key is not None:
            self.ledger.keys[key] = None
        if latency > gateway.timeout_s:
            # The shop stops waiting; the gateway finishes on its own time.
            env.timeout(latency).callbacks.append(lambda _: self._settle(op, declined))
            yield env.timeout(waited)
            return UNKNOWN
        yield env.timeout(latency)
        result = self._settle(op, declined)
        return UNKNOWN if lost else result

    def _settle(self, op: ops.Charge, declined: bool) -> ops.ChargeResult:
        """The gateway's side of a call: book the capture, remember the key."""
        if declined:
            result = DECLINED
        else:
            capture_id = self.ledger.capture(op.intent_id, op.amount, self.env.now)
            result = ops.ChargeResult(ops.ChargeStatus.CAPTURED, capture_id)
        if op.gateway_key is not None:
            self.ledger.keys[op.gateway_key] = result
        return result

    def refund(self, op: ops.Refund) -> SimStep:
        """A refund; it fails while the gateway is down (the sweeper tries again)."""
        yield self.env.timeout(min(self._latency(), self.settings.timeout_s))
        if self._faulty and self.faults.outage("gateway", self.env.now) is not None:
            return False
        refunded = self.ledger.refund(op.capture_id, self.env.now)
        self.refunds += int(refunded)
        return refunded

    def authorize(self, op: ops.Authorize) -> SimStep:
        """Two-phase commit's prepare: hold funds (no ledger entry until capture)."""
        latency = self._latency()
        declined = self._rng.random() < self.settings.decline_rate
        yield self.env.timeout(min(latency, self.settings.timeout_s))
        if self._faulty and self.faults.outage("gateway", self.env.now) is not None:
            return False
        held = not declined and latency <= self.settings.timeout_s
        if held:
            self._authorised.add(op.intent_id)
        return held

    def unrefunded(self, op: ops.UnrefundedCaptures) -> SimStep:
        """The sweeper's read of the ledger (a reporting API, no fault injection)."""
        yield self.env.timeout(FAST_FAILURE_S)
        return self.ledger.unrefunded(self.env.now - op.min_age_s)

    def open_seconds(self) -> float:
        """Time the breaker spent open, up to the last call it was asked about."""
        return self.breaker.open_seconds_while_asked() if self.breaker is not None else 0.0

    def rejections(self) -> int:
        """Calls the breaker refused."""
        return self.breaker.total_not_permitted_calls if self.breaker is not None else 0

    def state_code(self) -> int:
        """Breaker state for the timeline: 0 closed (or none), 1 half-open, 2 open."""
        return TIMELINE_CODES[self.breaker.state] if self.breaker is not None else 0
