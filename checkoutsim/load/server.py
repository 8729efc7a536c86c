"""``checkoutsim serve``: the checkout's WSGI app on gevent's own HTTP server.

Why ``gevent.pywsgi``: it ships with gevent (maintained and released with it,
no extra dependency), it runs each request in a greenlet on the same hub as the
thread pool that carries the SQLite work, so there is no second event loop or
thread per connection, it speaks HTTP/1.1 keep-alive, and Locust's own web UI
runs on it. ``TCP_NODELAY`` is set on every connection: with Nagle's algorithm
small JSON answers wait for the client's delayed ACK and throughput falls to
about 1,000 requests a second. The server is ``checkoutsim.load.bounded``'s:
gevent's with time-outs on slow clients and a limit on open connections.
"""

from __future__ import annotations

import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
import gevent.event

from checkoutsim.load.bounded import BoundedServer, ServeLimits
from checkoutsim.load.runtime import GeventRuntime
from checkoutsim.load.session import background_jobs
from checkoutsim.real.http import CheckoutApp
from checkoutsim.real.service import CheckoutService, StorePaths
from checkoutsim.scenario.files import Variant

Announce = Callable[[str, StorePaths, dict[str, int]], None]


def serve_forever(
    scenario: str,
    variant: Variant,
    host: str,
    port: int,
    db: Path | None,
    seed: int,
    announce: Announce,
    limits: ServeLimits,
) -> None:
    """Serve until SIGINT or SIGTERM; recover unfinished sagas of a reopened store."""
    settings = variant.settings
    temporary = None if db else Path(tempfile.mkdtemp(prefix="checkoutsim-serve-"))
    paths = StorePaths.beside(db) if db else StorePaths.in_directory(temporary)  # type: ignore[arg-type]
    reopened = paths.shop.exists()
    runtime = GeventRuntime.for_settings(settings, process=0)
    service = CheckoutService(
        settings,
        paths,
        runtime,
        seed,
        meta={
            "scenario": scenario,
            "variant": variant.name,
            "origin_epoch": repr(runtime.time.origin),
        },
    )
    # A reopened store keeps its clock, so its timestamps stay in order.
    runtime.time.origin = float(service.store.meta().get("origin_epoch", runtime.time.origin))
    if reopened:
        # Said before the work, so that whoever waits on the log (a person, the
        # chaos test's kills during recovery) knows recovery has begun.
        print(f"recovering unfinished sagas of {paths.shop}", file=sys.stderr, flush=True)
    recovered = runtime.offload(service.recover) if reopened else {}
    try:
        serve_until_stopped(
            service,
            runtime,
            scenario,
            variant.name,
            (host, port),
            lambda url: announce(url, paths, recovered),
            limits,
        )
    finally:
        runtime.close()
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)


def serve_until_stopped(
    service: CheckoutService,
    runtime: Any,
    scenario: str,
    variant_name: str,
    address: tuple[str, int],
    announce: Callable[[str], None],
    limits: ServeLimits,
) -> None:
    """Serve ``service`` over HTTP with its background jobs until SIGINT or SIGTERM.

    ``announce`` is told the URL once the server listens. On the way out the
    server stops, the jobs are killed, in-flight work drains and the service
    closes; the runtime and the store's files are the caller's.
    """
    app = CheckoutApp(service, scenario, variant_name, runtime.offload)
    # No timeline: ``serve`` keeps none (``/audit`` is built from the store), so no sampler.
    jobs = background_jobs(service, runtime, service.settings, None, lambda: app.in_flight)
    server = BoundedServer(address, app, limits)
    server.start()
    announce(f"http://{address[0]}:{server.server_port}")
    stop = gevent.event.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(number, stop.set)
    try:
        stop.wait()
    finally:
        server.stop(timeout=2)
        for job in jobs:
            job.kill()
        runtime.drain(2.0)
        service.close()
