"""The typed, validated shape of a scenario's settings (pydantic, frozen, no extra keys).

Every section of a scenario file maps to one model here. Unknown keys, wrong
types and out-of-range values are rejected; ``checkoutsim.scenario.files`` turns those
rejections into one-line errors naming the file, the field and the value.
pydantic was chosen over hand-written dataclass validation because it gives
per-field locations, type coercion rules and range checks for free.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import (
    AllowInfNan,
    Field,
    Strict,
    field_validator,
    model_validator,
)

from checkoutsim.scenario.cache import Cache
from checkoutsim.scenario.faults import Brownout, Faults, Outage, Service
from checkoutsim.scenario.gateways import Gateways
from checkoutsim.scenario.limits import (
    MAX_CHECKOUTS,
    MAX_SIMULATED_S,
    MAX_TIER_CUSTOMERS,
    run_problems,
)
from checkoutsim.scenario.money import Money
from checkoutsim.scenario.sections import Breaker, Latency, Section
from checkoutsim.scenario.server import Server

# Re-exported: the fault schedule moved to its own module; callers import it from here.
__all__ = ["Breaker", "Brownout", "Faults", "Latency", "Outage", "Section", "Service"]

InventoryStrategy = Literal[
    "naive",
    "lock_ttl",
    "fenced",
    "optimistic",
    "atomic",
    "check_then_decrement",
    "decrement_then_check",
    "select_for_update",
    "mutex",
    "stock_buckets",
    "queue_per_sku",
]
PaymentStrategy = Literal["no_key", "check_then_charge", "key_first"]


#: A finite float that is not a string, a bool or anything else coerced into one.
FiniteFloat = Annotated[float, Strict(), AllowInfNan(False)]


class Load(Section):
    """The open-model arrival process of checkout intents."""

    rate_per_s: float = Field(50.0, gt=0, le=1_000_000)
    #: Piecewise-constant rates as ``[[start_s, rate_per_s], ...]``; overrides rate_per_s.
    #: (A TOML array is a list: each step is read as a pair of strict finite numbers.)
    piecewise: list[Annotated[tuple[FiniteFloat, FiniteFloat], Strict(False)]] = Field(
        default_factory=list, max_length=10_000
    )
    #: Upper bound on the arrivals a run may generate, so a typo cannot run forever.
    max_arrivals: int = Field(20_000_000, ge=1, le=1_000_000_000)
    burst_at_s: float = Field(0.0, ge=0, le=MAX_SIMULATED_S)
    burst_size: int = Field(0, ge=0, le=MAX_CHECKOUTS)
    duration_s: float = Field(60.0, gt=0, le=MAX_SIMULATED_S)
    #: Time after the last arrival for in-flight work (and sweeps) to finish.
    drain_s: float = Field(60.0, ge=0, le=MAX_SIMULATED_S)

    @model_validator(mode="after")
    def _piecewise_sorted(self) -> Load:
        starts = [start for start, _ in self.piecewise]
        if starts != sorted(starts) or any(rate < 0 or start < 0 for start, rate in self.piecewise):
            raise ValueError("piecewise must be [[start_s, rate_per_s], ...] sorted, non-negative")
        if any(rate > 1_000_000 for _, rate in self.piecewise):
            raise ValueError("piecewise rates must be at most 1,000,000 per second")
        late = [start for start in starts if start >= self.duration_s]
        if late:
            raise ValueError(
                f"piecewise step at {late[0]:g} s starts at or after duration_s "
                f"({self.duration_s:g} s), so it would never run"
            )
        if self.burst_size > 0 and self.burst_at_s >= self.duration_s:
            raise ValueError(
                f"burst_at_s ({self.burst_at_s:g}) is at or after duration_s "
                f"({self.duration_s:g}), so the burst would never arrive"
            )
        expected = self.expected_arrivals()
        limit = min(self.max_arrivals, MAX_CHECKOUTS)
        if not math.isfinite(expected) or expected > limit:
            bound = "the limit" if limit == MAX_CHECKOUTS else "max_arrivals"
            raise ValueError(
                f"rate_per_s x duration_s (piecewise and burst_size included) would start "
                f"about {expected:,.0f} checkouts, more than {limit:,} ({bound}); "
                "shorten the load or lower its rate"
            )
        return self

    def expected_arrivals(self) -> float:
        """The mean number of checkouts the arrival process starts."""
        segments = list(self.piecewise) or [(0.0, self.rate_per_s)]
        total = float(self.burst_size)
        for index, (start, rate) in enumerate(segments):
            end = segments[index + 1][0] if index + 1 < len(segments) else self.duration_s
            total += rate * max(0.0, min(end, self.duration_s) - start)
        return total


class Catalog(Section):
    """What is for sale."""

    skus: int = Field(1, ge=1, le=1_000_000)
    stock_per_sku: int = Field(100, ge=0, le=1_000_000_000)
    max_quantity: int = Field(1, ge=1, le=1000)
    price: int = Field(100, ge=1, le=1_000_000_000)
    #: Share of checkouts that go to the first ``hot_skus`` SKUs.
    hot_share: float = Field(0.0, ge=0, le=1)
    hot_skus: int = Field(1, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _hot_within_catalog(self) -> Catalog:
        if self.hot_skus > self.skus:
            raise ValueError(f"hot_skus ({self.hot_skus}) is more than skus ({self.skus})")
        return self


class Shopper(Section):
    """How shoppers behave at the Pay button."""

    double_click_probability: float = Field(0.0, ge=0, le=1)
    #: Mean gap between the two clicks (exponentially distributed).
    double_click_gap_s: float = Field(0.2, ge=0, le=3600)
    timeout_s: float = Field(10.0, gt=0, le=86_400)
    retries_on_timeout: int = Field(0, ge=0, le=100)
    #: Does a retry after a time-out reuse the first request's idempotency key?
    retry_same_key: bool = True
    #: Probability that a shopper who timed out leaves instead of retrying.
    abandon_probability: float = Field(0.0, ge=0, le=1)


class InventoryCosts(Section):
    """What each kind of inventory operation costs the model, on its kind of store.

    A cost left unset is the inventory's ``query`` latency, which every call
    cost before costs were told apart: scenarios that set none keep their numbers.
    Fill them from measurements of a system to describe that system.
    """

    #: A ``SELECT`` of the row (or a ``GET``).
    read: Latency | None = None
    #: An unconditional write: a blind write-back, a relative decrement, ``DECR``,
    #: a give-back, a release of a reservation.
    write: Latency | None = None
    #: A conditional write (compare-and-set, ``UPDATE ... WHERE available >= q``),
    #: and each statement of a ``SELECT ... FOR UPDATE`` transaction.
    conditional_write: Latency | None = None
    #: One round trip to the lock service (take or release a lease).
    lock: Latency | None = None
    #: The hop to a per-SKU queue's consumer and back.
    queue: Latency | None = None
    #: An in-memory check or an in-process lock's take or release (seconds).
    in_memory_s: float = Field(0.0, ge=0, le=60)
    #: The application's time between a check and the write it decides (seconds).
    check_gap_s: float = Field(0.0, ge=0, le=60)


class Inventory(Section):
    """The inventory service and its reservation strategy."""

    strategy: InventoryStrategy = "atomic"
    workers: int = Field(16, ge=1, le=100_000)
    query: Latency = Latency()
    #: The caller's time-out on an inventory call (what a hung service costs).
    timeout_s: float = Field(2.0, gt=0, le=3600)
    #: While the service is down: refuse checkouts (consistency) or sell blind.
    when_down: Literal["reject", "accept"] = "reject"
    lock_ttl_s: float = Field(5.0, gt=0, le=86_400)
    lock_wait_s: float = Field(2.0, ge=0, le=86_400)
    optimistic_retries: int = Field(3, ge=0, le=1000)
    optimistic_backoff_s: float = Field(0.002, ge=0, le=60)
    #: Does the stock row carry ``CHECK (available >= 0)``? Then a write that
    #: would take it below zero fails, and its shopper gets an error.
    check_constraint: bool = False
    #: Rows the ``stock_buckets`` strategy splits each SKU's stock over.
    buckets: int = Field(1, ge=1, le=10_000)
    #: Serving processes (each has its own in-process ``mutex``); the model sends
    #: shopper n to process n mod processes, as a round-robin balancer would.
    processes: int = Field(1, ge=1, le=1000)
    costs: InventoryCosts = InventoryCosts()


class Payment(Section):
    """The shop's payment service: idempotency strategy and retries."""

    strategy: PaymentStrategy = "key_first"
    retries: int = Field(2, ge=0, le=100)
    backoff_base_s: float = Field(0.2, ge=0, le=3600)
    backoff_cap_s: float = Field(2.0, ge=0, le=86_400)
    query: Latency = Latency()


class Gateway(Section):
    """The payment gateway: latency, failures, and its own idempotency keys."""

    latency: Latency = Latency(p50_s=0.3, p99_s=2.0)
    decline_rate: float = Field(0.0, ge=0, le=1)
    error_rate: float = Field(0.0, ge=0, le=1)
    #: Probability that a capture happens but its response never arrives.
    lost_response_rate: float = Field(0.0, ge=0, le=1)
    #: The shop's read timeout on a gateway call; the capture may still happen later.
    timeout_s: float = Field(10.0, gt=0, le=86_400)


class Order(Section):
    """The order service."""

    latency: Latency = Latency(p50_s=0.01, p99_s=0.05)
    failure_rate: float = Field(0.0, ge=0, le=1)
    #: How long a call waits for an answer; a hung order service costs this much.
    timeout_s: float = Field(5.0, gt=0, le=3600)


class Saga(Section):
    """Compensations, order retries, reservation expiry and the orphan sweeper."""

    compensation: Literal["none", "refund_only", "saga", "refund_then_retry"] = "saga"
    order_retries: int = Field(3, ge=0, le=1000)
    order_backoff_base_s: float = Field(0.5, ge=0, le=3600)
    order_backoff_cap_s: float = Field(5.0, ge=0, le=86_400)
    reservation_ttl_s: float = Field(600.0, gt=0, le=10_000_000)
    on_expired_reservation: Literal["oversell", "refund"] = "refund"
    #: Seconds between orphan-sweeper passes; 0 turns the sweeper off.
    sweeper_interval_s: float = Field(0.0, ge=0, le=86_400)
    sweeper_min_age_s: float = Field(60.0, ge=0, le=86_400)


class Objective(Section):
    """What the scenario asks of a variant besides safety: every verdict judges it.

    ``served_rate`` is the least share of checkouts that must end as the shop
    means them to: ordered, or told the item is sold out (selling out is the
    shop working). ``latency_p99_s`` is the most the 99th percentile of the
    shoppers' waits may be. ``recovery_s``, judged only where the scenario has
    a fault window, is the longest the shop may take after a window ends to
    serve a new shopper again (the ``recovery_s`` metric); unset, recovery is
    reported but not judged. A sweep looks for the knee of the first two.
    """

    served_rate: float = Field(0.99, ge=0, le=1)
    latency_p99_s: float = Field(2.0, gt=0, le=86_400)
    recovery_s: float | None = Field(None, gt=0, le=86_400)

    @property
    def failure_rate(self) -> float:
        """The most a sweep's ``failure_rate`` (1 - served share) may be."""
        return round(1.0 - self.served_rate, 12)


class Real(Section):
    """Knobs of the real implementation when Locust drives it."""

    #: Injected delays (gateway latency, time-outs, TTLs, back-offs, outage windows)
    #: are multiplied by this; database work is real and never scaled.
    time_scale: float = Field(0.05, gt=0, le=1)
    #: An extra round trip added to every store call, to model a remote database.
    store_round_trip_s: float = Field(0.0, ge=0, le=1)
    #: Wall-clock length of a load test unless ``--run-time`` says otherwise.
    run_time_s: float = Field(10.0, gt=0, le=86_400)
    #: Concurrent Locust users (greenlets) that carry the open-model schedule.
    users: int = Field(64, ge=1, le=100_000)
    #: Longest a lock waiter sleeps (wall seconds) before looking again; a release in
    #: the same process wakes it at once, one in another process is seen by polling.
    lock_poll_s: float = Field(0.02, gt=0, le=10)
    #: Threads for the service's database work other than inventory calls (those
    #: get ``inventory.workers`` threads of their own, like the model's workers).
    #: The model does not pool that work at all, so there are enough threads not
    #: to cap how many sagas run at once (idle threads cost nothing).
    service_threads: int = Field(64, ge=1, le=1024)
    #: Keep each process that serves checkouts on one core (where the platform
    #: allows): its threads then hand the GIL to one another without waking a
    #: thread on another core each time (``checkoutsim.load.affinity``).
    one_core_per_process: bool = True
    #: Where a load test's throw-away databases go; empty means RAM-backed
    #: ``/dev/shm`` when the machine has it (no disk flushes), else the temp folder.
    store_dir: str = Field("", max_length=4096)

    @field_validator("store_dir")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("a path cannot contain a NUL byte")
        return value


class Breakers(Section):
    """Breakers in front of the payment gateway and the inventory service."""

    gateway: Breaker = Breaker()
    inventory: Breaker = Breaker()


class Queue(Section):
    """The Kafka-like payment retry queue (off unless ``enabled``)."""

    enabled: bool = False
    partitions: int = Field(8, ge=1, le=10_000)
    max_attempts: int = Field(8, ge=1, le=1000)
    backoff_base_s: float = Field(1.0, ge=0, le=3600)
    backoff_cap_s: float = Field(30.0, ge=0, le=86_400)


class Transaction(Section):
    """Saga, two-phase commit or one local transaction; how many coordinators share the load.

    ``local_transaction`` is the MVP's one service on one database: the
    reservation and the pending order in one transaction, then the payment,
    then the order marked paid (``checkoutsim.policy.local``).
    """

    protocol: Literal["saga", "two_phase_commit", "local_transaction"] = "saga"
    #: A coordinator crash hits the transactions of one coordinator in this many.
    coordinators: int = Field(4, ge=1, le=10_000)
    #: 2PC: how long a transaction waits for a participant's lock before aborting.
    lock_wait_s: float = Field(10.0, ge=0, le=86_400)


class Scale(Section):
    """A scale scenario: a daily volume sized by the capacity model, then simulated.

    Off while ``orders_per_day`` is 0. ``assumptions`` overrides the capacity
    model's assumptions by name (``app.service_time_s = 0.05``).
    """

    orders_per_day: float = Field(0.0, ge=0, le=1e12)
    peak_factor: float | None = Field(None, gt=0, le=1000)
    #: Customers simulated per tier's queue (more is slower and more precise).
    customers_per_tier: int = Field(200_000, ge=1000, le=MAX_TIER_CUSTOMERS)
    assumptions: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _plannable(self) -> Scale:
        # Check the capacity model accepts the volume and the assumptions now,
        # so a bad one is a validation error, not a failure half-way in a run.
        if self.orders_per_day > 0:
            from checkoutsim.capacity.plan import CapacityError, plan

            try:
                plan(self.orders_per_day, self.peak_factor, self.assumptions)
            except CapacityError as error:
                raise ValueError(str(error)) from None
        return self


class Settings(Section):
    """Everything a single variant of a scenario runs with."""

    load: Load = Load()
    catalog: Catalog = Catalog()
    shopper: Shopper = Shopper()
    inventory: Inventory = Inventory()
    payment: Payment = Payment()
    gateway: Gateway = Gateway()
    #: More payment gateways and the routing among them (``checkoutsim.scenario.gateways``).
    gateways: Gateways = Gateways()
    order: Order = Order()
    saga: Saga = Saga()
    objective: Objective = Objective()
    breakers: Breakers = Breakers()
    queue: Queue = Queue()
    faults: Faults = Faults()
    transaction: Transaction = Transaction()
    scale: Scale = Scale()
    real: Real = Real()
    cache: Cache = Cache()
    money: Money = Money()
    #: A fixed pool of request threads, held by each request start to answer (0: none).
    server: Server = Server()

    @model_validator(mode="after")
    def _within_limits(self) -> Settings:
        # Limits that span sections (load x saga x shopper): the work a run may do.
        problems = run_problems(self)
        if problems:
            raise ValueError(problems[0])
        if self.queue.enabled and self.gateways.routing != "primary_only":
            # The queue's consumer charges the primary: a payment routed to
            # another provider would be charged at a second one.
            raise ValueError(
                f"the retry queue charges the primary only: gateways.routing must be"
                f" 'primary_only' with queue.enabled, not {self.gateways.routing!r}"
            )
        routed = self.gateways.routing != "primary_only"
        if self.transaction.protocol == "two_phase_commit" and routed:
            # 2PC authorizes and captures at the primary: routing it elsewhere is not modelled.
            raise ValueError(
                f"two-phase commit charges the primary only: gateways.routing must be"
                f" 'primary_only' with transaction.protocol = 'two_phase_commit',"
                f" not {self.gateways.routing!r}"
            )
        return self
