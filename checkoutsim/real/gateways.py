"""Several fake payment gateways for the real body: one ledger file per provider.

Each provider other than the primary gets its own SQLite ledger beside the
primary's (``gateway-NAME.sqlite``: its own captures, refunds and idempotency
keys), its own ``Gateway`` over the settings it sees
(``checkoutsim.world.providers.provider_settings``), and its own breaker on the
shop's side. ``Providers`` takes over the executor's gateway operations and
sends each to the provider it names, as the model's ``sim.gateways`` does; the
shop's records of attempts (``RecordAttempt``) go to a table beside the shop's
database. ``ProviderLedgers`` stands in for the primary's ledger where the run's
records, the sweeper and recovery read it: every provider's books as one.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pandas as pd

from checkoutsim.policy import ops
from checkoutsim.policy.breaker import charge_outcome
from checkoutsim.policy.routing import QueryCharge, RecordAttempt
from checkoutsim.real.breakers import REFUSED, SharedBreaker, shared_breaker
from checkoutsim.real.database import Database
from checkoutsim.real.executor import Executor
from checkoutsim.real.gateway import Gateway, Ledger, faults_from_settings
from checkoutsim.real.runtime import Runtime
from checkoutsim.real.saga_context import SagaContext
from checkoutsim.scenario.settings import Settings
from checkoutsim.world.providers import provider_of, provider_settings, provider_streams

ATTEMPTS = """
CREATE TABLE IF NOT EXISTS gateway_attempts (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    gateway INTEGER NOT NULL CHECK (gateway >= 0),
    time_s REAL NOT NULL
);
"""


def provider_path(primary: Path, name: str) -> Path:
    """Where provider ``name``'s ledger lives, beside the primary's."""
    return primary.with_name(f"{primary.stem}-{name}{primary.suffix or '.sqlite'}")


class ProviderLedgers:
    """Every provider's ledger, read as one (capture ids name their provider)."""

    def __init__(self, ledgers: list[Ledger], attempts: Database | None = None) -> None:
        self.ledgers = ledgers
        #: The shop's attempt records (key -> provider), when routing writes them.
        self.attempts = attempts

    def _of(self, capture_id: int) -> Ledger:
        index, _row = provider_of(capture_id, len(self.ledgers))
        return self.ledgers[index]

    def create(self) -> None:
        """Create every provider's schema."""
        for ledger in self.ledgers:
            ledger.create()

    def frame(self) -> pd.DataFrame:
        """One row per capture at any provider, with the provider's name."""
        frames = [ledger.frame() for ledger in self.ledgers]
        return pd.concat(frames, ignore_index=True).sort_values("time_s", ignore_index=True)

    def unrefunded(self, older_than: float) -> list[tuple[int, int]]:
        """Every provider's captures older than ``older_than`` with no refund."""
        return [found for ledger in self.ledgers for found in ledger.unrefunded(older_than)]

    def refund(self, capture_id: int) -> bool:
        """Refund a capture at the provider that holds it."""
        return self._of(capture_id).refund(capture_id)

    def refund_asked(self, capture_id: int) -> bool:
        """Whether a refund of the capture was asked for or done, at its provider."""
        return self._of(capture_id).refund_asked(capture_id)

    def asked(self, key: str) -> list[int]:
        """The providers a payment under ``key`` may have reached, in the order tried.

        The attempt records name them (written before each call). A key with no
        record (a routing that writes none, or no call made) may be at any of them.
        """
        if self.attempts is not None:
            rows = self.attempts.read().execute(
                "SELECT gateway FROM gateway_attempts WHERE key = ? ORDER BY id", (key,)
            )
            named = list(dict.fromkeys(row[0] for row in rows))
            if named:
                return named
        return list(range(len(self.ledgers)))

    def stored(self, key: str) -> ops.ChargeResult | None:
        """The answer under ``key`` at the providers it went to: a capture first.

        Crash recovery asks here for a charge sent and never answered: the
        provider the attempt record names holds the answer, not the primary.
        A second capture (naive failover) stays an orphan, refunded by the sweep.
        """
        answers = [self.ledgers[index].stored(key) for index in self.asked(key)]
        for answer in answers:
            if answer is not None and answer.status is ops.ChargeStatus.CAPTURED:
                return answer
        return next((answer for answer in answers if answer is not None), None)

    def databases(self) -> list[Database]:
        """Every provider's ledger database (the primary's first)."""
        return [ledger.db for ledger in self.ledgers]


class Providers:
    """The providers of one service process, and the executor's gateway operations over them."""

    def __init__(
        self,
        settings: Settings,
        primary_ledger_path: Path,
        attempts_path: Path,
        runtime: Runtime,
        primary: Gateway,
        executor: Executor,
        base: random.Random,
    ) -> None:
        gateways = settings.gateways
        self.names = gateways.names()
        count = len(self.names)
        primary.ledger.name = self.names[0]
        self.gateways = [primary]
        self.breakers: list[SharedBreaker | None] = [executor.gateway_breaker]
        ledgers = [primary.ledger]
        for index in range(1, count):
            seen = provider_settings(settings, index)
            database = Database(
                provider_path(primary_ledger_path, self.names[index]), runtime.threading
            )
            ledger = Ledger(database, runtime, index, count, self.names[index])
            ledger.create()
            ledgers.append(ledger)
            rng = provider_streams(base, index)["gateway"]
            self.gateways.append(Gateway(ledger, faults_from_settings(seen), rng, runtime))
            lock = runtime.threading.lock()
            self.breakers.append(shared_breaker(seen.breakers.gateway, runtime.time, lock))
        self.attempts = Database(attempts_path, runtime.threading)
        self.attempts.execute_script(ATTEMPTS)
        self.ledgers = ProviderLedgers(ledgers, self.attempts)
        self.time = runtime.time
        self.counters = executor.counters
        executor.handlers.update(
            {
                ops.Charge: self.charge,
                ops.Refund: self.refund,
                ops.UnrefundedCaptures: self.unrefunded,
                QueryCharge: self.query,
                RecordAttempt: self.record_attempt,
            }
        )

    def charge(self, op: ops.Charge, saga: SagaContext) -> Any:
        """A charge at the provider it names, behind that provider's breaker."""
        self.counters.add("gateway_calls")
        self.counters.add(f"gateway_calls_{self.names[op.gateway]}")
        gateway = self.gateways[op.gateway]
        breaker = self.breakers[op.gateway]
        if breaker is None:
            return gateway.charge(op)
        if not breaker.try_acquire_permission():
            return REFUSED  # not sent: failing fast is the breaker's point
        return breaker.measured(lambda: gateway.charge(op), charge_outcome)

    def refund(self, op: ops.Refund, saga: SagaContext) -> Any:
        """A refund at the provider that holds the capture."""
        index, _row = provider_of(op.capture_id, len(self.gateways))
        return self.gateways[index].refund(op)

    def query(self, op: QueryCharge, saga: SagaContext) -> Any:
        """A status look-up at the provider it names."""
        return self.gateways[op.gateway].query(op.gateway_key)

    def record_attempt(self, op: RecordAttempt, saga: SagaContext) -> None:
        """The shop's row: this key goes to this provider (before the call)."""
        self.attempts.write_one(
            "INSERT INTO gateway_attempts (key, gateway, time_s) VALUES (?, ?, ?)",
            (op.key, op.gateway, self.time.now()),
        )

    def unrefunded(self, op: ops.UnrefundedCaptures, saga: SagaContext) -> list[tuple[int, int]]:
        """The sweeper's read of every provider's ledger."""
        return self.ledgers.unrefunded(self.time.now() - op.min_age_s)

    def breaker_totals(self) -> tuple[float, int]:
        """Time every provider's breaker spent open, and the calls they refused, summed."""
        breakers = [breaker for breaker in self.breakers if breaker is not None]
        return (
            sum(breaker.open_seconds() for breaker in breakers),
            sum(breaker.rejections() for breaker in breakers),
        )

    def close(self) -> None:
        """Close the extra providers' ledgers and the attempt records."""
        for gateway in self.gateways[1:]:
            gateway.ledger.db.close()
        self.attempts.close()
