"""A fake payment gateway with its own ledger in its own SQLite file.

What each call meets (a latency distribution, errors, declines, responses
lost after the capture, the caller's read time-out after which the gateway
still finishes on its own time, outage windows, brown-outs, a rate limit,
gateway-side idempotency keys, refunds that fail in an outage, captures of
held funds never declined) is decided by ``checkoutsim.world.gateway_rules``,
the rules the model executes too; this module supplies real time (pauses and
late work) and real rows (the ``Ledger``). The audit counts captures from this
ledger, as a real reconciliation would.
"""

from __future__ import annotations

import random
import sqlite3

import pandas as pd

from checkoutsim.policy import ops
from checkoutsim.real.database import Database
from checkoutsim.real.runtime import Pause, Runtime, after
from checkoutsim.real.schema import GATEWAY
from checkoutsim.world import gateway_rules as rules
from checkoutsim.world.gateway_rules import GatewayFaults, faults_from_settings
from checkoutsim.world.latency import sampler
from checkoutsim.world.providers import capture_id, provider_of

__all__ = ["Books", "Gateway", "GatewayFaults", "Ledger", "faults_from_settings"]

DECLINED = rules.DECLINED


class Ledger:
    """The gateway's books: captures, refunds, idempotency keys, the rate bucket.

    With several providers (``index`` of ``count``), the capture ids it hands
    out and takes name their provider (``world.providers``); its rows keep
    their own ids. With one, the ids are the rows'.
    """

    def __init__(
        self,
        database: Database,
        runtime: Runtime,
        index: int = 0,
        count: int = 1,
        name: str | None = None,
    ) -> None:
        self.db = database
        self.time = runtime.time
        self.index = index
        self.count = count
        #: The provider's name in the ledger's frame (set only with several providers).
        self.name = name

    def _id(self, row: int) -> int:
        return capture_id(row, self.index, self.count)

    def _row(self, capture: int) -> int:
        index, row = provider_of(capture, self.count)
        # Another provider's capture matches no row here.
        return row if index == self.index else -1

    def databases(self) -> list[Database]:
        """The ledger's database (as ``ProviderLedgers.databases`` lists every provider's)."""
        return [self.db]

    def create(self) -> None:
        """Create the schema if the file is new."""
        self.db.execute_script(GATEWAY)

    def claim(self, key: str, claim: bool) -> bool:
        """Has ``key`` been seen? If not and ``claim``, mark it in flight, atomically."""
        if not claim:
            seen = self.db.read().execute("SELECT 1 FROM idempotency WHERE key = ?", (key,))
            return seen.fetchone() is not None
        written = self.db.write_one(
            "INSERT INTO idempotency (key, state, created_s) VALUES (?, 'processing', ?)"
            " ON CONFLICT (key) DO NOTHING",
            (key, self.time.now()),
        )
        return written.rowcount == 0

    def stored(self, key: str) -> ops.ChargeResult | None:
        """The result stored under a key; ``None`` while its first call is in flight."""
        row = (
            self.db.read()
            .execute("SELECT state, capture_id FROM idempotency WHERE key = ?", (key,))
            .fetchone()
        )
        if row is None or row[0] == "processing":
            return None
        if row[0] == "declined":
            return DECLINED
        return ops.ChargeResult(ops.ChargeStatus.CAPTURED, self._id(row[1]))

    def settle(
        self, intent_id: int, amount: int, key: str | None, declined: bool
    ) -> ops.ChargeResult:
        """Book the capture (unless declined); a trigger stores the result under the key."""
        now = self.time.now()
        if declined:
            if key is not None:
                self.db.write_one("UPDATE idempotency SET state = 'declined' WHERE key = ?", (key,))
            return DECLINED
        written = self.db.write_one(
            "INSERT INTO captures (intent_id, amount, idempotency_key, time_s) VALUES (?, ?, ?, ?)",
            (intent_id, amount, key, now),
        )
        return ops.ChargeResult(ops.ChargeStatus.CAPTURED, self._id(written.lastrowid))

    def refund(self, capture_id: int) -> bool:
        """Refund a capture once; the UNIQUE constraint refuses a second refund."""
        try:
            self.db.write_one(
                "INSERT INTO refunds (capture_id, time_s) VALUES (?, ?)",
                (self._row(capture_id), self.time.now()),
            )
        except sqlite3.IntegrityError:
            # A second refund, or no such capture (the foreign key).
            return False
        return True

    def hold(self, intent_id: int) -> None:
        """Record that a two-phase prepare holds the intent's funds (once)."""
        self.db.write_one(
            "INSERT INTO holds (intent_id, time_s) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (intent_id, self.time.now()),
        )

    def held(self, intent_id: int) -> bool:
        """Whether a two-phase prepare holds the intent's funds."""
        row = self.db.read().execute("SELECT 1 FROM holds WHERE intent_id = ?", (intent_id,))
        return row.fetchone() is not None

    def request_refund(self, capture_id: int) -> None:
        """Book that a refund of ``capture_id`` was asked for (once; before it is done)."""
        self.db.write_one(
            # Only for a capture on the books: a refund of an unknown id is refused later.
            "INSERT INTO refund_requests (capture_id, time_s)"
            " SELECT id, ? FROM captures WHERE id = ? ON CONFLICT (capture_id) DO NOTHING",
            (self.time.now(), self._row(capture_id)),
        )

    def refund_asked(self, capture_id: int) -> bool:
        """Whether a refund of ``capture_id`` was asked for or done."""
        capture_id = self._row(capture_id)
        row = (
            self.db.read()
            .execute(
                "SELECT 1 FROM refund_requests WHERE capture_id = ?"
                " UNION ALL SELECT 1 FROM refunds WHERE capture_id = ?",
                (capture_id, capture_id),
            )
            .fetchone()
        )
        return row is not None

    def unrefunded(self, older_than: float) -> list[tuple[int, int]]:
        """Captures made before ``older_than`` with no refund, as (capture, intent)."""
        rows = self.db.read().execute(
            "SELECT c.id, c.intent_id FROM captures c LEFT JOIN refunds r ON r.capture_id = c.id"
            " WHERE r.id IS NULL AND c.time_s <= ? ORDER BY c.id",
            (older_than,),
        )
        return [(self._id(row), intent_id) for row, intent_id in rows]

    def take_token(self, account: int, rate_per_s: float, burst: float) -> bool:
        """Take one token from an account's shared bucket; False means answer 429."""
        now = self.time.now()

        def work(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "SELECT tokens, updated_s FROM rate_limit WHERE account = ?", (account,)
            ).fetchone()
            tokens = burst if row is None else min(burst, row[0] + (now - row[1]) * rate_per_s)
            allowed = tokens >= 1.0
            conn.execute(
                "INSERT OR REPLACE INTO rate_limit (account, tokens, updated_s) VALUES (?, ?, ?)",
                (account, tokens - 1.0 if allowed else tokens, now),
            )
            return allowed

        return self.db.transaction(work)

    def frame(self) -> pd.DataFrame:
        """One row per capture, with its refund time (NaN when not refunded)."""
        rows = (
            self.db.read()
            .execute(
                "SELECT c.id, c.intent_id, c.amount, c.time_s, r.time_s FROM captures c"
                " LEFT JOIN refunds r ON r.capture_id = c.id ORDER BY c.id"
            )
            .fetchall()
        )
        frame = pd.DataFrame(
            rows, columns=["capture_id", "intent_id", "amount", "time_s", "refunded_s"]
        )
        frame["refunded_s"] = frame["refunded_s"].astype(float)
        frame["time_s"] = frame["time_s"].astype(float)
        if self.count > 1:
            frame["capture_id"] = frame["capture_id"].astype("int64") * self.count + self.index
        if self.name is not None:
            frame["gateway"] = self.name
        return frame


class Books:
    """The ledger as the gateway's rules see it (``gateway_rules.GatewayBooks``)."""

    def __init__(self, ledger: Ledger, faults: GatewayFaults) -> None:
        self.ledger = ledger
        self.faults = faults

    def claim(self, key: str, claim: bool) -> bool:
        """Has ``key`` been seen? If not and ``claim``, mark it in flight, atomically."""
        return self.ledger.claim(key, claim)

    def stored(self, key: str) -> ops.ChargeResult | None:
        """The answer stored under ``key``; None while in flight."""
        return self.ledger.stored(key)

    def settle(
        self, intent_id: int, amount: int, key: str | None, declined: bool
    ) -> ops.ChargeResult:
        """Book the capture (unless declined); a trigger stores the answer under the key."""
        return self.ledger.settle(intent_id, amount, key, declined)

    def take_token(self, intent_id: int) -> bool:
        """The intent's account's bucket, shared by every caller process."""
        faults = self.faults
        return self.ledger.take_token(
            intent_id % faults.accounts, faults.rate_limit_per_s, faults.rate_limit_burst
        )

    def hold(self, intent_id: int) -> None:
        """Record that a two-phase prepare holds the intent's funds."""
        self.ledger.hold(intent_id)

    def held(self, intent_id: int) -> bool:
        """Whether a two-phase prepare holds the intent's funds."""
        return self.ledger.held(intent_id)

    def request_refund(self, capture_id: int) -> None:
        """Book the request (crash recovery reads it: a compensation had begun)."""
        self.ledger.request_refund(capture_id)

    def refund(self, capture_id: int) -> bool:
        """Refund once (the UNIQUE constraint refuses a second)."""
        return self.ledger.refund(capture_id)


class Gateway:
    """The gateway's API as the shop calls it: each call a result or a ``Pause``."""

    def __init__(
        self, ledger: Ledger, faults: GatewayFaults, rng: random.Random, runtime: Runtime
    ) -> None:
        self.ledger = ledger
        self.faults = faults
        self.runtime = runtime
        self.books = Books(ledger, faults)
        self._rng = rng
        self._latency = sampler(faults.latency, rng)
        self._draw_lock = runtime.threading.lock()

    def perform(self, call: rules.Call[object]) -> object:
        """A decided call in real time: late work scheduled, the answer after the wait."""
        if call.late is not None:
            late = call.late
            self.runtime.later(call.late_s, late)
        return after(call.wait_s, call.answer)

    def charge_call(self, op: ops.Charge) -> rules.Call[ops.ChargeResult]:
        """The rules' decision for one capture call (draws made here, under the lock)."""
        with self._draw_lock:
            # One stream shared by threads: the call's draws together, as the model's.
            draws = rules.draw_charge(self._latency, self._rng, self.faults)
        return rules.charge(op, draws, self.runtime.time.now(), self.faults, self.books)

    def charge(self, op: ops.Charge) -> ops.ChargeResult | Pause:
        """One capture call, as the rules decide it."""
        return self.perform(self.charge_call(op))  # type: ignore[return-value]

    def authorize(self, op: ops.Authorize) -> bool | Pause:
        """Two-phase commit's prepare: hold the funds (a row in ``holds``, no capture yet)."""
        with self._draw_lock:
            latency = self._latency()
            declined = self._rng.random() < self.faults.decline_rate
        call = rules.authorize(
            op, latency, declined, self.runtime.time.now, self.faults, self.books
        )
        return self.perform(call)  # type: ignore[return-value]

    def refund_call(self, op: ops.Refund) -> rules.Call[bool]:
        """The rules' decision for one refund: booked as asked for, decided when processed.

        The request row is what tells crash recovery that a compensation had
        begun when the caller died (``checkoutsim.real.recovery``).
        """
        with self._draw_lock:
            latency = self._latency()
        return rules.refund(op, latency, self.runtime.time.now, self.faults, self.books)

    def refund(self, op: ops.Refund) -> bool | Pause:
        """A refund call: it fails in a gateway outage, and its owner tries again."""
        return self.perform(self.refund_call(op))  # type: ignore[return-value]

    def query(self, key: str) -> ops.ChargeResult | Pause:
        """A status look-up of the charge under ``key`` (safe failover asks before moving on)."""
        with self._draw_lock:
            latency = self._latency()
        call = rules.query(key, latency, self.runtime.time.now(), self.faults, self.books)
        return self.perform(call)  # type: ignore[return-value]

    def unrefunded(self, op: ops.UnrefundedCaptures) -> list[tuple[int, int]]:
        """The ledger's captures older than ``op.min_age_s`` with no refund."""
        return self.ledger.unrefunded(self.runtime.time.now() - op.min_age_s)
