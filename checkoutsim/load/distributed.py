"""``loadtest --workers N``: a Locust master here and N worker processes on this machine.

Each worker runs its own instance of the service against the *shared* SQLite
files (the write lock is an ``flock``, so processes queue in the kernel) and
plays its slice of the schedule (intent ``i`` goes to worker ``i mod N``). The
master hosts the service's background jobs, samples the timeline, stops the run,
then reads the workers' shopper records from the run directory and audits the
shared databases like any other run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent

from checkoutsim.load import session
from checkoutsim.load.drive import assemble, snapshot
from checkoutsim.load.options import LoadError, LoadOptions, VariantRun, session_options
from checkoutsim.load.runtime import GeventRuntime
from checkoutsim.load.session import Progress
from checkoutsim.load.users import ClosedLoopBuyer, InProcessShopper
from checkoutsim.real import records
from checkoutsim.real.service import CheckoutService, StorePaths, store_parent
from checkoutsim.scenario.files import Variant
from checkoutsim.scenario.settings import Settings

#: The custom message a worker sends when its slice is played and answered.
DONE = "checkoutsim_done"
WORKERS_UP_TIMEOUT_S = 60.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def spawn_workers(
    directory: Path,
    port: int,
    count: int,
    seed: int,
    mode: str,
    stores: list[Path] | None = None,
) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` worker processes; their output goes to log files in ``directory``.

    ``stores`` gives each worker the folder of its store (default: ``directory``,
    shared by all).
    """
    processes = []
    for index in range(count):
        log = (directory / f"worker-{index}.log").open("wb")
        command = [
            sys.executable,
            "-m",
            "checkoutsim.load.worker",
            "--directory",
            str(directory if stores is None else stores[index]),
            "--port",
            str(port),
            "--index",
            str(index),
            "--count",
            str(count),
            "--seed",
            str(seed),
            "--mode",
            mode,
        ]
        processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
    return processes


def wait_for_workers(
    runner: Any, processes: list[subprocess.Popen[bytes]], directory: Path
) -> None:
    """Block until every worker has connected, or fail with its log."""
    deadline = time.monotonic() + WORKERS_UP_TIMEOUT_S
    while len(runner.clients.ready) < len(processes):
        for index, process in enumerate(processes):
            if process.poll() is not None:
                log = (directory / f"worker-{index}.log").read_text(errors="replace")[-2000:]
                raise LoadError(f"worker {index} exited with {process.returncode}:\n{log}")
        if time.monotonic() > deadline:
            raise LoadError(f"workers did not connect within {WORKERS_UP_TIMEOUT_S:.0f} s")
        gevent.sleep(0.05)


def stop_workers(processes: list[subprocess.Popen[bytes]], timeout_s: float) -> None:
    """Wait for workers to exit after ``quit``; terminate the ones that do not."""
    deadline = time.monotonic() + timeout_s
    for process in processes:
        while process.poll() is None and time.monotonic() < deadline:
            gevent.sleep(0.05)
        if process.poll() is None:
            process.terminate()
            process.wait(5)


def prepare(
    directory: Path, settings: Settings, runtime: GeventRuntime, seed: int
) -> CheckoutService:
    """Write the settings for the workers and create the shared store (process 0)."""
    (directory / "settings.json").write_text(settings.model_dump_json(), encoding="utf-8")
    return CheckoutService(settings, StorePaths.in_directory(directory), runtime, seed, process=0)


def run_master(
    variant: Variant, settings: Settings, options: LoadOptions, progress: Progress | None
) -> VariantRun:
    """Run one variant with a Locust master and ``options.workers`` worker processes."""
    directory = Path(tempfile.mkdtemp(prefix="checkoutsim-workers-", dir=store_parent(settings)))
    runtime = GeventRuntime.for_settings(settings)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        service = prepare(directory, settings, runtime, options.seed)
        samples: list[tuple[float, ...]] = []
        jobs = session.background_jobs(service, runtime, settings, samples, lambda: 0)
        opts = session_options(settings, options)
        env = session.environment([InProcessShopper], opts, None)
        done: set[int] = set()
        runner = env.create_master_runner("127.0.0.1", free_port())
        runner.register_message(DONE, lambda environment, msg, **_: done.add(int(msg.data)))
        processes = spawn_workers(
            directory, runner.master_bind_port, options.workers, options.seed, "schedule"
        )
        wait_for_workers(runner, processes, directory)
        origin = time.time() + 0.5 + opts.users / 20_000
        service.store.set_meta("origin_epoch", repr(origin))
        runtime.time.origin = origin
        history = session.start(env, runner, opts)
        origin_perf = time.perf_counter() + (origin - time.time())
        scale = settings.real.time_scale
        hard_end = origin_perf + (settings.load.duration_s + settings.load.drain_s) * scale
        planned = _planned(settings, options.seed)

        def finished() -> bool:
            # Every worker's slice answered, and nothing left in the retry queue
            # (the master's consumers drain it) or in the master's background work.
            if len(done) < options.workers:
                return False
            return len(runtime.background) + runtime.offload(service.parked_depth) == 0

        session.wait(
            hard_end,
            finished,
            lambda: snapshot(variant.name, settings, env, origin_perf, samples, planned),
            progress,
        )
        result = session.finish(env, runner, history, options.html)
        stop_workers(processes, timeout_s=30.0)
        for job in jobs:
            job.kill()
        runtime.drain(1.0)
        runtime.quiesce()
        shopper_records: list[list[Any]] = []
        for index in range(options.workers):
            path = directory / f"records-{index}.json"
            if not path.exists():
                raise LoadError(
                    f"worker {index} left no records (see {directory}/worker-{index}.log)"
                )
            shopper_records.extend(json.loads(path.read_text(encoding="utf-8")))
        service.save_counters()
        facts = records.collect(service.store, service.ledger)
        service.close()
        return assemble(variant, settings, shopper_records, facts, samples, result, opts.users)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        runtime.close()
        shutil.rmtree(directory, ignore_errors=True)


def _planned(settings: Settings, seed: int) -> int:
    from checkoutsim.load.schedule import plan

    return len(plan(settings, seed))


@dataclass(frozen=True)
class ClosedLoopFigures:
    """What one closed-loop window measured.

    ``cores`` is the CPU time the run's processes (this one and its workers)
    used during the window, per wall second: on a shared 2-core machine it shows
    whether the run had the cores its rate needs (``None`` without ``/proc``).
    """

    checkouts_per_s: float
    cores: float | None
    cpu_ms_per_checkout: float | None
    #: The serving processes' shop-file write locks over their whole run, summed
    #: (``write_lock_figures``), with ``checkouts``, the orders of the whole run;
    #: None on a server store.
    write_lock: dict[str, float] | None = None


def write_lock_figures(service: CheckoutService) -> dict[str, float] | None:
    """The shop file's write-lock figures of one process (the file every write of a
    checkout but the gateway's two goes to)."""
    figures = getattr(service.shop_db, "write_lock", None)
    return None if figures is None else dataclasses.asdict(figures)


def _summed(parts: list[dict[str, float] | None]) -> dict[str, float] | None:
    """Figures of several processes added up (None if any is missing)."""
    if not parts or any(part is None for part in parts):
        return None
    return {name: sum(part[name] for part in parts if part) for name in parts[0] or {}}


def closed_loop_figures(
    settings: Settings,
    workers: int,
    users: int,
    seconds: float,
    warmup_s: float = 1.0,
    own_files: bool = False,
) -> ClosedLoopFigures:
    """Checkouts per second and CPU use of closed-loop buyers on ``workers`` processes.

    With ``own_files`` each worker after the first serves a store of its own
    (a folder inside the run's), so that no two processes share a file: what
    the workers can do when nothing of SQLite's is shared between them.
    """
    from checkoutsim.load.users import BenchTarget

    directory = Path(tempfile.mkdtemp(prefix="checkoutsim-bench-", dir=store_parent(settings)))
    # This process serves the checkouts only when there are no workers.
    runtime = GeventRuntime.for_settings(settings, process=0 if workers == 0 else None)
    processes: list[subprocess.Popen[bytes]] = []
    # Stores of their own for the workers after the first (``own_files``).
    others: list[Path] = []
    try:
        service = prepare(directory, settings, runtime, 1)
        opts = session.SessionOptions(users=users)
        if workers == 0:
            env = session.environment([ClosedLoopBuyer], opts, BenchTarget(service.api, 0))
            runner = env.create_local_runner()
        else:
            env = session.environment([ClosedLoopBuyer], opts, None)
            runner = env.create_master_runner("127.0.0.1", free_port())
            if own_files:
                others = _own_stores(directory, workers - 1)
            stores = [directory, *others] if own_files else None
            processes = spawn_workers(
                directory, runner.master_bind_port, workers, 1, "bench", stores
            )
            wait_for_workers(runner, processes, directory)
        history = session.start(env, runner, opts)
        gevent.sleep(warmup_s)
        pids = [os.getpid(), *(process.pid for process in processes)]

        def count() -> int:
            return _orders(service) + sum(_orders_in(runtime, store) for store in others)

        before, cpu_before, started = count(), cpu_seconds(pids), time.perf_counter()
        gevent.sleep(seconds)
        after, cpu_after = count(), cpu_seconds(pids)
        elapsed = time.perf_counter() - started
        session.finish(env, runner, history, html=False)
        stop_workers(processes, timeout_s=15.0)
        runtime.quiesce()
        if workers == 0:
            locks = write_lock_figures(service)
        else:
            locks = _summed([_read_lock_figures(directory, index) for index in range(workers)])
        if own_files:
            # Each file has its own lock: their held times do not add up to one bound.
            locks = None
        if locks is not None:
            locks["checkouts"] = _orders(service)
        service.close()
        checkouts = after - before
        if cpu_before is None or cpu_after is None:
            return ClosedLoopFigures(checkouts / elapsed, None, None, locks)
        cpu = cpu_after - cpu_before
        return ClosedLoopFigures(
            checkouts / elapsed,
            cpu / elapsed,
            1000.0 * cpu / checkouts if checkouts else None,
            locks,
        )
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        runtime.close()
        shutil.rmtree(directory, ignore_errors=True)


def lock_figures_path(directory: Path, index: int) -> Path:
    """Where bench worker ``index`` leaves its write-lock figures when it exits."""
    return directory / f"write-lock-{index}.json"


def _read_lock_figures(directory: Path, index: int) -> dict[str, float] | None:
    try:
        return json.loads(lock_figures_path(directory, index).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def cpu_seconds(pids: list[int]) -> float | None:
    """User and system CPU seconds the processes have used so far, all threads (Linux ``/proc``).

    ``None`` where ``/proc`` is missing or a process is gone: a figure from only
    some of the processes would understate the run's CPU use.
    """
    ticks_per_s = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        # Fields after the command name (which may hold spaces), from field 3 on:
        # utime and stime are fields 14 and 15.
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks_per_s


def _own_stores(directory: Path, count: int) -> list[Path]:
    """Folders for ``count`` stores of their own, each with the run's settings."""
    folders = []
    for index in range(count):
        folder = directory / f"own-{index + 1}"
        folder.mkdir()
        shutil.copy(directory / "settings.json", folder / "settings.json")
        folders.append(folder)
    return folders


def _orders_in(runtime: GeventRuntime, folder: Path) -> int:
    """Orders in the store in ``folder`` (another process's), read in a pool thread."""

    def count() -> int:
        with contextlib.closing(sqlite3.connect(StorePaths.in_directory(folder).shop)) as shop:
            return int(shop.execute("SELECT COUNT(*) FROM orders").fetchone()[0])

    return runtime.offload(count)


def _orders(service: CheckoutService) -> int:
    """Orders in the shared store right now (a cheap read, in a pool thread)."""

    def count() -> int:
        return int(service.shop_db.read().execute("SELECT COUNT(*) FROM orders").fetchone()[0])

    return service.runtime.offload(count)
