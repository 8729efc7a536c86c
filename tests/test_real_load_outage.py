"""The gateway-outage scenario end to end on the real body: breakers and the retry queue.

One short in-process load test of every variant (127.0.0.1 only, a few seconds
of wall time, the outage compressed by the time scale), audited: the breaker
fails fast, the queue parks payments and charges each once after the outage.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests import shared_runs
from tests.test_real_load import loadtest_json

#: 4 wall seconds at 0.02 play 200 model seconds: the outage is 60 s to 180 s.
SHORT = list(shared_runs.GATEWAY_OUTAGE)


def test_breakers_fail_fast_and_the_queue_recovers_every_parked_payment() -> None:
    # The real side of the per-scenario compare test's gateway-outage run (one run
    # per session): 4 wall seconds at 0.02 play 200 model seconds, the outage is
    # 60 s to 180 s.
    result = shared_runs.compare("gateway-outage", *shared_runs.GATEWAY_OUTAGE)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {row["name"]: row for row in json.loads(result.stdout)["variants"]}
    no_breaker, breaker, queued = (
        rows[name]["real"] for name in ("no_breaker", "breaker", "breaker_queue")
    )
    for row in rows.values():
        metrics = row["real"]
        assert metrics["duplicate_charges"] == 0
        assert metrics["errors"] == 0 and metrics["driver_exceptions"] == 0
        # Only a run that itself says its host was overloaded skips the orphan check.
        if row["withheld"] is None:
            assert metrics["orphan_payments"] == 0
    assert no_breaker["breaker_open_s"] == 0 and no_breaker["payment_queued"] == 0
    # Failing fast: most shoppers in the outage are answered at once, not after 30 s.
    assert breaker["breaker_open_s"] > 15 and breaker["breaker_rejections"] > 0
    if rows["breaker"]["withheld"] is None and rows["no_breaker"]["withheld"] is None:
        # Latencies of a run whose host fell behind measure the host (its verdict is
        # withheld): 3.4 s against 30.5 s once, at load average 10.
        assert breaker["latency_p50_s"] < no_breaker["latency_p50_s"] / 10
        assert breaker["latency_p99_s"] < no_breaker["latency_p99_s"]
    assert breaker["rejected"] > 0 and no_breaker["rejected"] == 0
    # Parked with their key, every payment is charged once the gateway is back.
    assert queued["payment_queued"] > 0
    assert queued["queued_recovered"] == queued["payment_queued"]
    assert queued["retry_queue_max_depth"] > 0 and queued["retry_queue_depth_at_end"] == 0
    assert queued["orders"] == queued["checkouts"] == queued["captures"]


#: Run in a child process: Locust monkey-patches the process that imports it.
TIMELINE_PROBE = """
import json
import locust  # noqa: F401
from checkoutsim.scenario import files as scenario
from checkoutsim.load.loadtest import LoadOptions, run_variant
loaded = scenario.load("gateway-outage", ["real.time_scale=0.02"])
variant = next(v for v in loaded.variants if v.name == "breaker_queue")
run = run_variant(variant, LoadOptions(run_time_s=4.0, rate_per_s=100.0))
timeline = run.history.timeline
print(json.dumps({"open": int((timeline.breaker_state == 2).sum()),
                  "deepest": int(timeline.queue_depth.max())}))
"""


def test_the_real_timeline_records_breaker_state_and_queue_depth() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", TIMELINE_PROBE], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    figures = json.loads(completed.stdout.strip().splitlines()[-1])
    assert figures["open"] > 0  # seconds sampled with the gateway's breaker open
    assert figures["deepest"] > 0  # payments parked during the outage


def test_two_workers_drain_the_queue_and_report_one_breakers_open_time() -> None:
    variants = loadtest_json("gateway-outage", "-v", "breaker_queue", "--workers", "2", *SHORT)
    queued = variants["breaker_queue"]["metrics"]
    # The master's consumers drain the shared queue before the audit.
    assert queued["payment_queued"] > 0
    assert queued["queued_recovered"] == queued["payment_queued"]
    assert queued["retry_queue_depth_at_end"] == 0 and queued["unfinished_sagas"] == 0
    assert queued["duplicate_charges"] == 0
    # Each process has its own breaker; the run reports the longest open time (a sum
    # over the processes would be about twice the model's 75 s). A worker's breaker
    # may still be open when its arrivals stop; that spell counts only up to its
    # last call, not through the master's drain, so the outage's 120 s bounds it.
    assert 15 < queued["breaker_open_s"] <= 125


#: Run in a child process: Locust monkey-patches the process that imports it.
LATER_PROBE = """
import time
import locust  # noqa: F401
import gevent
from checkoutsim.load.runtime import GeventRuntime
runtime = GeventRuntime(time.time(), 1.0, threads=2, general_threads=2)
ran = []
# A gateway call schedules its late capture from a pool thread, not the hub's.
runtime.offload(lambda: runtime.later(0.01, lambda: ran.append("late capture")))
gevent.sleep(0)
print(runtime.drain(5.0), ran)
runtime.close()
"""


def test_work_scheduled_from_a_pool_thread_still_runs() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", LATER_PROBE], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.strip().splitlines()[-1] == "True ['late capture']"
