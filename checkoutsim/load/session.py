"""One Locust session: a fresh environment, a runner, the service's background jobs.

Shared by the in-process, HTTP and master/worker load tests: build a fresh
``Environment`` (with its own ``Events``, so no run leaks into the next), start
the users, report progress while the schedule plays and while in-flight sagas
drain, then stop and hand back Locust's statistics and HTML report.
"""

from __future__ import annotations

import functools
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gevent
import gevent.event
import locust.stats
from locust.env import Environment
from locust.event import Events
from locust.html import get_html_report
from locust.runners import Runner

from checkoutsim.load.runtime import GeventRuntime
from checkoutsim.load.sweeper_watch import SweeperPasses
from checkoutsim.real.service import CheckoutService
from checkoutsim.scenario.settings import Settings

Snapshot = dict[str, Any]
Progress = Callable[[Snapshot], None]


def fine_bucket(response_time: float) -> float:
    """Locust's histogram key, kept to 0.01 ms below 1 ms and 0.1 ms below 10 ms.

    Locust rounds to whole milliseconds below 100 ms, so a sub-millisecond
    checkout would read 0; the shorter keys cost a larger histogram, no more.
    """
    if response_time < 1:
        return round(response_time, 2)
    if response_time < 10:
        return round(response_time, 1)
    if response_time < 100:
        return round(response_time)
    if response_time < 1000:
        return int(round(response_time, -1))
    return int(round(response_time, -2))


@dataclass
class SessionOptions:
    """How one Locust session runs."""

    users: int
    web: bool = False
    web_port: int = 8089
    html: bool = False
    host: str | None = None
    stop_timeout_s: float = 1.0


@dataclass
class SessionResult:
    """Locust's view of a session."""

    requests: int
    failures: int
    requests_per_s: float
    html: str | None = None
    entries: dict[str, int] = field(default_factory=dict)


def environment(user_classes: list[type], options: SessionOptions, context: Any) -> Environment:
    """A fresh environment whose users find their work in ``environment.checkoutsim``."""
    locust.stats.bucket_response_time = fine_bucket
    # Starting every user at once is the point of an open-model schedule (users
    # wait for their intents), not the ramp-up mistake Locust warns about.
    logging.getLogger("locust.runners").setLevel(logging.ERROR)
    env = Environment(
        user_classes=user_classes,
        events=Events(),
        host=options.host,
        stop_timeout=options.stop_timeout_s,
    )
    env.checkoutsim = context  # type: ignore[attr-defined]
    return env


def background_jobs(
    service: CheckoutService,
    runtime: GeventRuntime,
    settings: Settings,
    samples: list[tuple[float, ...]] | None,
    in_flight: Callable[[], int],
    passes: SweeperPasses | None = None,
) -> list[gevent.Greenlet]:
    """The service's reaper, its sweeper and retry-queue consumers (if enabled), the sampler.

    The sampler (one model second apart) appends to ``samples``, the run's
    timeline; with ``None`` there is no timeline and no sampler: each sample
    scans whole tables (every order, every capture), so nobody should pay for
    samples nobody reads. ``passes``, if given, is told when each sweeper pass
    finished its look-up.
    """
    saga = settings.saga

    def every(model_seconds: float, job: Callable[[], None]) -> None:
        while True:
            runtime.pause(model_seconds)
            job()

    def reap() -> None:
        service.reap()  # offloads its own blocking work (it may wait for a lock)

    refunding: set[int] = set()

    def refund(capture_id: int) -> None:
        try:
            service.refund_orphan(capture_id)
        finally:
            refunding.discard(capture_id)

    def sweep() -> None:
        began = runtime.time.now()
        # Refunds run concurrently, as the model's sweeper runs them.
        for capture_id in service.find_orphans():
            if capture_id not in refunding:
                refunding.add(capture_id)
                runtime.spawn(refund, capture_id)
        if passes is not None:
            passes.looked_from_s = began

    def sample(timeline: list[tuple[float, ...]]) -> None:
        available, reserved, orders, captures = runtime.offload(service.sample)
        breaker, queued = runtime.offload(service.timeline_state)
        now = runtime.time.now()
        timeline.append((now, available, reserved, in_flight(), orders, captures, breaker, queued))

    jobs = [gevent.spawn(every, min(1.0, saga.reservation_ttl_s / 10), reap)]
    if samples is not None:
        jobs.append(gevent.spawn(every, 1.0, functools.partial(sample, samples)))
    if saga.sweeper_interval_s > 0:
        jobs.append(gevent.spawn(every, saga.sweeper_interval_s, sweep))
    if service.consumers is not None:
        # One consumer per partition, as the model runs them, for the whole run.
        consumers = service.consumers
        jobs += [
            gevent.spawn(consumers.consume, partition)
            for partition in range(consumers.queue.partitions)
        ]
    return jobs


def start(env: Environment, runner: Runner, options: SessionOptions) -> gevent.Greenlet:
    """Start the users (all at once), the statistics history, and the web UI if asked."""
    if options.web:
        # Locust's web UI parses ``sys.argv`` as if it were Locust's own command
        # line when it renders a page; ours would not parse, so it sees none.
        sys.argv = sys.argv[:1]
        env.create_web_ui("127.0.0.1", options.web_port)
    history = gevent.spawn(locust.stats.stats_history, runner)
    runner.start(options.users, spawn_rate=options.users)
    return history


def wait(
    until: float,
    done: Callable[[], bool],
    snapshot: Callable[[], Snapshot],
    progress: Progress | None,
    tick_s: float = 0.25,
) -> None:
    """Report progress until ``done()`` or the ``time.perf_counter()`` deadline."""
    while True:
        if progress is not None:
            progress(snapshot())
        now = time.perf_counter()
        if now >= until or done():
            return
        gevent.sleep(min(tick_s, until - now))


def finish(env: Environment, runner: Runner, history: gevent.Greenlet, html: bool) -> SessionResult:
    """Stop the users and the web UI; return Locust's statistics."""
    runner.quit()
    if runner.greenlet is not None:
        runner.greenlet.join(timeout=10)
    history.kill(block=False)
    total = env.stats.total
    report = get_html_report(env, show_download_link=False) if html else None
    if env.web_ui is not None:
        env.web_ui.stop()
    entries = {
        f"{kind} {name}": entry.num_requests for (name, kind), entry in env.stats.entries.items()
    }
    return SessionResult(
        requests=total.num_requests,
        failures=total.num_failures,
        requests_per_s=total.total_rps,
        html=report,
        entries=entries,
    )
