"""Shoppers: open-model arrivals, double clicks, client time-outs, retries, abandonment.

Arrivals follow the scenario's Poisson process (constant or piecewise rate,
plus an optional burst) whatever the system does, so a slow checkout piles up
work the way a real flash sale does. Each arrival is one checkout *intent*; a
double click or a retry is another request of the same intent.
"""

from __future__ import annotations

import random

import simpy

from checkoutsim.policy.saga import CheckoutRequest, Outcome, Policies
from checkoutsim.policy.stock_cache import checkout_after_page
from checkoutsim.policy.two_phase import protocol_checkout
from checkoutsim.scenario.settings import Settings
from checkoutsim.sim import SimStep, task
from checkoutsim.sim.engine import Engine
from checkoutsim.sim.intents import OUTCOME_CODES, TIMED_OUT_CODE, IntentTable
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
        intent = self.intents.add(self.env.now, sku, quantity)
        self._start_request(intent, attempt=0, primary=True)
        if double:
            self.intents.clicks[intent] = 2
            self.env.timeout(gap).callbacks.append(
                lambda _: self._start_request(intent, attempt=0, primary=False)
            )

    def _start_request(self, intent: int, attempt: int, primary: bool) -> None:
        shopper = self.settings.shopper
        same_key = attempt == 0 or shopper.retry_same_key
        key = f"i{intent}" if same_key else f"i{intent}r{attempt}"
        task.start(self._request(intent, attempt, primary, key))
        # Without retries a time-out changes nothing but what the shopper is
        # told, which ``_request`` works out on completion: no timer needed.
        if primary and shopper.retries_on_timeout > 0:
            self.env.timeout(shopper.timeout_s).callbacks.append(
                lambda _: self._on_timeout(intent, attempt)
            )

    def _request(self, intent: int, attempt: int, primary: bool, key: str) -> SimStep:
        intents = self.intents
        quantity = intents.quantity[intent]
        request = CheckoutRequest(
            intent, intents.sku[intent], quantity, quantity * self.settings.catalog.price, key
        )
        self.in_flight += 1
        intents.running[intent] += 1
        transaction = self.settings.transaction
        steps = protocol_checkout(
            request, self.policies, self._policy_rng, transaction.protocol, transaction.lock_wait_s
        )
        cache = self.settings.cache
        if cache.page_view:
            # The product page first: a shopper it shows sold out does not check out.
            steps = checkout_after_page(
                cache.policy(),
                intent,
                intents.sku[intent],
                quantity,
                steps,
                Outcome.SOLD_OUT,
            )
        outcome = yield from self.engine.drive(steps)
        self.in_flight -= 1
        intents.running[intent] -= 1
        waited_on = intents.current_attempt[intent] == attempt
        if primary and intents.answered_s[intent] < 0 and waited_on:
            gave_up_at = intents.arrival_s[intent] + self.settings.shopper.timeout_s
            if self.env.now > gave_up_at and self.settings.shopper.retries_on_timeout == 0:
                intents.told[intent] = TIMED_OUT_CODE
                intents.answered_s[intent] = gave_up_at
            else:
                intents.told[intent] = OUTCOME_CODES[outcome]
                intents.answered_s[intent] = self.env.now

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


def reservation_reaper(env: simpy.Environment, engine: Engine, tick_s: float) -> SimStep:
    """Return expired reservations to stock every ``tick_s`` simulated seconds."""
    while True:
        yield env.timeout(tick_s)
        engine.shop.expire_due(env.now)
