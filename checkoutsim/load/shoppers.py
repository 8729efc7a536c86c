"""Shoppers on the wall clock: the open-model schedule played against the service.

Each intent starts at its *intended* instant, whatever the service is doing;
if no Locust user is free then, it starts late and the lateness counts in its
latency (measured from the intended start, so a stall cannot hide: no
coordinated omission). A double click is a second request with the same key
while the first runs; a client time-out gives up on a request (it keeps running
in the service), then retries or leaves, as the model's shoppers do.
"""

from __future__ import annotations

import logging
import random
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
import gevent.pool

from checkoutsim.load.schedule import PlannedIntent
from checkoutsim.real.api import sku_name
from checkoutsim.scenario.settings import Settings

#: Sends one request: (idempotency key, JSON body) -> the status the shopper is told.
Send = Callable[[str, dict[str, Any]], str]

TIMED_OUT = "timed_out"
IN_FLIGHT = "in_flight"
ERROR = "error"

#: Columns of a shopper record (model seconds, except ``lag_wall_s``); ``running``:
#: the idempotency keys of the intent's requests still being served when the run
#: stopped; ``exceptions``: how many of its requests raised in the driver or the
#: service instead of answering (a crash, never a business outcome).
RECORD_COLUMNS = (
    "intent_id",
    "arrival_s",
    "sku",
    "quantity",
    "clicks",
    "attempts",
    "told",
    "answered_s",
    "lag_wall_s",
    "running",
    "exceptions",
)

#: Where a request that raised is logged (with its traceback, the first few times).
LOG = logging.getLogger("checkoutsim.load")
#: Tracebacks logged per run; later exceptions are counted and logged in one line.
LOGGED_TRACEBACKS = 5


class ShopperRun:
    """One process's share of the schedule, what its shoppers saw, and how they send."""

    def __init__(
        self,
        intents: list[PlannedIntent],
        settings: Settings,
        send: Send,
        seed: int,
        process: int = 0,
    ) -> None:
        self.settings = settings
        self.scale = settings.real.time_scale
        self.send = send
        self.pending: deque[PlannedIntent] = deque(intents)
        self.planned = len(intents)
        self.records: list[list[Any]] = []
        self.requests = gevent.pool.Group()
        self.answered = 0
        self.popped = 0
        self.origin_perf: float | None = None
        self.origin_ready = gevent.event.Event()
        #: The intent and key of each running request greenlet (``mark_running``).
        self._request_of: dict[gevent.Greenlet, tuple[int, str]] = {}
        self._abandon = random.Random(f"abandon-{seed}-{process}")
        #: Requests that raised instead of answering (``driver_exceptions``).
        self.exceptions = 0

    def start_at(self, origin_epoch: float) -> None:
        """Fix the schedule's origin (a ``time.time()`` shared by every process)."""
        self.origin_perf = time.perf_counter() + (origin_epoch - time.time())
        self.origin_ready.set()

    @property
    def finished(self) -> bool:
        """Every intent has started and been answered (or given up on)."""
        return not self.pending and self.answered == self.popped

    def next_intent(self) -> PlannedIntent | None:
        """The next intent to play, or None when the schedule is exhausted."""
        if not self.pending:
            return None
        self.popped += 1
        return self.pending.popleft()

    def play(self, intent: PlannedIntent, send: Send | None = None) -> tuple[str, float]:
        """Play one intent; return what the shopper was told and the wall latency.

        ``send`` overrides the run's sender (an HTTP user sends through its own client).
        """
        send = send or self.send
        self.origin_ready.wait()
        origin = self.origin_perf
        assert origin is not None
        scale = self.scale
        shopper = self.settings.shopper
        intended = origin + intent.at_s * scale
        delay = intended - time.perf_counter()
        if delay > 0:
            gevent.sleep(delay)
        record = [
            intent.intent_id,
            intent.at_s,
            intent.sku,
            intent.quantity,
            1,
            1,
            IN_FLIGHT,
            -1.0,
            time.perf_counter() - intended,
            [],
            0,
        ]
        self.records.append(record)
        # The server names intents; the shopper is known by its keys, i<n> and i<n>r<k>.
        body = {"sku": sku_name(intent.sku), "quantity": intent.quantity}
        timeout = shopper.timeout_s * scale
        attempt = 0
        attempt_start = intended
        while True:
            same_key = attempt == 0 or shopper.retry_same_key
            key = f"i{intent.intent_id}" if same_key else f"i{intent.intent_id}r{attempt}"
            request = self.requests.spawn(self._send_safely, send, key, body, record)
            self._track(request, intent.intent_id, key)
            if attempt == 0 and intent.second_click_s is not None:
                record[4] = 2
                second = gevent.spawn_later(
                    intent.second_click_s * scale, self._send_safely, send, key, body, record
                )
                self.requests.add(second)
                self._track(second, intent.intent_id, key)
            deadline = attempt_start + timeout
            request.join(max(0.0, deadline - time.perf_counter()))
            if request.ready():
                told, answered = request.value, time.perf_counter()
                break
            leaves = self._abandon.random() < shopper.abandon_probability
            if attempt < shopper.retries_on_timeout and not leaves:
                attempt += 1
                record[5] += 1
                attempt_start = deadline
                continue
            told, answered = TIMED_OUT, deadline
            break
        record[6] = told
        record[7] = (answered - origin) / scale
        self.answered += 1
        return told, answered - intended

    def _send_safely(self, send: Send, key: str, body: dict[str, Any], record: list[Any]) -> str:
        """Send one request; one that raises is logged, counted, and told ``error``.

        The shopper sees an error, as it would a crashed server; the count
        (``driver_exceptions``) keeps the crash apart from the business outcomes,
        so a strategy that raised on every request cannot pass for one that failed.
        """
        try:
            return send(key, body)
        except Exception:
            self.exceptions += 1
            record[10] += 1
            if self.exceptions <= LOGGED_TRACEBACKS:
                LOG.exception("request %s raised (exception %d)", key, self.exceptions)
            else:
                LOG.error("request %s raised (exception %d)", key, self.exceptions)
            return ERROR

    def _track(self, request: gevent.Greenlet, intent_id: int, key: str) -> None:
        """Remember a request's intent and key until it ends (then forget it: no growth)."""
        self._request_of[request] = (intent_id, key)
        request.rawlink(lambda ended: self._request_of.pop(ended, None))

    def mark_running(self) -> int:
        """Record the keys of requests still being served in their intents' records.

        Call when the run stops, before the requests are killed: the service
        had not finished those checkouts (the shopper may have given up long
        before), so their money is not yet settled one way or the other. Keys,
        not intents, because the service owns the intent ids it books under.
        Returns how many requests were still running.
        """
        running: dict[int, set[str]] = {}
        for request in self.requests:
            if not request.dead and request in self._request_of:
                intent_id, key = self._request_of[request]
                running.setdefault(intent_id, set()).add(key)
        for record in self.records:
            record[9] = sorted(running.get(record[0], ()))
        return sum(len(keys) for keys in running.values())

    def close_unanswered(self, end_s: float) -> None:
        """Shoppers still waiting at the end have given up if their time-out passed."""
        timeout = self.settings.shopper.timeout_s
        for record in self.records:
            if record[7] < 0 and record[1] + timeout <= end_s:
                record[6] = TIMED_OUT
                record[7] = record[1] + timeout


def told_from_response(status_code: int, payload: dict[str, Any]) -> str:
    """What a shopper is told, from an HTTP-style answer."""
    if status_code == 200:
        return str(payload.get("status", ERROR))
    if status_code == 409:
        # The first request with this key is still running: its outcome is pending.
        return "processing"
    return ERROR
