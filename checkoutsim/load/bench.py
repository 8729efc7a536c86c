"""``checkoutsim bench --real``: how fast the real checkout runs, and against what ceilings.

Figures, all from one run on this machine (printed, never asserted):

- ``checkouts_per_s``: closed-loop buyers driven by Locust in one process,
  through the whole service (API, policy core, executor, thread pool), variant
  atomic with key_first, no injected latency. The best of ``ROUNDS`` windows
  that alternate with the two-worker ones (every window is printed too).
- ``sqlite_ceiling_per_s``: the same transactions issued straight to SQLite, one
  after another in one thread, with no service around them.
- ``locust_noop_per_s``: Locust reporting requests that do nothing, in one process.
- ``checkouts_any_core_per_s``: the one-process figure again with the service's
  threads free to run on any core (``real.one_core_per_process`` off), to show
  what keeping them on one core is worth (``checkoutsim.load.affinity``).
- ``workers2_speedup``: checkouts per second with a master and two worker
  processes sharing the store (each worker on a core of its own, the master
  free), divided by the one-process figure.
- ``workers2_own_files_per_s``: two workers again, but the second on a store
  of its own, so that no file is shared: the gap between it and
  ``workers2_checkouts_per_s`` is what sharing one SQLite file costs (its lock,
  and the page caches each process's commits empty in the other), and the
  lock figures below say how much of it is the lock's.
- ``checkouts_cores``, ``workers2_cores``: CPU seconds the run's processes used
  per wall second of each window, and ``*_cpu_ms_per_checkout`` the CPU one
  checkout cost. With ``cpu_count`` and the load average (before and after) they
  tell whether the two-worker run had the cores a speed-up needs: on a shared
  machine it often has not, and the speed-up then measures the other load.

- ``store_dir``: where those SQLite files were, and its file system:
  ``real.store_dir``'s default is ``/dev/shm`` (memory) where it exists, so
  the figures above never wait for a disk. ``disk_checkouts_per_s`` and
  ``disk_sqlite_ceiling_per_s`` are the one-process rate and the ceiling again
  with the files in the system's temporary folder (``disk_store_dir``, with
  its file system), where they go without ``/dev/shm`` and where a user's
  ``--store sqlite:PATH`` or ``serve --db`` files usually are: what a user gets.

Locust monkey-patches the process that imports it, so ``real_bench`` measures in
a child process and returns its figures.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from checkoutsim.policy.ops import KeyState, PaymentRecord, ReservationRequest
from checkoutsim.real.runtime import ThreadRuntime
from checkoutsim.real.saga_context import SagaContext
from checkoutsim.real.service import CheckoutService, StorePaths, store_parent
from checkoutsim.real.timebase import WallTime
from checkoutsim.scenario.settings import Settings

INSTANT = {"distribution": "constant", "mean_s": 0.0}
BUYERS = 32
#: Alternating one-process and two-worker windows; each figure is its best window.
ROUNDS = 3


def bench_settings() -> Settings:
    """Atomic reservations, key-first payments, nothing injected, stock that never runs out."""
    return Settings.model_validate(
        {
            "inventory": {"strategy": "atomic"},
            "payment": {"strategy": "key_first"},
            "gateway": {"latency": INSTANT},
            "order": {"latency": INSTANT},
            "catalog": {"skus": 1, "stock_per_sku": 1_000_000_000},
            # Closed-loop buyers never have more than BUYERS sagas in flight; a
            # few threads then carry them with less switching between threads.
            "real": {"service_threads": 8},
        }
    )


def file_system(path: Path) -> str:
    """The type of the file system ``path`` is on (``/proc/mounts``), or ``unknown``."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return "unknown"
    resolved, best, kind = str(path.resolve()), "", "unknown"
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1]
        inside = resolved == point or resolved.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


def on_disk(settings: Settings) -> Settings:
    """The same settings with the SQLite files in the system's temporary folder."""
    real = settings.real.model_copy(update={"store_dir": tempfile.gettempdir()})
    return settings.model_copy(update={"real": real})


def sqlite_ceiling(settings: Settings, seconds: float) -> float:
    """A key-first, atomic checkout's transactions, back to back in one thread, per second."""
    directory = Path(tempfile.mkdtemp(prefix="checkoutsim-ceiling-", dir=store_parent(settings)))
    runtime = ThreadRuntime(WallTime(time.time(), settings.real.time_scale))
    service = CheckoutService(settings, StorePaths.in_directory(directory), runtime)
    store, ledger, requests = service.store, service.ledger, service.requests
    response = {"status": "ordered", "order_id": 0, "intent": 0}
    done = 0
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    for intent in itertools.count():
        key = f"c{intent}"
        saga = SagaContext(intent, key)
        requests.begin(key, intent, "hash")
        reservation = store.decrement(ReservationRequest(intent, 0, 1, 600.0), saga)
        store.insert_payment(PaymentRecord(key, KeyState.IN_PROGRESS))
        ledger.claim(key, claim=True)
        capture = ledger.settle(intent, 100, key, declined=False)
        store.update_payment(PaymentRecord(key, KeyState.CAPTURED, capture.capture_id))
        store.create_order(intent, reservation, capture.capture_id or 0, False, False, saga)
        requests.finish(key, 200, response)
        done += 1
        if time.perf_counter() >= deadline:
            break
    rate = done / (time.perf_counter() - started)
    service.close()
    shutil.rmtree(directory, ignore_errors=True)
    return rate


def noop_rate(seconds: float, users: int = BUYERS) -> float:
    """Requests per second Locust records from users that do nothing."""
    import gevent

    from checkoutsim.load import session
    from checkoutsim.load.users import NoOpUser

    options = session.SessionOptions(users=users)
    env = session.environment([NoOpUser], options, None)
    runner = env.create_local_runner()
    history = session.start(env, runner, options)
    gevent.sleep(0.5)
    before, started = env.stats.total.num_requests, time.perf_counter()
    gevent.sleep(seconds)
    count = env.stats.total.num_requests - before
    elapsed = time.perf_counter() - started
    session.finish(env, runner, history, html=False)
    return count / elapsed


def measure(seconds: float, rounds: int = ROUNDS) -> dict[str, dict[str, Any]]:
    """Every figure, in this process (which Locust will monkey-patch).

    The one-process and two-worker windows alternate for ``rounds`` rounds, and
    each keeps its best: other tenants of a shared machine only ever slow a
    window down, and alternating gives both figures the same chances.
    """
    settings = bench_settings()
    # The machine's load before anything here runs: another process's load
    # takes cores from the two-worker run and so from its speed-up.
    load_before = round(os.getloadavg()[0], 2)
    # The ceiling first, before Locust patches anything.
    ceiling = sqlite_ceiling(settings, seconds)
    import locust  # noqa: F401  (patches now, before the load parts open sockets)

    from checkoutsim.load.distributed import closed_loop_figures

    ones, twos, owns = [], [], []
    for _ in range(rounds):
        ones.append(closed_loop_figures(settings, workers=0, users=BUYERS, seconds=seconds))
        twos.append(closed_loop_figures(settings, workers=2, users=BUYERS * 2, seconds=seconds))
        owns.append(
            closed_loop_figures(
                settings, workers=2, users=BUYERS * 2, seconds=seconds, own_files=True
            )
        )
    one = max(ones, key=lambda figures: figures.checkouts_per_s)
    two = max(twos, key=lambda figures: figures.checkouts_per_s)
    own = max(owns, key=lambda figures: figures.checkouts_per_s)
    noop = noop_rate(seconds)
    # The same one-process run with its threads free to use every core.
    floating = settings.model_copy(
        update={"real": settings.real.model_copy(update={"one_core_per_process": False})}
    )
    any_core = closed_loop_figures(floating, workers=0, users=BUYERS, seconds=seconds)
    disk = on_disk(settings)
    disk_ceiling = sqlite_ceiling(disk, seconds)
    disk_one = closed_loop_figures(disk, workers=0, users=BUYERS, seconds=seconds)
    return {
        "real": {
            "checkouts_per_s": round(one.checkouts_per_s, 1),
            "sqlite_ceiling_per_s": round(ceiling, 1),
            "share_of_ceiling": round(one.checkouts_per_s / ceiling, 3),
            "locust_noop_per_s": round(noop, 1),
            "workers2_checkouts_per_s": round(two.checkouts_per_s, 1),
            "workers2_speedup": round(two.checkouts_per_s / one.checkouts_per_s, 3),
            "workers2_own_files_per_s": round(own.checkouts_per_s, 1),
            "workers2_own_files_speedup": round(own.checkouts_per_s / one.checkouts_per_s, 3),
            "workers2_own_files_cores": _rounded(own.cores, 2),
            "workers2_own_files_cpu_ms_per_checkout": _rounded(own.cpu_ms_per_checkout, 3),
            "workers2_own_files_rounds_per_s": [round(f.checkouts_per_s, 1) for f in owns],
            "checkouts_any_core_per_s": round(any_core.checkouts_per_s, 1),
            "checkouts_rounds_per_s": [round(f.checkouts_per_s, 1) for f in ones],
            "workers2_rounds_per_s": [round(f.checkouts_per_s, 1) for f in twos],
            "checkouts_cores": _rounded(one.cores, 2),
            "checkouts_cpu_ms_per_checkout": _rounded(one.cpu_ms_per_checkout, 3),
            "checkouts_any_core_cpu_ms_per_checkout": _rounded(any_core.cpu_ms_per_checkout, 3),
            "workers2_cores": _rounded(two.cores, 2),
            "workers2_cpu_ms_per_checkout": _rounded(two.cpu_ms_per_checkout, 3),
            "cpu_count": os.cpu_count(),
            "load_average_1m": [load_before, round(os.getloadavg()[0], 2)],
            "seconds_per_figure": seconds,
            "rounds": rounds,
            "buyers": BUYERS,
            "inventory_threads": settings.inventory.workers,
            "service_threads": settings.real.service_threads,
            "store_dir": str(store_parent(settings)),
            "store_file_system": file_system(store_parent(settings)),
            "disk_checkouts_per_s": round(disk_one.checkouts_per_s, 1),
            "disk_sqlite_ceiling_per_s": round(disk_ceiling, 1),
            "disk_share_of_ceiling": round(disk_one.checkouts_per_s / disk_ceiling, 3),
            "disk_share_of_memory": round(disk_one.checkouts_per_s / one.checkouts_per_s, 3),
            "disk_store_dir": str(store_parent(disk)),
            "disk_file_system": file_system(store_parent(disk)),
            **lock_figures(one.write_lock, "checkouts"),
            **lock_figures(two.write_lock, "workers2"),
        }
    }


def lock_figures(figures: dict[str, float] | None, prefix: str) -> dict[str, float]:
    """The shop file's write lock in one run, per checkout (``ClosedLoopFigures.write_lock``).

    ``held_ms``: how long the lock was held per checkout, all processes
    together; since one process at a time holds it, no number of processes
    sharing the file can pass ``lock_bound_per_s`` = 1,000 / ``held_ms``.
    ``waited_ms``: time a process spent waiting for another's hold.
    ``writes_per_group``: writes committed together (the group commit).
    """
    if not figures or not figures.get("checkouts") or not figures.get("groups"):
        return {}
    checkouts = figures["checkouts"]
    held_ms = 1000.0 * figures["held_s"] / checkouts
    return {
        f"{prefix}_lock_held_ms_per_checkout": round(held_ms, 4),
        f"{prefix}_lock_waited_ms_per_checkout": round(1000.0 * figures["waited_s"] / checkouts, 4),
        f"{prefix}_lock_bound_per_s": round(1000.0 / held_ms, 1) if held_ms else 0.0,
        f"{prefix}_writes_per_group": round(figures["writes"] / figures["groups"], 2),
    }


def _rounded(value: float | None, digits: int) -> float | None:
    """``round(value, digits)``, keeping ``None`` (a figure this platform cannot take)."""
    return None if value is None else round(value, digits)


def child_figures(module: str, arguments: list[str], seconds: float) -> dict[str, Any]:
    """Run a bench module's ``main`` in a child process and return the JSON it prints.

    Locust patches the process that imports it, so the measuring happens in a
    child and this process stays as it was.
    """
    completed = subprocess.run(
        [sys.executable, "-m", module, *arguments, "--seconds", str(seconds)],
        capture_output=True,
        text=True,
        timeout=120 + 10 * seconds,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{module} failed: {completed.stderr.strip()[-2000:]}")
    return json.loads(completed.stdout)


def real_bench(seconds: float = 5.0) -> dict[str, dict[str, Any]]:
    """Run ``measure`` in a child process (keeps this one unpatched) and return its figures."""
    return child_figures("checkoutsim.load.bench", [], seconds)


def main(argv: list[str] | None = None) -> None:
    """Print the figures as JSON (the child process of ``real_bench``)."""
    parser = argparse.ArgumentParser(description="checkoutsim real bench (child process)")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    sys.stdout.write(json.dumps(measure(args.seconds)) + "\n")


if __name__ == "__main__":
    main()
