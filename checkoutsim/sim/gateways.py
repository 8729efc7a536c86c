"""Several simulated payment gateways: one ``GatewayModel`` per provider, each with its own
ledger, idempotency keys, breaker, rate limit and faults.

The primary is the engine's own ``GatewayModel``; the others are built from the
settings each provider sees (``checkoutsim.scenario.gateways.provider_settings``).
This module routes each gateway operation to the provider it names: a charge
or a status look-up by ``gateway``, a refund by the provider its capture id
names, and the sweeper's read over every ledger.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import simpy

from checkoutsim.policy import ops
from checkoutsim.policy.routing import QueryCharge, RecordAttempt
from checkoutsim.scenario.settings import Settings
from checkoutsim.sim import SimStep
from checkoutsim.sim.gateway import GatewayModel
from checkoutsim.sim.state import Ledger
from checkoutsim.world.faults import FaultSchedule
from checkoutsim.world.providers import provider_of, provider_settings, provider_streams


class Providers:
    """Every provider of a scenario with more than one gateway."""

    def __init__(
        self,
        env: simpy.Environment,
        settings: Settings,
        streams: dict[str, random.Random],
        primary: GatewayModel,
        round_trip: Callable[[], SimStep],
    ) -> None:
        self.env = env
        self.names = settings.gateways.names()
        count = len(self.names)
        # The engine built the primary alone: its capture ids must name it among ``count``.
        primary.books.count = count
        self.models = [primary]
        for index in range(1, count):
            seen = provider_settings(settings, index)
            self.models.append(
                GatewayModel(
                    env,
                    seen,
                    provider_streams(streams["gateway"], index),
                    Ledger(),
                    FaultSchedule(seen.faults),
                    index,
                    count,
                )
            )
        self._round_trip = round_trip
        #: The shop's attempt records: the providers each key was sent to, in order.
        self.attempts: dict[str, list[int]] = {}

    def handlers(self) -> dict[type, Any]:
        """The gateway operations, routed to their provider."""
        return {
            ops.Charge: self.charge,
            ops.Refund: self.refund,
            ops.UnrefundedCaptures: self.unrefunded,
            QueryCharge: self.query,
            RecordAttempt: self.record_attempt,
        }

    def charge(self, op: ops.Charge) -> SimStep:
        """A charge at the provider it names."""
        return (yield from self.models[op.gateway].charge(op))

    def refund(self, op: ops.Refund) -> SimStep:
        """A refund at the provider that holds the capture."""
        index, _row = provider_of(op.capture_id, len(self.models))
        return (yield from self.models[index].refund(op))

    def query(self, op: QueryCharge) -> SimStep:
        """A status look-up at the provider it names."""
        return (yield from self.models[op.gateway].query(op.gateway_key))

    def record_attempt(self, op: RecordAttempt) -> SimStep:
        """One write to the shop's payment table."""
        yield from self._round_trip()
        self.attempts.setdefault(op.key, []).append(op.gateway)

    def unrefunded(self, op: ops.UnrefundedCaptures) -> SimStep:
        """The sweeper's read of every provider's ledger."""
        found: list[tuple[int, int]] = []
        for model in self.models:
            found += yield from model.unrefunded(op)
        return found

    def captures(self) -> int:
        """Captures booked at every provider."""
        return sum(len(model.ledger.capture_intent) for model in self.models)

    def counters(self) -> dict[str, float]:
        """Gateway counters summed over providers, plus each provider's calls and captures."""
        models = self.models
        counters: dict[str, float] = {
            "gateway_calls": sum(model.calls for model in models),
            "fault_gateway_refund_in_outage": sum(model.refunds_in_outage for model in models),
            "rate_limited": sum(model.limiter.limited for model in models),
            "breaker_open_s": sum(model.open_seconds() for model in models),
        }
        for name, model in zip(self.names, models, strict=True):
            counters[f"gateway_calls_{name}"] = model.calls
            counters[f"captures_{name}"] = len(model.ledger.capture_intent)
        return counters

    def state_code(self) -> int:
        """The timeline's breaker state: the most open of the providers' breakers.

        0 only while every provider's breaker is closed (or absent), 2 while any is open.
        """
        return max(model.state_code() for model in self.models)

    def rejections(self) -> int:
        """Calls every provider's breaker refused."""
        return sum(model.rejections() for model in self.models)

    def ledger_frame(self) -> pd.DataFrame:
        """One row per capture across the providers' own ledgers, naming the provider."""
        count = len(self.models)
        frames = []
        for index, (name, model) in enumerate(zip(self.names, self.models, strict=True)):
            ledger = model.ledger
            rows = len(ledger.capture_intent)
            refunded = np.full(rows, np.nan)
            for row, when in ledger.refunded_at.items():
                refunded[row] = when
            frames.append(
                pd.DataFrame(
                    {
                        # The ids ``world.providers.capture_id`` gives each row.
                        "capture_id": np.arange(rows, dtype=np.int64) * count + index,
                        "intent_id": np.frombuffer(ledger.capture_intent, dtype=np.int64).copy(),
                        "amount": np.frombuffer(ledger.capture_amount, dtype=np.int64).copy(),
                        "time_s": np.frombuffer(ledger.capture_time, dtype=float).copy(),
                        "refunded_s": refunded,
                        "gateway": name,
                    }
                )
            )
        return pd.concat(frames, ignore_index=True).sort_values("time_s", ignore_index=True)
