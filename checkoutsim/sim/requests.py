"""The model's request table: the API's idempotency keys, kept in memory.

The real body keeps these rows in the shop database and answers a duplicate
at the door (``policy.request_keys``); the model runs the same steps against
this table. Each query costs what the engine's ``round_trip`` costs: nothing,
as the real body plants no round trip on its request table (so a scenario
without double clicks runs exactly as before the door was modelled).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from checkoutsim.policy.operation import Step
from checkoutsim.policy.request_keys import (
    Answer,
    BeginRequest,
    FinishRequest,
    ForgetRequest,
    InsertFinished,
    IntentFor,
    LookupRequest,
    RequestRow,
    body_digest,
    request_steps,
)
from checkoutsim.policy.saga import Outcome
from checkoutsim.sim import SimStep


class RequestTable:
    """The API's key rows, and the intent each key's requests belong to."""

    def __init__(self, round_trip: Callable[[], SimStep]) -> None:
        self._round_trip = round_trip
        self.rows: dict[str, RequestRow] = {}
        #: The shopper's intent for each key, set by the shoppers before the
        #: request runs: the model names its intents itself, as the real
        #: server's ``intent_for`` remembers the intent of a key it has seen.
        self.intent_of: dict[str, int] = {}

    def handlers(self) -> dict[type, Callable[[Any], SimStep]]:
        """Engine handlers for the key rules' operations."""
        return {
            IntentFor: self._intent_for,
            BeginRequest: self._begin,
            LookupRequest: self._lookup,
            FinishRequest: self._finish,
            InsertFinished: self._insert_finished,
            ForgetRequest: self._forget,
        }

    def _intent_for(self, op: IntentFor) -> SimStep:
        # In memory in the real body too (ids come from blocks): no query.
        return self.intent_of[op.key]
        yield  # a generator, as every handler is

    def _lookup(self, op: LookupRequest) -> SimStep:
        yield from self._round_trip()
        return self.rows.get(op.key)

    def _begin(self, op: BeginRequest) -> SimStep:
        yield from self._round_trip()
        existing = self.rows.get(op.key)
        if existing is not None:
            return existing
        self.rows[op.key] = RequestRow(op.intent_id, op.body_hash, False, None, None)
        return None

    def _finish(self, op: FinishRequest) -> SimStep:
        yield from self._round_trip()
        row = self.rows.get(op.key)
        if row is None:
            return  # as the real UPDATE of a forgotten key changes nothing
        self.rows[op.key] = RequestRow(
            row.intent_id, row.body_hash, True, op.status_code, json.dumps(op.response)
        )

    def _insert_finished(self, op: InsertFinished) -> SimStep:
        yield from self._round_trip()
        existing = self.rows.get(op.key)
        if existing is not None:
            return existing
        self.rows[op.key] = RequestRow(
            op.intent_id, op.body_hash, True, op.status_code, json.dumps(op.response)
        )
        return None

    def _forget(self, op: ForgetRequest) -> SimStep:
        yield from self._round_trip()
        row = self.rows.get(op.key)
        if row is not None and not row.finished:
            del self.rows[op.key]


def keyed_checkout(
    strategy: str, key: str, sku: int, quantity: int, saga: Step[Outcome]
) -> Step[Outcome]:
    """The key rules around a checkout's saga, told to the shopper as an outcome.

    The answer maps onto outcomes as the real load driver maps the HTTP one
    (``load.shoppers.told_from_response``): a 200 is its status, a 409 (the
    first request with the key is still running) is "processing".
    """

    def answer(_intent: int) -> Step[Answer]:
        outcome = yield from saga
        return 200, {"status": outcome.value}

    status, payload = yield from request_steps(strategy, key, body_digest(sku, quantity), answer)
    if status == 200:
        return Outcome(payload["status"])
    if status == 409:
        return Outcome.PROCESSING
    # A 422 needs a key reused with another body: the model's keys name one intent.
    raise ValueError(f"request {key!r}: unexpected answer {status} {payload}")
