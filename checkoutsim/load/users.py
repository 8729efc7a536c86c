"""Locust users that play the schedule: in-process, over HTTP, and closed-loop for benches.

The users take their work from ``environment.checkoutsim`` (a ``ShopperRun``),
so one user class serves every variant, and each variant gets a fresh
``Environment``. Each intent is reported to Locust as one ``intent`` request
named after what the shopper was told, timed from its intended start.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

from locust import FastHttpUser, User, constant, task
from locust.exception import StopUser

from checkoutsim.load.shoppers import ERROR, TIMED_OUT, Send, ShopperRun, told_from_response

#: Shopper outcomes that count as failures in Locust's statistics.
FAILURES = {ERROR, TIMED_OUT}


class BenchTarget:
    """What closed-loop buyers call, and buyer numbers (their keys) unique across processes."""

    #: Each process numbers its buyers from its own block.
    BLOCK = 100_000_000

    def __init__(self, api: Any, process: int) -> None:
        self.api = api
        self._ids = itertools.count(process * self.BLOCK)

    def next_intent(self) -> int:
        """A fresh buyer number, for a fresh key."""
        return next(self._ids)


def _play_next(user: User, send: Send | None = None) -> None:
    """Take the next planned intent, play it, report it; stop when none is left."""
    run: ShopperRun = user.environment.checkoutsim
    intent = run.next_intent()
    if intent is None:
        raise StopUser()
    told, latency = run.play(intent, send)
    user.environment.events.request.fire(
        request_type="intent",
        name=told,
        response_time=latency * 1000.0,
        response_length=0,
        exception=RuntimeError(told) if told in FAILURES else None,
        context={},
    )


class InProcessShopper(User):
    """A shopper calling the service in this process (``run.send`` is the API)."""

    wait_time = constant(0)

    @task
    def shop(self) -> None:
        """Play one intent of the schedule."""
        _play_next(self)


class HttpShopper(FastHttpUser):
    """A shopper calling ``checkoutsim serve`` over HTTP with Locust's fast client."""

    wait_time = constant(0)
    # Each shopper may have a first click, a second click and retries in flight.
    concurrency = 4

    def send(self, key: str, body: dict[str, Any]) -> str:
        """POST /checkout and turn the answer into what the shopper is told."""
        with self.client.post(
            "/checkout",
            json=body,
            headers={"Idempotency-Key": key},
            name="/checkout",
            catch_response=True,
        ) as response:
            try:
                payload = response.json()
            except Exception:
                payload = {}
            response.success()
            return told_from_response(response.status_code or 0, payload)

    @task
    def shop(self) -> None:
        """Play one intent of the schedule through this user's HTTP client."""
        _play_next(self, self.send)


class ClosedLoopBuyer(User):
    """A buyer who checks out again as soon as the last checkout answered (benches)."""

    wait_time = constant(0)

    @task
    def buy(self) -> None:
        """One checkout with a fresh key, reported to Locust."""
        bench: BenchTarget = self.environment.checkoutsim
        buyer = bench.next_intent()
        started = time.perf_counter()
        code, payload = bench.api.checkout(f"b{buyer}", {"sku": "sku-0", "quantity": 1})
        ok = code == 200 and payload.get("status") == "ordered"
        self.environment.events.request.fire(
            request_type="checkout",
            name="closed-loop",
            response_time=(time.perf_counter() - started) * 1000.0,
            response_length=0,
            exception=None if ok else RuntimeError(str(payload)),
            context={},
        )


class ClosedLoopHttpBuyer(FastHttpUser):
    """A buyer who posts a checkout over HTTP as soon as the last one answered (benches).

    Each checkout has a fresh ``Idempotency-Key``; an answer other than an
    order is a failure (the bench counts successes only).
    """

    wait_time = constant(0)
    #: Keys unique within the process: its id and a running number.
    _numbers = itertools.count()

    @task
    def buy(self) -> None:
        """One checkout with a fresh key."""
        key = f"h{os.getpid()}-{next(self._numbers)}"
        with self.client.post(
            "/checkout",
            json={"sku": "sku-0", "quantity": 1},
            headers={"Idempotency-Key": key},
            name="/checkout",
            catch_response=True,
        ) as response:
            # Parsed as the bare ceiling's answer is, so both cost the client the same.
            if response.status_code != 200 or response.json().get("status") != "ordered":
                response.failure(f"HTTP {response.status_code}: {response.text[:80]}")


class NoOpUser(User):
    """Does nothing but report a request: Locust's own ceiling in this process."""

    wait_time = constant(0)

    @task
    def nothing(self) -> None:
        """Report an instant request."""
        self.environment.events.request.fire(
            request_type="noop",
            name="noop",
            response_time=0.0,
            response_length=0,
            exception=None,
            context={},
        )


class ScheduledHttpShopper(FastHttpUser):
    """A shopper whose run (``environment.checkoutsim``) plays one planned intent per
    call through this user's HTTP client, for any HTTP target (``probe``).

    The run's ``shop(client)`` does the work and returns False when no intent is left.
    """

    wait_time = constant(0)
    # One request in flight per shopper: an intent is one checkout call.
    concurrency = 1

    @task
    def shop(self) -> None:
        """Play the run's next intent, or stop when none is left."""
        if not self.environment.checkoutsim.shop(self.client):
            raise StopUser()
