"""A request that raises is logged and counted apart from what the shopper was told."""

from __future__ import annotations

import subprocess
import sys

#: Run in a child process: the shoppers run on gevent, kept out of the test session.
PROBE = """
import logging, sys, time
from checkoutsim.load.schedule import PlannedIntent
from checkoutsim.load.shoppers import ShopperRun
from tests.real_support import settings

logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
def crash(key, body):
    raise RuntimeError("strategy crashed on " + key)
def answer(key, body):
    return "ordered"
for name, send in (("crash", crash), ("answer", answer)):
    config = settings(shopper={"timeout_s": 5.0}, real={"time_scale": 0.01})
    intents = [PlannedIntent(i, 0.0, 0, 1, None) for i in range(7)]
    run = ShopperRun(intents, config, send, seed=1)
    run.start_at(time.time())
    told = [run.play(run.next_intent())[0] for _ in range(7)]
    print(name, run.exceptions, sum(record[10] for record in run.records), sorted(set(told)))
"""


def test_a_crashing_service_is_counted_and_logged_not_passed_off_as_an_outcome() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=False
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = completed.stdout.strip().splitlines()
    assert lines == ["crash 7 7 ['error']", "answer 0 0 ['ordered']"]
    # The first few carry their traceback; every one is logged.
    assert completed.stderr.count("RuntimeError: strategy crashed on i") == 5
    assert completed.stderr.count("raised (exception") == 7
