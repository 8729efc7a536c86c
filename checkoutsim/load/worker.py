"""A Locust worker process for ``loadtest --workers`` and the speed bench.

Started by ``checkoutsim.load.distributed`` as ``python -m checkoutsim.load.worker``:
it opens the shared store with its own service instance, connects to the master,
plays its slice of the schedule (or buys in a closed loop for the bench), and at
the end writes what its shoppers saw to the run directory.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import gevent
import locust  # noqa: F401  (monkey-patches first, before anything opens a socket)

from checkoutsim.load import session
from checkoutsim.load.distributed import lock_figures_path, write_lock_figures
from checkoutsim.load.runtime import GeventRuntime
from checkoutsim.load.schedule import plan
from checkoutsim.load.shoppers import ShopperRun, told_from_response
from checkoutsim.load.users import BenchTarget, ClosedLoopBuyer, InProcessShopper
from checkoutsim.real.service import CheckoutService, StorePaths
from checkoutsim.scenario.settings import Settings

DONE = "checkoutsim_done"


def main(argv: list[str] | None = None) -> None:
    """Run one worker until the master says quit."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--directory", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mode", choices=("schedule", "bench"), default="schedule")
    args = parser.parse_args(argv)
    settings = Settings.model_validate_json((args.directory / "settings.json").read_text())
    runtime = GeventRuntime.for_settings(settings, process=args.index, siblings=True)
    service = CheckoutService(
        settings, StorePaths.in_directory(args.directory), runtime, args.seed, args.index + 1
    )
    options = session.SessionOptions(users=0)
    if args.mode == "bench":
        env = session.environment(
            [ClosedLoopBuyer], options, BenchTarget(service.api, args.index + 1)
        )
        runner = env.create_worker_runner("127.0.0.1", args.port)
        runner.greenlet.join()
        runtime.quiesce()
        figures = write_lock_figures(service)
        service.close()
        if figures is not None:
            lock_figures_path(args.directory, args.index).write_text(
                json.dumps(figures), encoding="utf-8"
            )
        return

    def send(key: str, body: dict[str, Any]) -> str:
        return told_from_response(*service.api.checkout(key, body))

    intents = plan(settings, args.seed)[args.index :: args.count]
    run = ShopperRun(intents, settings, send, args.seed, process=args.index + 1)
    env = session.environment([InProcessShopper], options, run)
    runner = env.create_worker_runner("127.0.0.1", args.port)

    def on_start(**_: Any) -> None:
        if run.origin_perf is not None:
            return
        origin = float(runtime.offload(lambda: service.store.meta()["origin_epoch"]))
        runtime.time.origin = origin
        run.start_at(origin)
        gevent.spawn(report_done)

    def report_done() -> None:
        # Tell the master once this slice is played and every request answered.
        while not (run.finished and len(run.requests) == 0 and len(runtime.background) == 0):
            gevent.sleep(0.05)
        runner.send_message(DONE, args.index)

    env.events.test_start.add_listener(on_start)
    runner.greenlet.join()
    run.requests.join(timeout=5)
    run.mark_running()
    run.requests.kill(block=True, timeout=5)
    runtime.drain(2.0)
    runtime.quiesce()
    service.close()
    records = [list(record) for record in run.records]
    (args.directory / f"records-{args.index}.json").write_text(
        json.dumps(records), encoding="utf-8"
    )
    runtime.close()


if __name__ == "__main__":
    main()
