"""Play a scenario's open-model schedule at the target through Locust, and record each answer.

Each planned intent starts at its intended instant on the wall clock (time
scale 1: the target runs in real time), sends one checkout through a Locust
user's ``FastHttpUser`` client (``load.users.ScheduledHttpShopper``: Locust
stays in the load-test package), and records what the answer meant (by the adapter's
statuses) and its latency *from the intended start*, so a target or host that
falls behind cannot hide it (no coordinated omission). When the last
``STOP_AFTER`` answers in a row were no answer at all (refused, reset, timed
out), the target has stopped answering: the rest of the schedule is dropped
and the run ends with what was measured, saying so.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import gevent
from gevent.lock import BoundedSemaphore

from checkoutsim.load import session
from checkoutsim.load.schedule import PlannedIntent
from checkoutsim.load.users import ScheduledHttpShopper
from checkoutsim.probe.adapter import Adapter, fill, fill_path
from checkoutsim.probe.at_rate import RateRound, rate_round, steady_opening
from checkoutsim.probe.calibrate import paced_checkouts, paced_round
from checkoutsim.probe.outcome import ERROR, NOT_STARTED, SOLD_OUT, TIMED_OUT, Outcome
from checkoutsim.probe.target import CALL_TIMEOUT_S, classify

#: Consecutive answers that never came before the target counts as stopped.
STOP_AFTER = 20
#: Sold-out checkouts a calibration plays through this client, and the time between them.
CLIENT_TIMED = 21
CLIENT_SPACING_S = 0.02
#: Intent ids of those checkouts (their idempotency keys), far from any run's.
CLIENT_INTENT_BASE = 10_000_000
#: Intent ids of the round at the probe's own rate.
AT_RATE_INTENT_BASE = 20_000_000
#: The first of them start this far apart, not at one instant: a crowd arriving
#: at once would overflow a small listen backlog.
STAGGER_S = 0.001
#: The most Locust users a probe starts (greenlets with their own connections).
MAX_USERS = 5000


@dataclass
class ProbeRun:
    """The schedule, the adapter, and what the shoppers saw (shared by every user)."""

    adapter: Adapter
    intents: list[PlannedIntent]
    timeout_s: float
    pending: deque[PlannedIntent] = field(init=False)
    outcomes: list[Outcome] = field(default_factory=list)
    origin: float | None = None
    in_flight: int = 0
    stopped: str | None = None
    #: Intents taken and not yet answered, by id, and whether each has been sent.
    started: dict[int, tuple[PlannedIntent, bool]] = field(default_factory=dict)
    #: At most this many checkouts in flight (None: as the schedule says); a shopper
    #: whose instant has come waits for a free place, and is timed from getting it.
    at_most: int | None = None
    #: The clock (``time.perf_counter``) at each answer, and what it meant, in the
    #: order they came.
    answered_at: list[float] = field(default_factory=list)
    told_in_order: list[str] = field(default_factory=list)
    _silent_in_a_row: int = 0
    _places: BoundedSemaphore | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.pending = deque(self.intents)
        if self.at_most is not None:
            self._places = BoundedSemaphore(self.at_most)

    def sku_of(self, intent: PlannedIntent) -> str:
        """The target's SKU id for a scenario SKU: the catalog's, in order, wrapping round."""
        skus = self.adapter.catalog.skus
        return skus[intent.sku % len(skus)]

    def take(self) -> PlannedIntent | None:
        """The next intent to play, or None when the schedule is done or the target stopped."""
        if self.stopped is not None or not self.pending:
            return None
        self.in_flight += 1
        intent = self.pending.popleft()
        self.started[intent.intent_id] = (intent, False)
        return intent

    def record(
        self, intent: PlannedIntent, told: str, status: int, latency: float, lag: float
    ) -> None:
        """Keep one answer and watch for a target that stopped answering."""
        self.in_flight -= 1
        self.started.pop(intent.intent_id, None)
        self.outcomes.append(self.outcome(intent, told, status, latency, lag))
        self.answered_at.append(time.perf_counter())
        self.told_in_order.append(told)
        if status == 0:
            self._silent_in_a_row += 1
            # Only while checkouts remain to be sent: time-outs once all have been
            # sent are the target's backlog, counted as timed out, not a stop.
            waiting = self.pending or any(not sent for _, sent in self.started.values())
            if self._silent_in_a_row >= STOP_AFTER and self.stopped is None and waiting:
                assert self.origin is not None
                at = time.perf_counter() - self.origin
                self.stopped = (
                    f"the target stopped answering {at:.1f} s into the run "
                    f"({STOP_AFTER} checkouts in a row got no answer)"
                )
        else:
            self._silent_in_a_row = 0

    def skip(self, intent: PlannedIntent) -> None:
        """An intent taken but never sent, because the target had stopped answering."""
        self.in_flight -= 1
        self.started.pop(intent.intent_id, None)
        self.pending.append(intent)

    def unfinished(self) -> list[Outcome]:
        """The intents never sent (the target had stopped), and those unanswered at the end."""
        never = [self.outcome(intent, NOT_STARTED) for intent in self.pending]
        waiting = [self.outcome(intent, TIMED_OUT) for intent, _ in self.started.values()]
        return never + waiting

    def outcome(
        self,
        intent: PlannedIntent,
        told: str,
        status: int = 0,
        latency: float | None = None,
        lag: float = 0.0,
    ) -> Outcome:
        """One intent's record."""
        return Outcome(
            intent.intent_id,
            intent.at_s,
            self.sku_of(intent),
            intent.quantity,
            told,
            status,
            latency,
            lag,
        )

    def shop(self, client: Any) -> bool:
        """Wait for the next intent's instant, check out through ``client`` (a Locust
        user's HTTP client), record what the answer meant; False when none is left."""
        intent = self.take()
        if intent is None:
            return False
        assert self.origin is not None
        intended = self.origin + intent.at_s
        delay = intended - time.perf_counter()
        if delay > 0:
            gevent.sleep(delay)
        if self._places is not None:
            self._places.acquire()
            intended = max(intended, time.perf_counter())
        try:
            return self._send(client, intent, intended)
        finally:
            if self._places is not None:
                self._places.release()

    def _send(self, client: Any, intent: PlannedIntent, intended: float) -> bool:
        """Send one checkout (its instant has come) and record what its answer meant."""
        if self.stopped is not None:
            self.skip(intent)
            return True
        lag = max(0.0, time.perf_counter() - intended)
        self.started[intent.intent_id] = (intent, True)
        values = {
            "sku": self.sku_of(intent),
            "quantity": intent.quantity,
            "key": f"probe-{intent.intent_id}",
        }
        call = self.adapter.checkout
        options: dict[str, Any] = {
            "headers": {key: str(fill(value, values)) for key, value in call.headers.items()},
            "name": "checkout",
            "catch_response": True,
        }
        if call.json_body is not None:
            options["json"] = fill(call.json_body, values)
        status = 0
        try:
            with client.request(call.method, fill_path(call.path, values), **options) as answer:
                status = answer.status_code or 0
                told = classify(self.adapter, status, answer.json) if status else ERROR
                if told == ERROR:
                    answer.failure(f"status {status}")
                else:
                    answer.success()
        except Exception:  # the client raised instead of answering: no answer
            status, told = 0, ERROR
        latency = time.perf_counter() - intended
        if status == 0 and latency >= self.timeout_s:
            told = TIMED_OUT
        self.record(intent, told, status, latency, lag)
        return True


def users_for(intents: int, asked: int | None) -> int:
    """Users to start: as asked, else one per intent, at most ``MAX_USERS``."""
    if asked is not None:
        return asked
    return max(1, min(intents, MAX_USERS))


def play(
    base: str,
    adapter: Adapter,
    intents: list[PlannedIntent],
    run_time_s: float,
    timeout_s: float,
    users: int,
    at_most: int | None = None,
) -> ProbeRun:
    """Play ``intents`` against ``base`` and return every outcome (bounded by the time-out);
    ``at_most`` checkouts in flight at once, if given."""
    run = ProbeRun(adapter, intents, timeout_s, at_most=at_most)
    user_class = type(
        "ProbeShopperAt",
        (ScheduledHttpShopper,),
        {"network_timeout": timeout_s, "connection_timeout": timeout_s, "host": base},
    )
    options = session.SessionOptions(users=users, host=base)
    env = session.environment([user_class], options, run)
    runner = env.create_local_runner()
    # The schedule's clock starts once the users have had time to spawn.
    run.origin = time.perf_counter() + 0.2 + users / 5000
    history = session.start(env, runner, options)
    deadline = run.origin + run_time_s + timeout_s + 1.0

    def done() -> bool:
        finished = not run.pending or run.stopped is not None
        return finished and run.in_flight == 0

    session.wait(deadline, done, dict, None)
    session.finish(env, runner, history, False)
    run.outcomes.extend(run.unfinished())
    run.outcomes.sort(key=lambda outcome: outcome.intent_id)
    return run


def sold_out_through_client(base: str, adapter: Adapter) -> list[float]:
    """Sold-out checkouts (the target is sold out) played as a run plays them: one
    Locust user and connection each, at planned instants ``CLIENT_SPACING_S`` apart,
    timed from the intended start. The seconds of those answered sold out."""
    intents = [
        PlannedIntent(CLIENT_INTENT_BASE + index, index * CLIENT_SPACING_S, 0, 1, None)
        for index in range(CLIENT_TIMED)
    ]
    run_time = CLIENT_TIMED * CLIENT_SPACING_S
    played = play(base, adapter, intents, run_time, CALL_TIMEOUT_S, len(intents))
    return [
        outcome.latency_s
        for outcome in played.outcomes
        if outcome.told == SOLD_OUT and outcome.latency_s is not None
    ]


def sold_out_paced(base: str, adapter: Adapter, in_flight: int) -> tuple[int, float, float] | None:
    """``paced_checkouts(in_flight)`` sold-out checkouts (the target is sold out), each on
    its own Locust user and connection as a run sends them, ``in_flight`` at once (the
    next one sent as soon as one is answered): how many answers came in how many seconds
    once the pipeline was full (so the target's pace, not its first answer's latency,
    decides the rate), and the slowest answer's seconds. None if fewer than half were
    answered sold out, or if any answer was an error or timed out."""
    count = paced_checkouts(in_flight)
    intents = [
        PlannedIntent(
            CLIENT_INTENT_BASE + CLIENT_TIMED + index,
            min(index, in_flight) * STAGGER_S,
            0,
            1,
            None,
        )
        for index in range(count)
    ]
    played = play(base, adapter, intents, 0.0, CALL_TIMEOUT_S, len(intents), in_flight)
    return paced_round(
        [outcome.told for outcome in played.outcomes],
        played.answered_at,
        [outcome.latency_s or 0.0 for outcome in played.outcomes],
        count,
        in_flight,
    )


def sold_out_at_rate(base: str, adapter: Adapter, intents: list[PlannedIntent]) -> RateRound | None:
    """The steady arrivals of the first ``AT_RATE_S`` seconds of the probe's own schedule
    (``at_rate.steady_opening``) played against the sold-out target as the run will play
    them: the checks it served a second while they arrived (``at_rate.rate_round``),
    against the rate they arrived at."""
    opening = [intents[index] for index in steady_opening([intent.at_s for intent in intents])]
    if len(opening) < 2 or opening[-1].at_s <= opening[0].at_s:
        return None
    offered = (len(opening) - 1) / (opening[-1].at_s - opening[0].at_s)
    picked = [
        PlannedIntent(AT_RATE_INTENT_BASE + index, intent.at_s, 0, 1, None)
        for index, intent in enumerate(opening)
    ]
    last_due = picked[-1].at_s
    played = play(base, adapter, picked, last_due, CALL_TIMEOUT_S, len(picked))
    assert played.origin is not None
    latencies = [
        outcome.latency_s
        for outcome in played.outcomes
        if outcome.told == SOLD_OUT and outcome.latency_s is not None
    ]
    due_by = played.origin + last_due
    return rate_round(played.told_in_order, played.answered_at, due_by, offered, latencies)
