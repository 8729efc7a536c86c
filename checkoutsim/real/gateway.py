"""A fake payment gateway with its own ledger in its own SQLite file.

It has the scenario's fault knobs: a latency distribution, errors (nothing
captured), declines, responses lost after the capture, the caller's read
time-out (after which the gateway still finishes on its own time), outage
windows, a rate limit, and gateway-side idempotency keys. Each call follows the
model's gateway step for step (``checkoutsim.sim.engine.Engine._charge``), with
real rows instead of lists; the audit counts captures from this ledger, as a
real reconciliation would.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from checkoutsim.policy import ops
from checkoutsim.real.database import Database
from checkoutsim.real.runtime import Pause, Runtime, after
from checkoutsim.real.schema import GATEWAY
from checkoutsim.scenario.settings import Faults, Latency, Settings
from checkoutsim.world.faults import FaultSchedule
from checkoutsim.world.latency import sampler

ERROR = ops.ChargeResult(ops.ChargeStatus.ERROR)
UNKNOWN = ops.ChargeResult(ops.ChargeStatus.UNKNOWN)
DECLINED = ops.ChargeResult(ops.ChargeStatus.DECLINED)


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
    #: Calls per model second each account accepts (token bucket); 0 means no limit.
    rate_limit_per_s: float = 0.0
    rate_limit_burst: float = 20.0
    accounts: int = 1


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
        rate_limit_per_s=faults.gateway_rate_limit_per_s,
        rate_limit_burst=faults.gateway_rate_limit_burst,
        accounts=faults.gateway_accounts,
    )


class Ledger:
    """The gateway's books: captures, refunds, idempotency keys, the rate bucket."""

    def __init__(self, database: Database, runtime: Runtime) -> None:
        self.db = database
        self.time = runtime.time

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
        return ops.ChargeResult(ops.ChargeStatus.CAPTURED, row[1])

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
        return ops.ChargeResult(ops.ChargeStatus.CAPTURED, written.lastrowid)

    def refund(self, capture_id: int) -> bool:
        """Refund a capture once; the UNIQUE constraint refuses a second refund."""
        try:
            self.db.write_one(
                "INSERT INTO refunds (capture_id, time_s) VALUES (?, ?)",
                (capture_id, self.time.now()),
            )
        except sqlite3.IntegrityError:
            # A second refund, or no such capture (the foreign key).
            return False
        return True

    def request_refund(self, capture_id: int) -> None:
        """Book that a refund of ``capture_id`` was asked for (once; before it is done)."""
        self.db.write_one(
            # Only for a capture on the books: a refund of an unknown id is refused later.
            "INSERT INTO refund_requests (capture_id, time_s)"
            " SELECT id, ? FROM captures WHERE id = ? ON CONFLICT (capture_id) DO NOTHING",
            (self.time.now(), capture_id),
        )

    def refund_asked(self, capture_id: int) -> bool:
        """Whether a refund of ``capture_id`` was asked for or done."""
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
        return [(capture_id, intent_id) for capture_id, intent_id in rows]

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
        return frame


class Gateway:
    """The gateway's API as the shop calls it: each call a result or a ``Pause``."""

    def __init__(
        self,
        ledger: Ledger,
        faults: GatewayFaults,
        rng: random.Random,
        runtime: Runtime,
        schedule: FaultSchedule | None = None,
    ) -> None:
        self.ledger = ledger
        self.faults = faults
        self.runtime = runtime
        self._rng = rng
        self._latency = sampler(faults.latency, rng)
        self._draw_lock = runtime.threading.lock()
        self.schedule = schedule or FaultSchedule(Faults())

    def _outage(self, now: float) -> str | None:
        """The mode of the outage the gateway is in at ``now``, if any."""
        for start, end, mode in self.faults.outages:
            if start <= now < end:
                return mode
        return None

    def charge(self, op: ops.Charge) -> ops.ChargeResult | Pause:
        """One capture call: latency, errors, declines, lost responses, read time-out."""
        faults = self.faults
        rng = self._rng
        with self._draw_lock:
            # Draw every number on every call, as the model does (common random numbers).
            latency = self._latency()
            errored = rng.random() < faults.error_rate
            declined = rng.random() < faults.decline_rate
            lost = rng.random() < faults.lost_response_rate
        latency *= self.schedule.latency_factor("gateway", self.runtime.time.now())
        waited = min(latency, faults.timeout_s)
        outage = self._outage(self.runtime.time.now()) if faults.outages else None
        if outage == "error":
            return ERROR  # connection refused: nothing was processed
        if outage == "hang":
            # Accepted and never answered: the caller waits out its time-out.
            return after(faults.timeout_s, lambda: UNKNOWN)
        if faults.rate_limit_per_s > 0 and not self.ledger.take_token(
            op.intent_id % faults.accounts, faults.rate_limit_per_s, faults.rate_limit_burst
        ):
            return ERROR  # 429: nothing was processed
        key = op.gateway_key
        if key is not None and self.ledger.claim(key, claim=not errored):

            def replay() -> ops.ChargeResult:
                # Still in flight under the same key: the gateway answers 409, and
                # whether that first call will capture is not known yet.
                stored = self.ledger.stored(key)
                return UNKNOWN if stored is None else stored

            return after(waited, replay)
        if errored:
            return after(waited, lambda: ERROR if latency <= faults.timeout_s else UNKNOWN)
        if latency > faults.timeout_s:
            # The shop stops waiting; the gateway finishes on its own time.
            self.runtime.later(
                latency, lambda: self.ledger.settle(op.intent_id, op.amount, key, declined)
            )
            return after(waited, lambda: UNKNOWN)

        def settle() -> ops.ChargeResult:
            result = self.ledger.settle(op.intent_id, op.amount, key, declined)
            return UNKNOWN if lost else result

        return after(latency, settle)

    def authorize(self, op: ops.Authorize) -> bool | Pause:
        """Two-phase commit's prepare: hold the funds (no ledger row until the capture).

        As the model's: one latency draw and one decline draw; a hold that
        takes longer than the caller's time-out, or ends inside an outage,
        is not held.
        """
        faults = self.faults
        with self._draw_lock:
            latency = self._latency()
            declined = self._rng.random() < faults.decline_rate

        def held() -> bool:
            if faults.outages and self._outage(self.runtime.time.now()) is not None:
                return False
            return not declined and latency <= faults.timeout_s

        return after(min(latency, faults.timeout_s), held)

    def refund(self, op: ops.Refund) -> bool | Pause:
        """A refund call: the request is booked, then one gateway latency, then the refund.

        The request row is what tells crash recovery that a compensation had
        begun when the caller died (``checkoutsim.real.recovery``).
        """
        with self._draw_lock:
            latency = self._latency()
        self.ledger.request_refund(op.capture_id)
        return after(latency, lambda: self.ledger.refund(op.capture_id))

    def unrefunded(self, op: ops.UnrefundedCaptures) -> list[tuple[int, int]]:
        """The ledger's captures older than ``op.min_age_s`` with no refund."""
        return self.ledger.unrefunded(self.runtime.time.now() - op.min_age_s)
