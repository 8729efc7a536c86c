"""Shoppers: open-model arrivals, double clicks, client time-outs, retries, abandonment.

Arrivals follow the scenario's Poisson process (constant or piecewise rate,
plus an optional burst) whatever the system does, so a slow checkout piles up
work the way a real flash sale does. Each arrival is one checkout *intent*; a
double click or a retry is another request of the same intent.
"""

from __future__ import annotations

import dataclasses
import random

import simpy

from checkoutsim.policy.inventory import InventoryPolicy, expire, gives_back_under_lock
from checkoutsim.policy.ops import UNAVAILABLE
from checkoutsim.policy.request_keys import KEYED_STRATEGIES
from checkoutsim.policy.saga import CheckoutRequest, Outcome, Policies
from checkoutsim.policy.stock_cache import checkout_after_page
from checkoutsim.policy.two_phase import protocol_checkout
from checkoutsim.scenario.settings import Settings
from checkoutsim.sim import SimStep, task
from checkoutsim.sim.engine import Engine
from checkoutsim.sim.intents import OUTCOME_CODES, TIMED_OUT_CODE, IntentTable
from checkoutsim.sim.loop import sleep
from checkoutsim.sim.pool import WorkerPool
from checkoutsim.sim.requests import keyed_checkout
from checkoutsim.world.arrivals import arrival_times


class Shoppers:
    """Generates intents and plays each shopper's clicks against the engine."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        policies: Policies,
        streams: dict[str, random.Random],
    ) -> None:
        self.engine = engine
        self.env = engine.env
        self.settings = settings
        self.policies = policies
        self.intents = IntentTable()
        self.in_flight = 0
        self._arrival_rng = streams["arrivals"]
        self._shopper_rng = streams["shoppers"]
        self._policy_rng = streams["policy"]
        self._abandon_rng = streams["abandon"]
        # The settings each intent reads, looked up once: a flash sale starts
        # thousands of intents, and each look-up through the settings'
        # sections cost more than the arithmetic it feeds.
        catalog = settings.catalog
        shopper = settings.shopper
        self._hot = catalog.hot_share > 0 and catalog.hot_skus < catalog.skus
        self._skus = catalog.skus
        self._max_quantity = catalog.max_quantity
        self._price = catalog.price
        self._double_click_probability = shopper.double_click_probability
        self._double_click_rate = (
            1.0 / shopper.double_click_gap_s if shopper.double_click_gap_s else 0.0
        )
        self._timeout_s = shopper.timeout_s
        self._retries = shopper.retries_on_timeout
        self._page_view = settings.cache.page_view
        self._protocol = settings.transaction.protocol
        # The payment strategy's key rules at the API's door, or None (``no_key``:
        # every request runs, no request table), as in the real body.
        strategy = settings.payment.strategy
        self._key_rules = strategy if strategy in KEYED_STRATEGIES else None
        self._lock_wait_s = settings.transaction.lock_wait_s
        # A fixed pool of request threads ([server]), or None: no line before the work.
        threads = settings.server.threads
        self._threads = WorkerPool(self.env, threads) if threads else None
        # The server's own work before each request's check ([server] acceptors, accept_s).
        server = settings.server
        self._accept_s, self._respond_s = server.accept_s, server.respond_s
        door = server.acceptors and (server.accept_s > 0 or server.respond_s > 0)
        self._door = WorkerPool(self.env, server.acceptors) if door else None
        # Without coordinator crashes a checkpoint can never stall: the
        # checkouts then yield none (``Policies.checkpoints``).
        checkpoints = engine.coordinators_can_crash
        if checkpoints != policies.checkpoints:
            self.policies = dataclasses.replace(policies, checkpoints=checkpoints)

    def arrivals(self) -> SimStep:
        """The arrival process: start an intent at each arrival instant."""
        env = self.env
        for when in arrival_times(self.settings, self._arrival_rng):
            now = env.now
            if when > now:
                yield sleep(env, when - now)
            self._start_intent()

    def _start_intent(self) -> None:
        rng = self._shopper_rng
        if self._hot and rng.random() < self.settings.catalog.hot_share:
            sku = rng.randrange(self.settings.catalog.hot_skus)
        else:
            sku = rng.randrange(self._skus)
        quantity = rng.randint(1, self._max_quantity) if self._max_quantity > 1 else 1
        double = rng.random() < self._double_click_probability
        gap = 0.0
        if self._double_click_rate:
            if double:
                gap = rng.expovariate(self._double_click_rate)
            else:
                # The gap is drawn for every intent, so that the stream stays the
                # same whoever double-clicks; unused, its one uniform draw
                # (what ``expovariate`` consumes) is all it needs to be.
                rng.random()
        now = self.env.now
        intent = self.intents.add(now, sku, quantity)
        self._start_request(intent, 0, True)
        if double:
            self.intents.clicks[intent] = 2
            self.env.timeout(gap).callbacks.append(lambda _: self._start_request(intent, 0, False))

    def _start_request(self, intent: int, attempt: int, primary: bool) -> None:
        same_key = attempt == 0 or self.settings.shopper.retry_same_key
        key = f"i{intent}" if same_key else f"i{intent}r{attempt}"
        task.start(
            self._request(intent, key),
            lambda outcome: self._answer(intent, attempt, primary, outcome),
        )
        # Without retries a time-out changes nothing but what the shopper is
        # told, which ``_answer`` works out on completion: no timer needed.
        if primary and self._retries > 0:
            self.env.timeout(self._timeout_s).callbacks.append(
                lambda _: self._on_timeout(intent, attempt)
            )

    def _request(self, intent: int, key: str) -> SimStep:
        """One request's checkout, driven by the engine (its outcome goes to ``_answer``)."""
        intents = self.intents
        quantity = intents.quantity[intent]
        sku = intents.sku[intent]
        request = CheckoutRequest(intent, sku, quantity, quantity * self._price, key)
        self.in_flight += 1
        intents.running[intent] += 1
        steps = protocol_checkout(
            request, self.policies, self._policy_rng, self._protocol, self._lock_wait_s
        )
        if self._page_view:
            # The product page first: a shopper it shows sold out does not check out.
            steps = checkout_after_page(
                self.settings.cache.policy(), intent, sku, quantity, steps, Outcome.SOLD_OUT
            )
        if self._key_rules is not None:
            # A duplicate the door answers (a replay, or 409 while the first
            # runs) never reaches the saga: it reserves nothing to give back.
            self.engine.requests.intent_of[key] = intent
            steps = keyed_checkout(self._key_rules, key, sku, quantity, steps)
        request = self.engine.drive(steps)
        if self._threads is not None:
            request = self._on_a_thread(request, self._threads)
        if self._door is not None:
            request = self._through_the_door(request, self._door)
        return request

    def _through_the_door(self, request: SimStep, door: WorkerPool) -> SimStep:
        """The server's own work around ``request``: one of ``acceptors`` for
        ``accept_s`` in line at the door (first come, first served), the request's
        work, then, unless it was sold out, one for ``respond_s`` at its answer,
        ahead of that line."""
        yield from self._at_the_door(door, self._accept_s, False)
        outcome = yield from request
        if outcome is not Outcome.SOLD_OUT:
            yield from self._at_the_door(door, self._respond_s, True)
        return outcome

    def _at_the_door(self, door: WorkerPool, service_s: float, first: bool) -> SimStep:
        """Hold one of the door's places for ``service_s`` (``first``: ahead of the line)."""
        if service_s <= 0:
            return
        handoff = door.acquire(service_s, first=first)
        # Queued, the handoff fires once the service is over; a free place is
        # taken at once and the service is waited here.
        yield handoff if handoff is not None else sleep(self.env, service_s)
        door.release()

    @staticmethod
    def _on_a_thread(request: SimStep, threads: WorkerPool) -> SimStep:
        """Run ``request`` once a request thread is free, holding it until the answer.

        The request's work (its check included) starts only when a thread picks
        it up, as on a thread-pool web server; a shopper who timed out meanwhile
        does not take it out of the line, since the server cannot tell.
        """
        handoff = threads.acquire()
        if handoff is not None:
            yield handoff
        try:
            return (yield from request)
        finally:
            threads.release()

    def _answer(self, intent: int, attempt: int, primary: bool, outcome: Outcome) -> None:
        """A request has ended: tell the shopper, if it is still the one waited on."""
        self.in_flight -= 1
        intents = self.intents
        intents.running[intent] -= 1
        waited_on = intents.current_attempt[intent] == attempt
        if primary and intents.answered_s[intent] < 0 and waited_on:
            now = self.env.now
            gave_up_at = intents.arrival_s[intent] + self._timeout_s
            if now > gave_up_at and self._retries == 0:
                intents.told[intent] = TIMED_OUT_CODE
                intents.answered_s[intent] = gave_up_at
            else:
                intents.told[intent] = OUTCOME_CODES[outcome]
                intents.answered_s[intent] = now

    def _on_timeout(self, intent: int, attempt: int) -> None:
        """The shopper's client gives up on a request; maybe retry, maybe leave."""
        intents = self.intents
        if intents.answered_s[intent] >= 0 or intents.current_attempt[intent] != attempt:
            return
        shopper = self.settings.shopper
        leaves = self._abandon_rng.random() < shopper.abandon_probability
        if attempt < shopper.retries_on_timeout and not leaves:
            intents.current_attempt[intent] = attempt + 1
            intents.attempts[intent] += 1
            self._start_request(intent, attempt + 1, primary=True)
        else:
            intents.told[intent] = TIMED_OUT_CODE
            intents.answered_s[intent] = self.env.now


def expire_due(engine: Engine, guard: InventoryPolicy | None) -> int:
    """Return the reservations past their TTL to stock; how many went back at once.

    With no lock to take (``gives_back_under_lock``), all at once, as one
    UPDATE. Under a lock, each due reservation's give-back (``expire``) runs
    as its own process, waiting for the lock and paying its queries, as any
    other writer of the row must: those land later and are not counted here.
    """
    env = engine.env
    if not gives_back_under_lock(guard):
        return engine.shop.expire_due(env.now)
    for reservation_id, sku in engine.shop.take_due(env.now):
        env.process(_expire_one(engine, guard, reservation_id, sku))
    return 0


def _expire_one(engine: Engine, guard: InventoryPolicy, reservation_id: int, sku: int) -> SimStep:
    """One reaper give-back; handed back to the reaper if the inventory was down."""
    expired = yield from engine.drive(expire(guard, reservation_id, sku))
    if expired is UNAVAILABLE:
        engine.shop.due_again(reservation_id)


def reservation_reaper(
    env: simpy.Environment, engine: Engine, tick_s: float, guard: InventoryPolicy | None = None
) -> SimStep:
    """Return expired reservations to stock every ``tick_s`` simulated seconds.

    ``guard``: the rules give-backs follow (``give_back_policy``).
    """
    while True:
        yield env.timeout(tick_s)
        expire_due(engine, guard)
