"""``compare`` on every comparable named scenario, short: each judged metric's verdict.

Each case runs the model and the real body with the same short settings (a few
seconds of wall time, in a fresh interpreter: Locust monkey-patches its host)
and asserts, variant by variant, that every judged metric agrees, except the
disagreements listed in ``KNOWN`` with their reason. A variant whose host could
not keep up has no verdict (the tool's rule); its figures are not judged.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from checkoutsim.scenario import files as scenarios
from tests import shared_runs
from tests.test_real_load import cli

#: Named scenarios ``compare`` does not cover, and why.
NOT_COMPARED = {
    "chaos": "kills the server: `checkoutsim chaos` audits it; the model has no kills",
    "soak": "minutes of every fault at once: `checkoutsim soak`, a slow test",
    "scale-10m": "tier queues sized by the capacity model, not a checkout the real body runs",
    "scale-100m": "tier queues sized by the capacity model, not a checkout the real body runs",
    "flash-sale-wild": "ten variants, each a real-time run (time scale 1), more than"
    " the default suite's budget holds: their verdicts in both bodies are checked by"
    " tests/test_real_races_load.py, their agreement by `compare --grid` (docs/real.md)",
}

#: Short settings per scenario: time scales large enough that the real body's own
#: milliseconds are small against the simulated delays, faults moved into the run.
SHORT: dict[str, list[str]] = {
    # Fewer shoppers and a smaller opening burst: with 400 in 2 s the burst is
    # most of the run, and its p50 is the hot row's drain speed on a busy host.
    "flash-sale": ["--run-time", "3s", "--rate", "40", "--set", "load.burst_size=50"],
    "double-click": ["--run-time", "2s"],
    # 40 model seconds: enough pauses past the TTL that both bodies oversell (21 /
    # 23 in one run). In 20 the model drew none, and a busy host's own stall of
    # half a second (the 5 s TTL at time scale 0.1) let the real lock lapse: 0 / 11.
    "lock-pause": ["--run-time", "4s"],
    "inventory-outage": [
        "--run-time", "3s", "--set", "real.time_scale=0.1",
        "--set", 'faults.outages=[{service="inventory",start_s=10.0,end_s=20.0,mode="error"}]',
    ],
    "order-failure": ["--run-time", "3s", "--set", "real.time_scale=0.1"],
    # The sweeper's minimum age 40 s, not 60: still past the longest a saga waits for
    # its capture (the gateway's 30 s time-out), and the drain waits a pass past it
    # after a late capture (45 model seconds with the 5 s interval, not 70).
    "reservation-expiry": [
        "--run-time", "3s", "--set", "real.time_scale=0.2",
        "--set", "saga.sweeper_min_age_s=40", "--set", "saga.sweeper_interval_s=5",
    ],
    # 200 model seconds around the scenario's own outage (60 s to 180 s); the same
    # run's real figures are the breaker test's (tests/test_real_load_outage.py).
    "gateway-outage": list(shared_runs.GATEWAY_OUTAGE),
    # In real time: 2PC's database work under its lease is not scaled, and at
    # smaller scales a busy host's milliseconds of it saturate the hot rows.
    "saga-vs-2pc": [
        "--run-time", "4s", "--set", "real.time_scale=1.0",
        "--set", 'faults.outages=[{service="coordinator",start_s=1.0,end_s=3.0}]',
    ],
    "slow-gateway": ["--run-time", "3s", "--set", "real.time_scale=0.1"],
    "evolution": ["--run-time", "3s", "--set", "real.time_scale=0.1"],
    # 15 model seconds with 60 units: sold out at about 3 s, so the 10 s TTL's
    # stale spell after it fits in the run; 8.6 to 10.6 s of wall time in all at
    # load 5 to 7. At time scale 0.05 a host at load 9 put ttl_1s's real p99 at
    # 2.04x the model's; at 0.1 two runs gave 1.17x to 1.25x.
    "cached-stock": [
        "--run-time", "1.5s", "--set", "real.time_scale=0.1",
        "--set", "catalog.stock_per_sku=60",
    ],
    # 30 model seconds, the primary slow from 5 s to 20 s; a constant latency so that
    # every slowed charge captures 6 s after it started (no lognormal tail to wait
    # out), and a sweeper that waits longer than the queue's short back-off.
    "gateway-failover": [
        "--run-time", "3s", "--set", "real.time_scale=0.1",
        "--set", 'gateway.latency={distribution="constant",mean_s=0.3}',
        "--set", 'faults.brownouts=[{service="gateway",start_s=5,end_s=20,latency_factor=20}]',
        "--set", "saga.sweeper_min_age_s=40", "--set", "saga.sweeper_interval_s=2",
        "--set", "queue.backoff_cap_s=2",
    ],
}  # fmt: skip

#: Judged metrics that disagree for a reason that is not noise: (scenario, variant) -> why.
#: Empty: orphan payments once meant different things in the two bodies (money matched
#: by capture in the real body, by intent in the model); both now match by capture.
KNOWN: dict[tuple[str, str], dict[str, str]] = {}


#: Judged metrics that may disagree, found by these tests and not explained yet.
#: Empty: reservation-expiry's real orphan was a capture that landed after its shopper
#: was told "processing" and that the drain ended before a sweeper pass could see
#: (`checkoutsim.load.sweeper_watch`); the model's full drain always refunds it.
OPEN: dict[tuple[str, str], dict[str, str]] = {}


def test_every_named_scenario_is_compared_or_says_why_not() -> None:
    assert set(SHORT) | set(NOT_COMPARED) == set(scenarios.available())
    assert not set(SHORT) & set(NOT_COMPARED)


#: Cases whose counts at short settings are too few for a 2x judgement: run with -m slow.
#: lock-pause's pauses past the TTL are rare events; at 4 s one clean run gave 21 / 23
#: and another, on CI, 21 / 3 (Poisson noise on a handful of pauses, not a model error).
#: evolution runs three stages of a few seconds each, all real: tens of seconds of wall.
#: gateway-failover plays five variants of 3 s plus their drains: 45 s on a busy host.
#: reservation-expiry: 30 s of wall time (its gateway's 30 s time-outs and the sweeper
#: pass after a late capture), and on a busy host its verdict is often withheld; the
#: sweeper's late-capture path stays in the default run through slow-gateway's.
#: order-failure: its real p50 came out 2.9x the model's (1.14 s against 0.40 s) in one
#: full-suite run on an otherwise idle host, with the host check passing, where three
#: runs just after gave 1.1-1.2x; once more in an earlier day's runs (x2.85). Not
#: explained yet, so it is judged on purpose (-m slow), not by chance in the default run.
#: cached-stock and inventory-outage (about 20 s together, all real time) help keep the
#: default run near ten minutes on two cores; double-click's and gateway-outage's runs
#: are shared with other tests, so judging them costs nothing more.
SLOW = {
    "lock-pause",
    "reservation-expiry",
    "evolution",
    "gateway-failover",
    "order-failure",
    "cached-stock",
    "inventory-outage",
}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name
        for name in sorted(SHORT)
    ],
)
def test_compare_judges_every_metric_of_every_variant(name: str) -> None:
    # Shared with the report and breaker tests (one run per session).
    result = shared_runs.compare(name, *SHORT[name])
    assert result.returncode == 0, result.stderr[-3000:]
    document = json.loads(result.stdout)
    assert document["streams"]["mode"] == "common"
    assert [row["name"] for row in document["variants"]] == [
        variant.name for variant in scenarios.load(name).variants
    ]
    for row in document["variants"]:
        assert row["real"]["driver_exceptions"] == 0, row["name"]
        if row["withheld"] is not None:
            # The host fell behind (for the run, or for the race's window of a
            # few milliseconds): no agreement and no disagreement.
            race = row["withheld"].startswith("host too slow for the race")
            assert row["agree"] is None and (row["health"]["overloaded"] or race)
            continue
        expected = set(KNOWN.get((name, row["name"]), {}))
        allowed = set(OPEN.get((name, row["name"]), {}))
        verdicts = judged(row)
        wrong = {metric for metric, agree in verdicts.items() if not agree}
        assert expected <= wrong <= expected | allowed, (
            row["name"],
            [line for line in row["evidence"] if line["agree"] is False],
        )
        assert row["agree"] is (not wrong)
        assert set(row["disagree"]) == wrong


def judged(row: dict[str, Any]) -> dict[str, bool]:
    """Each judged metric's verdict; diagnostics must be marked and never judged."""
    verdicts = {}
    for line in row["evidence"]:
        if line["judged"]:
            assert line["kind"] in ("invariant", "rate", "latency")
            verdicts[line["metric"]] = line["agree"]
        else:
            assert line["kind"] == "diagnostic" and line["agree"] is None
    assert {"oversold_units", "unpaid_orders", "success_rate", "latency_p99_s"} <= set(verdicts)
    return verdicts


@pytest.mark.slow  # two real runs of a scenario (about 30 s)
def test_independent_streams_give_the_real_body_its_own_arrivals() -> None:
    # The common-mode run is the per-scenario test's (shared); key_first's model
    # run is the same whether the other variants run beside it or not.
    shared = shared_runs.compare("double-click", *SHORT["double-click"])
    assert shared.returncode == 0, shared.stderr[-3000:]
    common = json.loads(shared.stdout)
    args = ["compare", "double-click", "-v", "key_first", *SHORT["double-click"], "--json"]
    independent = json.loads(cli(*args, "--independent").stdout)
    assert common["streams"] == {"mode": "common", "model_seed": 1, "real_seed": 1}
    assert independent["streams"] == {"mode": "independent", "model_seed": 1, "real_seed": 1000001}
    (same,) = [row for row in common["variants"] if row["name"] == "key_first"]
    (own,) = independent["variants"]
    # The model's run is the same; the real body played other arrivals and clicks.
    assert same["sim"] == own["sim"]
    assert same["real"]["checkouts"] == same["sim"]["checkouts"]
    assert (own["real"]["checkouts"], own["real"]["captures"]) != (
        same["real"]["checkouts"],
        same["real"]["captures"],
    )
    text = cli("compare", "double-click", "-v", "key_first", "--run-time", "1s", "--independent")
    words = " ".join(text.stdout.split())
    assert "streams: independent (model seed 1, real seed 1000001" in words
    # The header says how long the model ran, and why that is not `run`'s length.
    assert "model: 4 s of model time, the real run's 1 s of wall time at time scale 0.25" in words
    assert "simulates the scenario's 60 s" in words
    assert "key_first: agree on every judged metric" in words or "no verdict" in words
