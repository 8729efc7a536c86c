"""Load from several machines: a Locust master here, ``loadtest-worker`` processes anywhere.

The workers share the run's state through the server store (PostgreSQL, and
Redis for leases), so nothing but Locust's own messages travels between
machines. Per variant:

1. the master opens a fresh namespace on the store and listens;
2. each worker that connects gets ``setup`` (the resolved settings, the store
   and lock URLs, the namespace, its slice of the schedule) and opens its own
   service instance on the shared store, then answers ``ready``;
3. the master fixes the schedule's origin (wall clock, so the machines' clocks
   must agree: NTP), starts the users, and waits until every worker says
   ``done`` with what its shoppers were told (or asks for it with ``flush`` at
   the deadline);
4. the master, and only the master, audits the shared store, then drops the
   namespace.

Workers loop: after a variant they connect again for the next one, until the
master sends ``exit`` (``dismiss_workers``) or they are stopped.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import gevent

from checkoutsim.load import session
from checkoutsim.load.backend_service import make_runtime, open_service
from checkoutsim.load.distributed import free_port
from checkoutsim.load.drive import assemble, snapshot
from checkoutsim.load.options import LoadError, LoadOptions, VariantRun, session_options
from checkoutsim.load.session import Progress
from checkoutsim.load.users import InProcessShopper
from checkoutsim.real import records
from checkoutsim.real.backends import BackendChoice, RunBackend
from checkoutsim.scenario.files import Variant
from checkoutsim.scenario.settings import Settings

SETUP, READY, ORIGIN, DONE, FLUSH, EXIT = (
    f"checkoutsim_{name}" for name in ("setup", "ready", "origin", "done", "flush", "exit")
)
#: How long the master waits for workers to connect, and for them to set up.
CONNECT_TIMEOUT_S = 300.0
SETUP_TIMEOUT_S = 60.0


def _wait(condition: Any, timeout_s: float, what: str, processes: list[Any]) -> None:
    """Yield until ``condition()``; fail after ``timeout_s`` or if a local worker died."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        for process in processes:
            if process.poll() is not None:
                raise LoadError(f"a worker exited with {process.returncode} ({what})")
        if time.monotonic() > deadline:
            raise LoadError(f"timed out after {timeout_s:.0f} s: {what}")
        gevent.sleep(0.05)


def spawn_local(port: int, count: int, directory: Path) -> list[subprocess.Popen[bytes]]:
    """``--workers N`` with a server store: N worker processes on this machine."""
    processes = []
    for index in range(count):
        log = (directory / f"worker-{index}.log").open("wb")
        command = [sys.executable, "-m", "checkoutsim.load.remote_worker"]
        command += ["--master-host", "127.0.0.1", "--master-port", str(port), "--once"]
        processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
    return processes


def run_master(
    variant: Variant,
    settings: Settings,
    options: LoadOptions,
    choice: BackendChoice,
    progress: Progress | None,
) -> VariantRun:
    """Run one variant with workers sharing the server store, then audit it here."""
    directory = Path(tempfile.mkdtemp(prefix="checkoutsim-master-"))
    backend = RunBackend(choice)
    runtime = make_runtime(choice, settings, time.time())
    local = options.workers > 0
    count = options.workers if local else options.expect_workers
    processes: list[subprocess.Popen[bytes]] = []
    runner: Any = None
    try:
        service = open_service(settings, directory, runtime, options.seed, 0, backend)
        samples: list[tuple[float, ...]] = []
        jobs = session.background_jobs(service, runtime, settings, samples, lambda: 0)
        opts = session_options(settings, options)
        env = session.environment([InProcessShopper], opts, None)
        ready: set[int] = set()
        done: dict[int, list[list[Any]]] = {}
        host, port = ("127.0.0.1", free_port()) if local else (options.master_bind_host, 0)
        runner = env.create_master_runner(host, port or options.master_port)
        runner.register_message(READY, lambda environment, msg, **_: ready.add(int(msg.data)))
        runner.register_message(
            DONE, lambda environment, msg, **_: done.setdefault(msg.data["index"], msg.data["rows"])
        )
        if local:
            processes = spawn_local(runner.master_bind_port, count, directory)
        _wait(
            lambda: len(runner.clients.ready) >= count,
            CONNECT_TIMEOUT_S,
            f"{count} workers to connect to port {runner.master_bind_port}",
            processes,
        )
        setup = {
            "settings": settings.model_dump_json(),
            "store": choice.store,
            "locks": choice.locks,
            "namespace": backend.namespace,
            "count": count,
            "seed": options.seed,
        }
        clients = sorted(node.id for node in runner.clients.ready)[:count]
        for index, client_id in enumerate(clients):
            runner.send_message(SETUP, {**setup, "index": index}, client_id)
        _wait(lambda: len(ready) == count, SETUP_TIMEOUT_S, "workers to open the store", processes)
        origin = time.time() + 0.5 + opts.users / 20_000
        runner.send_message(ORIGIN, origin)
        runtime.time.origin = origin
        history = session.start(env, runner, opts)
        origin_perf = time.perf_counter() + (origin - time.time())
        scale = settings.real.time_scale
        hard_end = origin_perf + (settings.load.duration_s + settings.load.drain_s) * scale
        planned = len(_plan(settings, options.seed))
        session.wait(
            hard_end,
            lambda: len(done) == count,
            lambda: snapshot(variant.name, settings, env, origin_perf, samples, planned),
            progress,
        )
        if len(done) < count:
            runner.send_message(FLUSH, None)
            _wait(lambda: len(done) == count, 30.0, "workers' records", processes)
        result = session.finish(env, runner, history, options.html)
        # Close the port before the audit: workers reconnect at once for the next
        # variant, and a hello sent to this socket would be lost with it.
        runner.server.close(linger=0)
        for job in jobs:
            job.kill()
        runtime.drain(1.0)
        runtime.quiesce()
        shopper_records = [row for index in sorted(done) for row in done[index]]
        service.save_counters()
        facts = records.collect(service.store, service.ledger)
        service.close()
        return assemble(variant, settings, shopper_records, facts, samples, result, opts.users)
    finally:
        if runner is not None:
            # Free the port now: the next variant's master binds it again.
            runner.server.close(linger=0)
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        runtime.close()
        backend.drop()
        shutil.rmtree(directory, ignore_errors=True)


def _plan(settings: Settings, seed: int) -> list[Any]:
    from checkoutsim.load.schedule import plan

    return plan(settings, seed)


def dismiss_workers(options: LoadOptions, wait_s: float = 15.0) -> int:
    """After the last variant: tell workers that connect again to exit; how many did."""
    env = session.environment([InProcessShopper], session.SessionOptions(users=0), None)
    runner = env.create_master_runner(options.master_bind_host, options.master_port)
    deadline = time.monotonic() + wait_s
    while len(runner.clients.ready) < options.expect_workers and time.monotonic() < deadline:
        gevent.sleep(0.05)
    dismissed = len(runner.clients.ready)
    runner.send_message(EXIT, None)
    gevent.sleep(0.5)
    runner.quit()
    runner.server.close(linger=0)
    return dismissed
