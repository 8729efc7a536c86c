"""``checkoutsim loadtest-worker``: a Locust worker that serves a remote master's runs.

Started on any machine that can reach the master and the server store, as
``checkoutsim loadtest-worker --master-host HOST`` (or ``python -m
checkoutsim.load.remote_worker``). For each variant the master sends the
settings, the store and lock URLs and this worker's slice of the schedule; the
worker opens its own service on the shared store, plays its slice, and sends
back what its shoppers were told. See ``checkoutsim.load.remote``.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path
from typing import Any

import gevent
import locust  # noqa: F401  (monkey-patches first, before anything opens a socket)

from checkoutsim.load import session
from checkoutsim.load.backend_service import make_runtime, open_service
from checkoutsim.load.remote import DONE, EXIT, FLUSH, ORIGIN, READY, SETUP
from checkoutsim.load.schedule import plan
from checkoutsim.load.shoppers import ShopperRun, told_from_response
from checkoutsim.load.users import InProcessShopper
from checkoutsim.real.backends import BackendChoice, RunBackend
from checkoutsim.scenario.settings import Settings

#: Seconds between one variant's end and connecting for the next.
RECONNECT_DELAY_S = 2.0


class Session:
    """One variant on this worker: its service, its slice of shoppers, its records."""

    def __init__(self, env: Any, runner: Any) -> None:
        self.env = env
        self.runner = runner
        self.service: Any = None
        self.runtime: Any = None
        self.run: ShopperRun | None = None
        self.index = -1
        self.sent = False
        self.exit = False
        self.directory = Path(tempfile.mkdtemp(prefix="checkoutsim-worker-"))
        runner.register_message(
            SETUP, lambda environment, msg, **_: gevent.spawn(self.setup, msg.data)
        )
        runner.register_message(ORIGIN, lambda environment, msg, **_: self.start(msg.data))
        runner.register_message(FLUSH, lambda environment, msg, **_: gevent.spawn(self.report))
        runner.register_message(EXIT, lambda environment, msg, **_: self.leave())

    def setup(self, data: dict[str, Any]) -> None:
        """Open this process's service on the shared store and take the slice."""
        settings = Settings.model_validate_json(data["settings"])
        backend = RunBackend(BackendChoice(data["store"], data["locks"]), data["namespace"])
        self.index = int(data["index"])
        self.runtime = make_runtime(backend.choice, settings, time.time())
        service = open_service(
            settings, self.directory, self.runtime, data["seed"], self.index + 1, backend
        )
        self.service = service

        def send(key: str, body: dict[str, Any]) -> str:
            return told_from_response(*service.api.checkout(key, body))

        intents = plan(settings, data["seed"])[self.index :: data["count"]]
        self.run = ShopperRun(intents, settings, send, data["seed"], process=self.index + 1)
        self.env.checkoutsim = self.run
        self.runner.send_message(READY, self.index)

    def start(self, origin: float) -> None:
        """The schedule's origin is fixed: start the clock and watch for the end."""
        assert self.run is not None and self.runtime is not None
        self.runtime.time.origin = origin
        self.run.start_at(origin)
        gevent.spawn(self.finish_when_answered)

    def finish_when_answered(self) -> None:
        """Report once the slice is played and every request answered."""
        run, runtime = self.run, self.runtime
        assert run is not None and runtime is not None
        while not (run.finished and len(run.requests) == 0 and len(runtime.background) == 0):
            gevent.sleep(0.05)
        self.report()

    def report(self) -> None:
        """Save this process's counters in the store and send the shoppers' records."""
        if self.sent or self.run is None:
            return
        self.sent = True
        self.runtime.quiesce()
        self.service.save_counters()
        self.run.mark_running()
        rows = [list(record) for record in self.run.records]
        self.runner.send_message(DONE, {"index": self.index, "rows": rows})

    def leave(self) -> None:
        """The master has no more variants."""
        self.exit = True
        self.runner.quit()

    def close(self) -> None:
        """Stop what is left and close the connections."""
        if self.run is not None:
            self.run.requests.kill(block=True, timeout=5)
        if self.service is not None:
            # The master may already have audited and dropped the run's schemas:
            # the counters were saved before ``done``, so nothing is lost.
            with contextlib.suppress(Exception):
                self.service.close()
        if self.runtime is not None:
            self.runtime.close()


def serve(master_host: str, master_port: int, once: bool) -> None:
    """Serve variants until the master dismisses this worker (or once)."""
    while True:
        env = session.environment([InProcessShopper], session.SessionOptions(users=0), None)
        runner = env.create_worker_runner(master_host, master_port)
        current = Session(env, runner)
        runner.greenlet.join()
        current.close()
        if once or current.exit:
            return
        # Give the master time to close this variant's socket before saying hello.
        gevent.sleep(RECONNECT_DELAY_S)


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--master-host", default="127.0.0.1")
    parser.add_argument("--master-port", type=int, default=5557)
    parser.add_argument("--once", action="store_true", help="Serve one variant, then exit.")
    args = parser.parse_args(argv)
    serve(args.master_host, args.master_port, args.once)


if __name__ == "__main__":
    main()
