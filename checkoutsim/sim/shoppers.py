"""Shoppers: open-model arrivals, double clicks, client time-outs, retries, abandonment.

Arrivals follow the scenario's Poisson process (constant or piecewise rate,
plus an optional burst) whatever the system does, so a slow checkout piles up
work the way a real flash sale does. Each arrival is one checkout *intent*; a
double click or a retry is another request of the same intent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import simpy

from checkoutsim.policy.saga import CheckoutRequest, Outcome, Policies
from checkoutsim.policy.stock_cache import checkout_after_page
from checkoutsim.policy.two_phase import protocol_checkout
from checkoutsim.scenario.settings import Settings
from checkoutsim.sim import SimStep, task
from checkoutsim.sim.engine import Engine
from checkoutsim.world.arrivals import arrival_times

TIMED_OUT = "timed_out"
IN_FLIGHT = "in_flight"


@dataclass(slots=True)
class Intent:
    """One shopper's checkout intent and what the shopper saw of it."""

    intent_id: int
    arrival_s: float
    sku: int
    quantity: int
    clicks: int = 1
    attempts: int = 1
    told: str = IN_FLIGHT
    answered_s: float = -1.0
    current_attempt: int = 0
    #: Requests of this intent still running (a saga can outlive the shopper's wait).
    running: int = 0


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
        self.intents: list[Intent] = []
        self.in_flight = 0
        self._arrival_rng = streams["arrivals"]
        self._shopper_rng = streams["shoppers"]
        self._policy_rng = streams["policy"]
        self._abandon_rng = streams["abandon"]
        catalog = settings.catalog
        self._hot = catalog.hot_share > 0 and catalog.hot_skus < catalog.skus

    def arrivals(self) -> SimStep:
        """The arrival process: start an intent at each arrival instant."""
        env = self.env
        for when in arrival_times(self.settings, self._arrival_rng):
            if when > env.now:
                yield env.timeout(when - env.now)
            self._start_intent()

    def _start_intent(self) -> None:
        catalog = self.settings.catalog
        shopper = self.settings.shopper
        rng = self._shopper_rng
        if self._hot and rng.random() < catalog.hot_share:
            sku = rng.randrange(catalog.hot_skus)
        else:
            sku = rng.randrange(catalog.skus)
        quantity = rng.randint(1, catalog.max_quantity) if catalog.max_quantity > 1 else 1
        double = rng.random() < shopper.double_click_probability
        gap = rng.expovariate(1.0 / shopper.double_click_gap_s) if shopper.double_click_gap_s else 0
        intent = Intent(len(self.intents), self.env.now, sku, quantity)
        self.intents.append(intent)
        self._start_request(intent, attempt=0, primary=True)
        if double:
            intent.clicks = 2
            self.env.timeout(gap).callbacks.append(
                lambda _: self._start_request(intent, attempt=0, primary=False)
            )

    def _start_request(self, intent: Intent, attempt: int, primary: bool) -> None:
        shopper = self.settings.shopper
        same_key = attempt == 0 or shopper.retry_same_key
        key = f"i{intent.intent_id}" if same_key else f"i{intent.intent_id}r{attempt}"
        task.start(self._request(intent, attempt, primary, key))
        # Without retries a time-out changes nothing but what the shopper is
        # told, which ``_request`` works out on completion: no timer needed.
        if primary and shopper.retries_on_timeout > 0:
            self.env.timeout(shopper.timeout_s).callbacks.append(
                lambda _: self._on_timeout(intent, attempt)
            )

    def _request(self, intent: Intent, attempt: int, primary: bool, key: str) -> SimStep:
        request = CheckoutRequest(
            intent.intent_id,
            intent.sku,
            intent.quantity,
            intent.quantity * self.settings.catalog.price,
            key,
        )
        self.in_flight += 1
        intent.running += 1
        transaction = self.settings.transaction
        steps = protocol_checkout(
            request, self.policies, self._policy_rng, transaction.protocol, transaction.lock_wait_s
        )
        cache = self.settings.cache
        if cache.page_view:
            # The product page first: a shopper it shows sold out does not check out.
            steps = checkout_after_page(
                cache.policy(),
                intent.intent_id,
                intent.sku,
                intent.quantity,
                steps,
                Outcome.SOLD_OUT,
            )
        outcome = yield from self.engine.drive(steps)
        self.in_flight -= 1
        intent.running -= 1
        if primary and intent.answered_s < 0 and intent.current_attempt == attempt:
            gave_up_at = intent.arrival_s + self.settings.shopper.timeout_s
            if self.env.now > gave_up_at and self.settings.shopper.retries_on_timeout == 0:
                intent.told = TIMED_OUT
                intent.answered_s = gave_up_at
            else:
                intent.told = outcome.value
                intent.answered_s = self.env.now

    def _on_timeout(self, intent: Intent, attempt: int) -> None:
        """The shopper's client gives up on a request; maybe retry, maybe leave."""
        if intent.answered_s >= 0 or intent.current_attempt != attempt:
            return
        shopper = self.settings.shopper
        leaves = self._abandon_rng.random() < shopper.abandon_probability
        if attempt < shopper.retries_on_timeout and not leaves:
            intent.current_attempt = attempt + 1
            intent.attempts += 1
            self._start_request(intent, attempt + 1, primary=True)
        else:
            intent.told = TIMED_OUT
            intent.answered_s = self.env.now


def reservation_reaper(env: simpy.Environment, engine: Engine, tick_s: float) -> SimStep:
    """Return expired reservations to stock every ``tick_s`` simulated seconds."""
    while True:
        yield env.timeout(tick_s)
        engine.shop.expire_due(env.now)
