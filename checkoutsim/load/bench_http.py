"""``checkoutsim bench --real --http``: the HTTP path, against a bare WSGI ceiling.

Figures, all from one run (printed, never asserted):

- ``http_checkouts_per_s``: ``checkoutsim serve`` (the real command, in its own
  process, on the bench's settings: atomic, key-first, nothing injected, a
  scenario file written for the run) under closed-loop Locust ``FastHttpUser``
  buyers in this process, each posting its next checkout as soon as the last
  one answered, with a fresh ``Idempotency-Key``: the client ``loadtest
  --target`` uses, without its schedule (a schedule's arrival rate would cap
  the figure);
- ``bare_wsgi_per_s``: the same buyers against a bare ``gevent.pywsgi`` app in
  its own process that answers every POST with a fixed small JSON body, the
  most any WSGI app on gevent can serve here;
- ``share_of_bare_wsgi``: the first over the second;
- ``in_process_checkouts_per_s``: the same checkout without HTTP, closed-loop
  Locust buyers calling the service in this process (``bench --real``'s
  one-process figure, its threads on one core as ``serve``'s are), in the
  same rounds: what one process does when HTTP costs nothing, so
  ``in_process_share_of_bare_wsgi`` is the most ``share_of_bare_wsgi`` can
  reach while a checkout costs what it does, and ``share_of_in_process`` how
  much of it ``serve`` keeps (the rest is what HTTP costs it);
- ``serve_cpu_ms_per_checkout``, ``bare_wsgi_cpu_ms_per_request`` and the
  client's: CPU one answer cost each process. ``serve`` keeps its threads on
  one core (``real.one_core_per_process``), so at about 1,000 / its CPU ms per
  checkout it is bound by its own work, HTTP and checkout together.

The three alternate for ``ROUNDS`` rounds and each keeps its best window.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checkoutsim.load.bench import bench_settings, child_figures

BUYERS = 32
ROUNDS = 2
#: The bench's settings (``checkoutsim.load.bench.bench_settings``) as a scenario file.
SCENARIO = """
name = "bench-http"
title = "HTTP bench: atomic, key-first, nothing injected"
question = "How fast is the HTTP path?"

[catalog]
skus = 1
stock_per_sku = 1000000000

[gateway]
latency = { distribution = "constant", mean_s = 0.0 }

[order]
latency = { distribution = "constant", mean_s = 0.0 }

[real]
service_threads = 8

[[variants]]
name = "atomic_key_first"
set = { "inventory.strategy" = "atomic", "payment.strategy" = "key_first" }
"""
#: What the bare server runs: a WSGI app that reads the body and answers at once, on
#: gevent's server with ``TCP_NODELAY`` as ``serve`` sets it (without it each small
#: answer waits for the client's delayed ACK, and the ceiling would be Nagle's).
BARE_APP = """
import socket
import sys
from gevent import monkey
monkey.patch_all()
from gevent.pywsgi import WSGIServer
class Server(WSGIServer):
    def handle(self, sock, address):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle(sock, address)
BODY = b'{"status": "ordered", "order_id": 1, "intent": 1}'
def app(environ, start_response):
    environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(BODY)))])
    return [BODY]
server = Server(("127.0.0.1", 0), app, log=None)
server.init_socket()
print(f"serving on http://127.0.0.1:{server.server_port}", file=sys.stderr, flush=True)
server.serve_forever()
"""
_SERVING = re.compile(r"serving on (http://\S+)")


def start_server(command: list[str], timeout_s: float = 60.0) -> tuple[subprocess.Popen[str], str]:
    """Start a server process and return it with the URL it announces on stderr."""
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    deadline = time.monotonic() + timeout_s
    seen: list[str] = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line.strip())
        match = _SERVING.search(line)
        if match:
            # Keep reading what it says, so that a full pipe never stalls it.
            threading.Thread(target=process.stderr.read, daemon=True).start()
            return process, match.group(1)
    process.kill()
    raise RuntimeError(f"{' '.join(command[:4])} did not start: {' | '.join(seen[-3:])}")


def stop_server(process: subprocess.Popen[str]) -> None:
    """SIGTERM (``serve`` drains and closes its store), then kill if it lingers."""
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass(frozen=True)
class Window:
    """One measured window: answers per second, and the CPU the server and client used."""

    per_s: float
    server_cpu_ms: float | None
    client_cpu_ms: float | None


def closed_loop_http(url: str, server_pid: int, seconds: float, warmup_s: float = 1.0) -> Window:
    """Successful answers per second of closed-loop FastHttpUser buyers against ``url``.

    With the CPU milliseconds one answer cost the server's process and this one
    (the client), from ``/proc``: a server near a whole core is bound by its own work.
    """
    import gevent

    from checkoutsim.load import session
    from checkoutsim.load.distributed import cpu_seconds
    from checkoutsim.load.users import ClosedLoopHttpBuyer

    options = session.SessionOptions(users=BUYERS)
    ClosedLoopHttpBuyer.host = url
    env = session.environment([ClosedLoopHttpBuyer], options, None)
    runner = env.create_local_runner()
    history = session.start(env, runner, options)
    gevent.sleep(warmup_s)
    stats = env.stats.total
    before, failed_before = stats.num_requests, stats.num_failures
    server_before, client_before = cpu_seconds([server_pid]), cpu_seconds([os.getpid()])
    started = time.perf_counter()
    gevent.sleep(seconds)
    done = (stats.num_requests - before) - (stats.num_failures - failed_before)
    server_after, client_after = cpu_seconds([server_pid]), cpu_seconds([os.getpid()])
    elapsed = time.perf_counter() - started
    session.finish(env, runner, history, html=False)
    return Window(
        done / elapsed,
        _per_answer(server_before, server_after, done),
        _per_answer(client_before, client_after, done),
    )


def _per_answer(before: float | None, after: float | None, answers: int) -> float | None:
    """CPU milliseconds per answer, or None where ``/proc`` could not say."""
    if before is None or after is None or not answers:
        return None
    return round(1000.0 * (after - before) / answers, 3)


def measure(seconds: float, rounds: int = ROUNDS) -> dict[str, dict[str, Any]]:
    """Every figure, in this process (which Locust will monkey-patch)."""
    import locust  # noqa: F401  (patches now, before anything opens a socket)

    load_before = round(os.getloadavg()[0], 2)
    from checkoutsim.load.distributed import closed_loop_figures

    settings = bench_settings()
    served: list[Window] = []
    bare: list[Window] = []
    in_process: list[float] = []
    with tempfile.TemporaryDirectory(prefix="checkoutsim-bench-http-") as folder:
        scenario = Path(folder) / "bench-http.toml"
        scenario.write_text(SCENARIO, encoding="utf-8")
        serve = [sys.executable, "-m", "checkoutsim", "serve", str(scenario), "--port", "0"]
        bare_server = [sys.executable, "-c", BARE_APP]
        for _ in range(rounds):
            for command, rates in ((serve, served), (bare_server, bare)):
                process, url = start_server(command)
                try:
                    rates.append(closed_loop_http(url, process.pid, seconds))
                finally:
                    stop_server(process)
            loop = closed_loop_figures(settings, workers=0, users=BUYERS, seconds=seconds)
            in_process.append(loop.checkouts_per_s)
    best = max(served, key=lambda window: window.per_s)
    ceiling = max(bare, key=lambda window: window.per_s)
    alone = max(in_process)
    return {
        "real": {
            "http_checkouts_per_s": round(best.per_s, 1),
            "bare_wsgi_per_s": round(ceiling.per_s, 1),
            "share_of_bare_wsgi": round(best.per_s / ceiling.per_s, 3),
            "in_process_checkouts_per_s": round(alone, 1),
            "in_process_share_of_bare_wsgi": round(alone / ceiling.per_s, 3),
            "share_of_in_process": round(best.per_s / alone, 3),
            "http_rounds_per_s": [round(window.per_s, 1) for window in served],
            "bare_wsgi_rounds_per_s": [round(window.per_s, 1) for window in bare],
            "in_process_rounds_per_s": [round(rate, 1) for rate in in_process],
            "serve_cpu_ms_per_checkout": best.server_cpu_ms,
            "bare_wsgi_cpu_ms_per_request": ceiling.server_cpu_ms,
            "client_cpu_ms_per_checkout": best.client_cpu_ms,
            "client_cpu_ms_per_bare_request": ceiling.client_cpu_ms,
            "buyers": BUYERS,
            "client": "locust FastHttpUser, closed loop, one process",
            "cpu_count": os.cpu_count(),
            "load_average_1m": [load_before, round(os.getloadavg()[0], 2)],
            "seconds_per_figure": seconds,
            "rounds": rounds,
        }
    }


def http_bench(seconds: float = 5.0) -> dict[str, dict[str, Any]]:
    """Run ``measure`` in a child process and return its figures."""
    return child_figures("checkoutsim.load.bench_http", [], seconds)


def main(argv: list[str] | None = None) -> None:
    """Print the figures as JSON (the child process of ``http_bench``)."""
    parser = argparse.ArgumentParser(description="checkoutsim HTTP bench (child process)")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    sys.stdout.write(json.dumps(measure(args.seconds)) + "\n")


if __name__ == "__main__":
    main()
