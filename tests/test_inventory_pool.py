"""The real body's inventory pool serves at most as many calls as the service has workers.

A database with N connections in its pool runs N statements at once, and the
model's pool (``checkoutsim.sim.pool.WorkerPool``) serves N. The real body runs
a call in place when a worker is idle and nobody is queued, and queues the
others on a pool of N threads; a queued call must wait for the workers the
calls made in place hold, not take one of the pool's idle threads beside them.
"""

from __future__ import annotations

import json
import subprocess
import sys

#: Run in a child process: Locust monkey-patches the process that imports it.
POOL_PROBE = """
import json
import time
import locust  # noqa: F401
import gevent
from gevent import monkey
from checkoutsim.load.runtime import GeventRuntime

runtime = GeventRuntime(time.time(), 1.0, threads=2, general_threads=2)
guard = monkey.get_original("threading", "Lock")()
state = {"running": 0, "most": 0, "ran": 0}

def call():
    with guard:
        state["running"] += 1
        state["most"] = max(state["most"], state["running"])
        state["running"] -= 1
        state["ran"] += 1
    return True

# A burst's first calls took both workers in place (as ``Executor.segment`` does).
assert runtime.claim_inventory_worker() and runtime.claim_inventory_worker()
state["running"] = state["most"] = 2
queued = [gevent.spawn(runtime.offload_inventory, call) for _ in range(3)]
# Wait (polling, bounded) until both pool threads hold a queued call: parked for a
# worker, or already run beside the two calls made in place.
deadline = time.monotonic() + 60
def parked():
    return len(getattr(runtime, "_inventory_parked", ()))

while parked() + state["ran"] < 2 and time.monotonic() < deadline:
    gevent.sleep(0.001)
ran_while_claimed = state["ran"]
for _ in range(2):
    with guard:
        state["running"] -= 1
    runtime.release_inventory_worker()
gevent.joinall(queued, timeout=60)
print(json.dumps({
    "ran_while_claimed": ran_while_claimed, "most": state["most"], "ran": state["ran"],
    "values": [g.value for g in queued], "busy": runtime._inventory_busy,
    "parked": parked(),
}))
runtime.close()
"""


def test_a_queued_call_waits_for_the_workers_held_by_calls_made_in_place() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", POOL_PROBE], capture_output=True, text=True, timeout=180
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    seen = json.loads(completed.stdout.strip().splitlines()[-1])
    # None ran while both workers were held in place (before the bound, both
    # pool threads ran one beside them: three at once); all three ran
    # afterwards, never more than two at once, and every worker came back.
    assert seen == {
        "ran_while_claimed": 0,
        "most": 2,
        "ran": 3,
        "values": [True, True, True],
        "busy": 0,
        "parked": 0,
    }
