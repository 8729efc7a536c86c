"""Kill the service mid-load, again and again, then recover and audit the wreck.

``run_chaos`` starts ``checkoutsim serve`` over one database in a child
process, drives checkouts at it over HTTP from a few client threads, and kills
it with ``SIGKILL`` at a seeded random moment, a number of times. Each restart
reopens the same files, so the service's own start-up recovery runs on the
state the previous kill left. Clients resend some requests that never got an
answer, under the same idempotency key, as a real client would after a
crash; a client names its checkout by that key alone (the body holds only the
SKU and the quantity). After each kill, where it landed is read off the files
it left (``checkoutsim.real.landings``). With ``recovery_kills``, some restarts
are themselves killed while the service recovers, and restarted again. After
the last kill, a final recovery pass runs in this process and the audit is
read off the shop's tables and the gateway's own ledger.

Only processes started here are killed, by their pid; load goes to 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checkoutsim.real import records
from checkoutsim.real.gateways import provider_path
from checkoutsim.real.landings import Landings, classify
from checkoutsim.real.runtime import ThreadRuntime
from checkoutsim.real.service import CheckoutService, StorePaths
from checkoutsim.real.timebase import WallTime
from checkoutsim.results import audit
from checkoutsim.scenario.files import Variant

#: Variants whose strategies the audit must find clean, crash or no crash.
SAFE_INVENTORY = ("fenced", "optimistic", "atomic")
SAFE_PAYMENT = ("key_first",)
#: Compensations that leave no money without an order (the others are kept to measure).
SAFE_COMPENSATION = ("saga", "refund_only")
#: The scenario ``checkoutsim chaos`` shakes when it is given none.
DEFAULT_SCENARIO = "chaos"
#: How often to look at a starting server's log (seconds): fine enough to time recovery.
LOG_POLL_S = 0.005


class ChaosError(Exception):
    """The service under test could not be started or reached."""


def is_safe(variant: Variant) -> bool:
    """A variant whose strategies promise no oversell, no duplicate charge, no orphan payment."""
    settings = variant.settings
    return (
        settings.inventory.strategy in SAFE_INVENTORY
        and settings.payment.strategy in SAFE_PAYMENT
        and settings.saga.compensation in SAFE_COMPENSATION
    )


@dataclass(frozen=True)
class ChaosOptions:
    """How hard and how long to shake the service."""

    kills: int = 20
    seed: int = 1
    clients: int = 16
    #: Wall seconds of load before each kill, drawn uniformly from this range.
    load_s: tuple[float, float] = (0.2, 1.5)
    #: Chance that a client resends an unanswered request after a restart.
    resend_probability: float = 0.5
    startup_timeout_s: float = 60.0
    overrides: tuple[str, ...] = ()
    #: Kills of a restarting service while it recovers (spread over the restarts).
    recovery_kills: int = 0
    #: A kill during recovery comes this long (wall seconds, uniform) after recovery begins.
    recovery_window_s: float = 0.1


@dataclass
class ChaosResult:
    """What the kills did and what the audit found afterwards."""

    variant: str
    safe: bool
    kills: int
    answers: dict[str, int]
    recovered_at_start: dict[str, int]
    final_recovery: dict[str, int]
    checks: list[dict[str, Any]]
    metrics: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0
    #: Where the kills under load landed (``Landings.as_dict``).
    landings: dict[str, Any] = field(default_factory=dict)
    #: Kills during recovery: how many, and where each landed.
    recovery_kills: dict[str, int] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        """No invariant broken (unknown counts as not broken, as in the audit)."""
        return all(check["status"] != "invalid" for check in self.checks)


class _Clients:
    """Client threads posting checkouts until the server stops answering."""

    def __init__(self, port: int, skus: int, max_quantity: int, rng: random.Random) -> None:
        self.port = port
        self.skus = skus
        self.max_quantity = max_quantity
        self.rng = rng
        self.lock = threading.Lock()
        self.answers: Counter[str] = Counter()
        #: Requests sent and never answered: a client retries these after a restart.
        self.unanswered: dict[str, bytes] = {}
        self.serial = 0

    def next_request(self, resend_probability: float) -> tuple[str, bytes]:
        """A resend of an unanswered request, or a new one (drawn under the lock)."""
        with self.lock:
            if self.unanswered and self.rng.random() < resend_probability:
                key = self.rng.choice(sorted(self.unanswered))
                return key, self.unanswered.pop(key)
            self.serial += 1
            sku = self.rng.randrange(self.skus)
            quantity = self.rng.randint(1, self.max_quantity)
            body = json.dumps({"sku": f"sku-{sku}", "quantity": quantity}).encode()
            return f"chaos-{self.serial}", body

    def run(self, stop: threading.Event, resend_probability: float) -> None:
        """One client's loop: post, record the answer, stop when the server is gone."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not stop.is_set():
            key, body = self.next_request(resend_probability)
            try:
                connection.request(
                    "POST",
                    "/checkout",
                    body,
                    {"Content-Type": "application/json", "Idempotency-Key": key},
                )
                response = connection.getresponse()
                payload = json.loads(response.read() or b"{}")
            except (OSError, http.client.HTTPException, ValueError):
                with self.lock:
                    self.unanswered[key] = body
                    self.answers["no_answer"] += 1
                break
            name = payload.get("status") if response.status == 200 else str(response.status)
            with self.lock:
                self.answers[str(name)] += 1
                if response.status == 409:
                    # Still running elsewhere (or stuck): try the key again later.
                    self.unanswered[key] = body
        connection.close()


def _start(command: Sequence[str], log: Path, timeout_s: float) -> tuple[subprocess.Popen, int]:
    """Start ``serve`` and wait for the port it announces on stderr."""
    with log.open("w") as handle:
        process = subprocess.Popen(
            list(command), stdout=subprocess.DEVNULL, stderr=handle, start_new_session=True
        )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        for line in text.splitlines():
            if line.startswith("serving on http://127.0.0.1:"):
                return process, int(line.rsplit(":", 1)[1])
        if process.poll() is not None:
            raise ChaosError(f"serve exited with {process.returncode}: {text.strip()[-500:]}")
        time.sleep(LOG_POLL_S)
    _kill(process)
    raise ChaosError(f"serve did not start within {timeout_s:.0f} s")


def _kill_during_recovery(
    command: Sequence[str], log: Path, delay_s: float, timeout_s: float
) -> str:
    """Start ``serve``, SIGKILL it ``delay_s`` after it says it is recovering; where it died.

    ``recovery`` when it died after recovery began and before it served,
    ``served`` when it was already serving, ``before`` when it never said it
    was recovering. Whether recovery was cut short with work left is read off
    the files afterwards (the sagas still open).
    """
    with log.open("w") as handle:
        process = subprocess.Popen(
            list(command), stdout=subprocess.DEVNULL, stderr=handle, start_new_session=True
        )
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            text = log.read_text(errors="replace")
            if "recovering unfinished sagas" in text or "serving on" in text:
                break
            if process.poll() is not None:
                raise ChaosError(f"serve exited with {process.returncode}: {text.strip()[-500:]}")
            time.sleep(LOG_POLL_S)
        else:
            raise ChaosError(f"serve did not start within {timeout_s:.0f} s")
        time.sleep(delay_s)
    finally:
        _kill(process)
    text = log.read_text(errors="replace")
    if "serving on" in text:
        return "served"
    return "recovery" if "recovering unfinished sagas" in text else "before"


def _recovery_kill(
    command: Sequence[str],
    log: Path,
    paths: StorePaths,
    rng: random.Random,
    options: ChaosOptions,
) -> Counter[str]:
    """One kill during recovery: where it died, and whether it left recovery's work undone."""
    delay = rng.uniform(0.0, options.recovery_window_s)
    where = _kill_during_recovery(command, log, delay, options.startup_timeout_s)
    left_open = sum(classify(paths.shop, paths.gateway).sagas.values())
    return Counter({where: 1, "cut_short": int(left_open > 0), "sagas_left_open": left_open})


def _kill(process: subprocess.Popen) -> None:
    """SIGKILL our own child, by pid, and reap it."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def _recovered(log: Path) -> dict[str, int]:
    """The start-up recovery counts ``serve`` printed, if any."""
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("recovered unfinished sagas: "):
            try:
                return json.loads(line.split(": ", 1)[1].replace("'", '"'))
            except ValueError:
                return {}
    return {}


def open_service(scenario_name: str, variant: Variant, db: Path) -> CheckoutService:
    """Reopen a run's store in this process, on the run's own clock."""
    settings = variant.settings
    paths = StorePaths.beside(db)
    runtime = ThreadRuntime(WallTime(time.time(), settings.real.time_scale))
    service = CheckoutService(settings, paths, runtime, meta={"scenario": scenario_name})
    origin = service.store.meta().get("origin_epoch")
    if origin is not None:
        # Timestamps, TTLs and leases are on the run's clock: keep it.
        runtime.time.origin = float(origin)  # type: ignore[attr-defined]
    return service


def audit_store(service: CheckoutService) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The server-side audit of a store with nothing in flight, and its headline counts."""
    facts = records.collect(service.store, service.ledger)
    checks = [
        audit.oversold(facts.orders, facts.stock),
        audit.duplicate_charges(facts.ledger),
        audit.orphan_payments(facts.ledger, facts.orders),
        audit.unpaid_orders(facts.ledger, facts.orders),
        audit.refunds_match_captures(facts.ledger),
        audit.stale_lease_writes(facts.grants, facts.writes),
    ]
    ledger = facts.ledger
    metrics = {
        "orders": len(facts.orders),
        "units_sold": int(facts.orders["quantity"].sum()) if len(facts.orders) else 0,
        "stock": int(sum(facts.stock)),
        "captures": len(ledger),
        "refunds": int(ledger["refunded_s"].notna().sum()),
        "unfinished_sagas": int(facts.counters.get("unfinished_sagas", 0)),
    }
    return [records.check_json(check) for check in checks], metrics


def run_chaos(
    scenario: str, scenario_name: str, variant: Variant, directory: Path, options: ChaosOptions
) -> ChaosResult:
    """Kill ``serve`` ``options.kills`` times under load, recover, and audit."""
    started = time.monotonic()
    rng = random.Random(f"{options.seed}-{variant.name}")
    db = directory / f"{variant.name}.sqlite"
    command = [sys.executable, "-m", "checkoutsim", "serve", scenario, "--variant", variant.name]
    command += ["--port", "0", "--db", str(db), "--seed", str(options.seed)]
    for override in options.overrides:
        command += ["--set", override]
    catalog = variant.settings.catalog
    paths = StorePaths.beside(db)
    # The other providers' ledgers, beside the primary's, in the scenario's order.
    others = [provider_path(paths.gateway, name) for name in variant.settings.gateways.names()[1:]]
    answers: Counter[str] = Counter()
    recovered: Counter[str] = Counter()
    landings = Landings()
    in_recovery: Counter[str] = Counter()
    # Restart k (after kill k) is killed schedule[k] times while it recovers.
    schedule = Counter(1 + index % options.kills for index in range(options.recovery_kills))
    pending: dict[str, bytes] = {}
    serial = 0
    for kill in range(options.kills):
        for again in range(schedule[kill]):
            log = directory / f"{variant.name}-recovery-{kill}-{again}.log"
            in_recovery.update(_recovery_kill(command, log, paths, rng, options))
        log = directory / f"{variant.name}-serve-{kill}.log"
        process, port = _start(command, log, options.startup_timeout_s)
        recovered.update(_recovered(log))
        clients = _Clients(port, catalog.skus, min(catalog.max_quantity, 3), rng)
        clients.unanswered, clients.serial = pending, serial
        stop = threading.Event()
        threads = [
            threading.Thread(target=clients.run, args=(stop, options.resend_probability))
            for _ in range(options.clients)
        ]
        for thread in threads:
            thread.start()
        time.sleep(rng.uniform(*options.load_s))
        _kill(process)
        stop.set()
        # Read before the next start's recovery touches the files.
        landings.add(classify(paths.shop, paths.gateway, others))
        for thread in threads:
            thread.join(timeout=35)
        answers.update(clients.answers)
        pending, serial = clients.unanswered, clients.serial
    for again in range(schedule[options.kills]):
        # The last restart's kills: the final pass below then recovers.
        log = directory / f"{variant.name}-recovery-{options.kills}-{again}.log"
        in_recovery.update(_recovery_kill(command, log, paths, rng, options))
    service = open_service(scenario_name, variant, db)
    try:
        final = service.recover()
        checks, metrics = audit_store(service)
    finally:
        service.close()
    return ChaosResult(
        variant=variant.name,
        safe=is_safe(variant),
        kills=options.kills,
        answers=dict(answers),
        recovered_at_start=dict(recovered),
        final_recovery=final,
        checks=checks,
        metrics=metrics,
        wall_s=time.monotonic() - started,
        landings=landings.as_dict(),
        recovery_kills={"kills": options.recovery_kills, **in_recovery},
    )
