"""The checkout endpoint's idempotency-key rules, applied around the saga by both bodies.

How the ``Idempotency-Key`` is honoured at the door is the variant's payment
strategy, as at the payment table:

- ``key_first``: Stripe's rules. The key row is inserted first (UNIQUE); a
  replay with the same body gets the stored answer, another body gets 422, and
  a request while the first is still running gets 409.
- ``check_then_charge``: the textbook. Look the key up, run, then insert the
  answer under the UNIQUE key; two concurrent clicks both run.
- ``no_key``: the key is ignored; every request runs.

Written once as operations (``request_steps``): the real body keeps the key
rows in the shop database, the model in an in-memory table priced as a
payment-table query. A duplicate that the door answers never reaches the saga
in either body, so it reserves nothing and has nothing to give back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from checkoutsim.policy.operation import Operation, Step

#: A status code and the JSON object answered with it.
Answer = tuple[int, dict[str, Any]]
#: The strategies that keep a request table (``no_key`` keeps none).
KEYED_STRATEGIES = ("key_first", "check_then_charge")


def body_digest(sku: int, quantity: int) -> str:
    """A hash of a checkout's parameters, to tell a replay from a reused key."""
    canonical = json.dumps([sku, quantity])
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class RequestRow:
    """A row of the API's idempotency table."""

    intent_id: int
    body_hash: str
    finished: bool
    status_code: int | None
    response: str | None


@dataclass(frozen=True, slots=True)
class IntentFor(Operation):
    """The server's intent id for the checkout a key belongs to."""

    key: str


@dataclass(frozen=True, slots=True)
class BeginRequest(Operation):
    """Insert the key row first. Result: ``None``, or the clashing ``RequestRow``."""

    key: str
    intent_id: int
    body_hash: str


@dataclass(frozen=True, slots=True)
class LookupRequest(Operation):
    """Find the key row. Result: ``RequestRow`` or ``None``."""

    key: str


@dataclass(frozen=True, slots=True)
class FinishRequest(Operation):
    """Store the answer under the key (recovery point: finished)."""

    key: str
    status_code: int
    response: dict[str, Any]


@dataclass(frozen=True, slots=True)
class InsertFinished(Operation):
    """Insert the answer under the UNIQUE key after the work (the textbook)."""

    key: str
    intent_id: int
    body_hash: str
    status_code: int
    response: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ForgetRequest(Operation):
    """Drop a started key whose request failed with an error."""

    key: str


def replay(row: RequestRow, body_hash: str) -> Answer:
    """Stripe's answers for a key that has been seen."""
    if row.body_hash != body_hash:
        return 422, {"error": "Idempotency-Key reused with different parameters"}
    if not row.finished or row.status_code is None or row.response is None:
        return 409, {"error": "a request with this Idempotency-Key is still running"}
    return row.status_code, json.loads(row.response)


def request_steps(
    strategy: str, key: str, digest: str, answer: Callable[[int], Step[Answer]]
) -> Step[Answer]:
    """One checkout request as operations: the variant's key rules around the saga.

    ``digest``: the body's ``body_digest``; ``answer``: the saga for the
    request's intent id, as steps returning the answer to store and send.
    """
    if strategy == "check_then_charge":
        row = yield LookupRequest(key)
        if row is not None:
            return replay(row, digest)
    intent = yield IntentFor(key)
    if strategy == "key_first":
        row = yield BeginRequest(key, intent, digest)
        if row is not None:
            return replay(row, digest)
        try:
            result = yield from answer(intent)
        except Exception:
            yield ForgetRequest(key)
            raise
        yield FinishRequest(key, *result)
        return result
    result = yield from answer(intent)
    if strategy == "check_then_charge":
        clash = yield InsertFinished(key, intent, digest, *result)
        if clash is not None:
            # The textbook returns the stored answer when the unique index fires.
            return replay(clash, digest)
    return result
