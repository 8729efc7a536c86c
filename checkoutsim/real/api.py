"""The checkout endpoint's logic without a transport: validation and idempotency keys.

``POST /checkout`` (and the in-process load test, which calls the same code)
lands in ``CheckoutApi.checkout``. How the ``Idempotency-Key`` is honoured is the
variant's payment strategy, applied at the API's door as well as at the
payment table: the rules are the policy core's (``policy.request_keys``), run
here against the request table in the shop database, and in the model against
its in-memory one, so both bodies answer a duplicate the same way.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from checkoutsim.policy.ops import Step
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
from checkoutsim.real.database import Database
from checkoutsim.real.door import Door
from checkoutsim.real.request_text import BadRequest, decode_object, sku_number
from checkoutsim.real.saga_context import SagaContext
from checkoutsim.real.store import SERVER_INTENT_BASE
from checkoutsim.real.timebase import RealTime
from checkoutsim.scenario.settings import Settings

MAX_KEY_LENGTH = 255
#: The only fields a client may send: intents and orders are the server's to name.
CLIENT_FIELDS = ("sku", "quantity")
#: Intent ids taken from the store at once (one write per block, not per request).
INTENT_BLOCK = 1_000
#: Keys whose intent a process remembers, so that a double click or a same-key
#: retry in a variant that does not store keys first is still the same checkout.
REMEMBERED_KEYS = 100_000

#: The saga for (intent id, sku, quantity, key), as steps returning the outcome's name.
RunSaga = Callable[[int, int, int, str], "Step[str]"]
#: Runs steps to the end for a saga context (the executor's ``drive``).
Drive = Callable[["Step[Any]", SagaContext], Any]


def sku_name(sku: int) -> str:
    """The public name of SKU number ``sku``."""
    return f"sku-{sku}"


@dataclass(frozen=True, slots=True)
class CheckoutBody:
    """A validated request body."""

    sku: int
    quantity: int

    def digest(self) -> str:
        """A hash of the parameters, to tell a replay from a reused key."""
        return body_digest(self.sku, self.quantity)


def parse_body(raw: bytes | dict[str, Any], settings: Settings) -> CheckoutBody:
    """Validate ``{"sku": "sku-0", "quantity": 1}`` against the catalog.

    Any other field is refused by name: a client that could name its intent
    could tie many keys to one order and be charged under each of them.
    """
    data = decode_object(raw) if isinstance(raw, bytes | bytearray) else raw
    if not isinstance(data, dict):
        raise BadRequest(400, "body must be a JSON object")
    unknown = sorted(str(name) for name in data if name not in CLIENT_FIELDS)
    if unknown:
        # json.dumps quotes and escapes the name; decode_object bounds its length.
        raise BadRequest(400, f"unknown field {json.dumps(unknown[0][:64])}")
    catalog = settings.catalog
    sku = data.get("sku")
    number = sku_number(sku)
    if number is None or number >= catalog.skus or sku != sku_name(number):
        # json.dumps quotes and escapes it; sku_number bounded its length.
        raise BadRequest(404, f"no such sku {json.dumps(sku)}")
    quantity = data.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise BadRequest(400, "quantity must be an integer")
    if not 1 <= quantity <= catalog.max_quantity:
        raise BadRequest(422, f"quantity must be between 1 and {catalog.max_quantity}")
    return CheckoutBody(number, quantity)


def check_key(key: str | None) -> str:
    """Validate an ``Idempotency-Key`` header value."""
    if key is None or not key:
        raise BadRequest(400, "missing Idempotency-Key header")
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise BadRequest(400, f"Idempotency-Key must be printable, at most {MAX_KEY_LENGTH} chars")
    return key


class RequestTable:
    """The API's idempotency keys, in the shop database."""

    def __init__(self, database: Database, time: RealTime) -> None:
        self.db = database
        self.time = time
        # Only in-memory work happens under this lock (never a database call).
        self._lock = threading.Lock()
        self._free: list[range] = []
        self._by_key: OrderedDict[str, int] = OrderedDict()

    def lookup(self, key: str) -> RequestRow | None:
        """The row for ``key``, if any (an autocommit read)."""
        row = (
            self.db.read()
            .execute(
                "SELECT intent_id, body_hash, recovery_point, status_code, response FROM requests"
                " WHERE key = ?",
                (key,),
            )
            .fetchone()
        )
        if row is None:
            return None
        return RequestRow(row[0], row[1], row[2] == "finished", row[3], row[4])

    def begin(self, key: str, intent_id: int, body_hash: str) -> RequestRow | None:
        """Insert the key first; return the existing row if the UNIQUE key is taken."""
        now = self.time.now()
        written = self.db.write_one(
            "INSERT INTO requests (key, intent_id, body_hash, recovery_point, created_s,"
            " updated_s) VALUES (?, ?, ?, 'started', ?, ?) ON CONFLICT (key) DO NOTHING",
            (key, intent_id, body_hash, now, now),
        )
        return None if written.rowcount else self.lookup(key)

    def finish(self, key: str, status_code: int, response: dict[str, Any]) -> None:
        """Store the answer to replay, at the last recovery point."""
        self.db.write_one(
            "UPDATE requests SET recovery_point = 'finished', status_code = ?, response = ?,"
            " updated_s = ? WHERE key = ?",
            (status_code, json.dumps(response), self.time.now(), key),
        )

    def forget(self, key: str) -> None:
        """Drop a started key whose request crashed, so that a retry can run."""
        self.db.write_one(
            "DELETE FROM requests WHERE key = ? AND recovery_point = 'started'", (key,)
        )

    def insert_finished(
        self, key: str, intent_id: int, body_hash: str, status_code: int, response: dict[str, Any]
    ) -> RequestRow | None:
        """The textbook's insert after the work; the existing row if the key is taken."""
        now = self.time.now()
        written = self.db.write_one(
            "INSERT INTO requests (key, intent_id, body_hash, recovery_point, status_code,"
            " response, created_s, updated_s) VALUES (?, ?, ?, 'finished', ?, ?, ?, ?)"
            " ON CONFLICT (key) DO NOTHING",
            (key, intent_id, body_hash, status_code, json.dumps(response), now, now),
        )
        return None if written.rowcount else self.lookup(key)

    def intent_for(self, key: str) -> int:
        """The intent of the checkout a key belongs to, allocated by the server.

        The same key gets the same intent in this process (a double click, or a
        retry, is the same checkout); a new key gets a fresh id from a block.
        """
        with self._lock:
            known = self._by_key.get(key)
            if known is not None:
                self._by_key.move_to_end(key)
                return known
            intent = self._take()
        if intent is None:
            block = self._new_block()
            with self._lock:
                self._free.append(block)
                known = self._by_key.get(key)  # another request with this key got here first
                if known is not None:
                    return known
                intent = self._take()
                assert intent is not None
        with self._lock:
            known = self._by_key.setdefault(key, intent)
            while len(self._by_key) > REMEMBERED_KEYS:
                self._by_key.popitem(last=False)
            return known

    def _take(self) -> int | None:
        """The next free id of this process's blocks (call under the lock)."""
        while self._free and not self._free[0]:
            self._free.pop(0)
        if not self._free:
            return None
        block = self._free[0]
        self._free[0] = block[1:]
        return block[0]

    def _new_block(self) -> range:
        """A block of ``INTENT_BLOCK`` ids no process has had, nor will after a restart.

        The block's number is an AUTOINCREMENT row id, never reused; block ``n``
        starts at ``n * INTENT_BLOCK`` past the base, clear of the single ids
        (base + row id) older stores handed out one per request.
        """
        written = self.db.write_one(
            "INSERT INTO intent_ids (created_s) VALUES (?)", (self.time.now(),)
        )
        assert written.lastrowid is not None
        start = SERVER_INTENT_BASE + written.lastrowid * INTENT_BLOCK
        return range(start, start + INTENT_BLOCK)


# --- the executor handlers for the key rules' operations (``policy.request_keys``) ----


def handlers(table: RequestTable) -> dict[type, Callable[[Any, SagaContext], Any]]:
    """Executor handlers for the API's operations."""

    def intent_for(op: IntentFor, saga: SagaContext) -> int:
        saga.intent_id = table.intent_for(op.key)
        return saga.intent_id

    return {
        IntentFor: intent_for,
        BeginRequest: lambda op, saga: table.begin(op.key, op.intent_id, op.body_hash),
        LookupRequest: lambda op, saga: table.lookup(op.key),
        FinishRequest: lambda op, saga: table.finish(op.key, op.status_code, op.response),
        InsertFinished: lambda op, saga: table.insert_finished(
            op.key, op.intent_id, op.body_hash, op.status_code, op.response
        ),
        ForgetRequest: lambda op, saga: table.forget(op.key),
    }


def checkout_steps(
    strategy: str, key: str, body: CheckoutBody, saga: SagaContext, run: RunSaga
) -> Step[Answer]:
    """One ``POST /checkout`` as operations: the core's key rules around this body's saga."""

    def answer(intent: int) -> Step[Answer]:
        saga.intent_id = intent
        outcome = yield from run(intent, body.sku, body.quantity, key)
        order_id = saga.order_id if outcome == "ordered" else None
        return 200, {"status": outcome, "order_id": order_id, "intent": intent}

    return request_steps(strategy, key, body.digest(), answer)


class CheckoutApi:
    """``POST /checkout`` as a function: key and body in, status code and JSON out."""

    def __init__(
        self,
        settings: Settings,
        run: RunSaga,
        drive: Drive,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.settings = settings
        self.strategy = settings.payment.strategy
        self._run = run
        self._drive = drive
        # A fixed pool of request threads ([server].threads, as the model has it): a
        # request holds one from its start to its answer, and waits for one before
        # any of its work. ``threading`` is looked up now, after Locust's
        # monkey-patching, so under gevent the wait suspends only the request's greenlet.
        threads = settings.server.threads
        self._threads = threading.BoundedSemaphore(threads) if threads else None
        # The server's own work before each request's check ([server] acceptors and
        # accept_s, as the model has it): ``sleep`` waits model seconds.
        server = settings.server
        door = server.acceptors and (server.accept_s > 0 or server.respond_s > 0)
        self._door = Door(server.acceptors, sleep) if door and sleep is not None else None

    def checkout(self, key: str | None, raw: bytes | dict[str, Any]) -> Answer:
        """Validate, apply the variant's key rules, run the saga, answer."""
        if self._door is None:
            return self._on_a_thread(key, raw)
        server = self.settings.server
        # In line at the door on the way in; ahead of that line on the way out,
        # unless sold out (a sold-out answer's work is the way in's).
        self._door.hold(server.accept_s)
        answer = self._on_a_thread(key, raw)
        if answer[1].get("status") != Outcome.SOLD_OUT.value:
            self._door.hold(server.respond_s, first=True)
        return answer

    def _on_a_thread(self, key: str | None, raw: bytes | dict[str, Any]) -> Answer:
        if self._threads is None:
            return self._checkout(key, raw)
        with self._threads:
            return self._checkout(key, raw)

    def _checkout(self, key: str | None, raw: bytes | dict[str, Any]) -> Answer:
        try:
            key = check_key(key)
            body = parse_body(raw, self.settings)
        except BadRequest as error:
            return error.status, {"error": str(error)}
        saga = SagaContext(-1, key)
        return self._drive(checkout_steps(self.strategy, key, body, saga, self._run), saga)
