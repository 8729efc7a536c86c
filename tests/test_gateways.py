"""Several payment gateways: the shared status look-up in both bodies, the model's
gateway-failover scenario judged from the providers' ledgers, and bad settings."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import simpy
from typer.testing import CliRunner

from checkoutsim.cli.main import app
from checkoutsim.policy import ops
from checkoutsim.real.database import Database
from checkoutsim.real.gateway import Gateway, Ledger, faults_from_settings
from checkoutsim.real.runtime import Pause, ThreadRuntime
from checkoutsim.real.timebase import ManualTime
from checkoutsim.results import audit
from checkoutsim.results.metrics import summarise
from checkoutsim.scenario.files import ScenarioError, load
from checkoutsim.scenario.settings import Settings
from checkoutsim.sim import state
from checkoutsim.sim.gateway import GatewayModel
from checkoutsim.sim.model import simulate
from checkoutsim.world.arrivals import streams
from checkoutsim.world.faults import FaultSchedule
from checkoutsim.world.providers import capture_id, provider_of

UNKNOWN = ops.ChargeStatus.UNKNOWN


def slow_gateway() -> Settings:
    """Charges take 20 s against a 5 s time-out; a status look-up reads the records."""
    return Settings.model_validate(
        {
            "gateway": {
                "latency": {"distribution": "constant", "mean_s": 1.0},
                "timeout_s": 5.0,
            },
            "faults": {
                "brownouts": [
                    {"service": "gateway", "start_s": 0.0, "end_s": 50.0, "latency_factor": 20.0}
                ]
            },
        }
    )


def sim_answers(chosen: Settings) -> list[object]:
    env = simpy.Environment()
    model = GatewayModel(env, chosen, streams(1, 0), state.Ledger(), FaultSchedule(chosen.faults))
    answers: list[object] = []

    def scenario() -> object:
        answers.append((yield from model.charge(ops.Charge(1, 100, "k1"))))
        answers.append((yield from model.query("k1")))  # in flight: captures at 20 s
        yield env.timeout(20.0)
        answers.append((yield from model.query("k1")))
        answers.append((yield from model.query("never-sent")))

    env.run(until=env.process(scenario()))
    return answers


def real_answers(chosen: Settings, tmp: Path) -> list[object]:
    clock = ManualTime()
    runtime = ThreadRuntime(clock)
    ledger = Ledger(Database(tmp / "gateway.sqlite"), runtime)
    ledger.create()
    gateway = Gateway(ledger, faults_from_settings(chosen), random.Random(1), runtime)

    def finish(result: object) -> object:
        while isinstance(result, Pause):
            clock.sleep(result.seconds)
            result = result.resume()
        return result

    answers = [finish(gateway.charge(ops.Charge(1, 100, "k1")))]
    answers.append(finish(gateway.query("k1")))
    clock.sleep(20.0)
    runtime.run_due()  # the provider's late capture, on its own time
    answers.append(finish(gateway.query("k1")))
    answers.append(finish(gateway.query("never-sent")))
    return answers


def test_a_status_look_up_answers_alike_in_both_bodies(tmp_path: Path) -> None:
    chosen = slow_gateway()
    model = sim_answers(chosen)
    assert [answer.status for answer in model] == [  # type: ignore[attr-defined]
        UNKNOWN,  # timed out; the provider captures on its own time
        UNKNOWN,  # asked at once: still in flight
        ops.ChargeStatus.CAPTURED,  # asked after it settled
        ops.ChargeStatus.ERROR,  # no such charge
    ]
    real = real_answers(chosen, tmp_path)
    assert [answer.status for answer in real] == [  # type: ignore[attr-defined]
        answer.status  # type: ignore[attr-defined]
        for answer in model
    ]


def test_capture_ids_name_their_provider() -> None:
    for count in (1, 2, 5):
        for index in range(count):
            for row in (0, 1, 17):
                assert provider_of(capture_id(row, index, count), count) == (index, row)


def short(variant: str) -> dict[str, float]:
    scenario = load(
        "gateway-failover",
        ["load.duration_s=120", "load.drain_s=240"],
        [variant],
    )
    history = simulate(scenario.variants[0].settings, 1)
    return {
        **summarise(history, 120.0),
        **{check.invariant + "_count": check.count for check in audit.audit(history)},
        "providers_in_ledger": history.ledger["gateway"].nunique(),
    }


def test_gateway_failover_in_the_model_naive_charges_twice_safe_once() -> None:
    naive = short("naive_failover")
    safe = short("safe_failover")
    primary = short("primary_only")
    # Found from the ledgers: one intent captured at two providers.
    assert naive["one_provider_per_intent_count"] > 0
    assert naive["duplicate_charges"] >= naive["charged_at_two_providers"] > 0
    assert safe["charged_at_two_providers"] == 0 and safe["duplicate_charges"] == 0
    assert safe["providers_in_ledger"] == 2  # it did use the backup
    assert safe["success_rate"] > primary["success_rate"]
    assert primary["providers_in_ledger"] == 1


def test_weighted_spreads_payments_over_both_providers() -> None:
    weighted = short("weighted")
    assert weighted["providers_in_ledger"] == 2
    assert weighted["charged_at_two_providers"] == 0


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("gateways.routing=safe_failover", "queue charges the primary only"),
        ("gateways.routing=round_robin", "gateways.routing"),
    ],
)
def test_bad_gateway_settings_are_refused(override: str, expected: str) -> None:
    with pytest.raises(ScenarioError, match=expected):
        load("gateway-failover", [override, "queue.enabled=true"])


def test_a_bad_gateway_setting_is_one_line_exit_2() -> None:
    result = CliRunner().invoke(
        app, ["run", "gateway-failover", "--set", "gateways.routing=round_robin"]
    )
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "gateways.routing" in result.stderr


def test_two_providers_may_not_share_a_name() -> None:
    with pytest.raises(ValueError, match="names must differ"):
        Settings.model_validate({"gateways": {"primary_name": "a", "others": [{"name": "a"}]}})


def backup_down_breakers() -> Settings:
    """Half the payments go to a backup that is down all run; the primary is healthy."""
    down = {"start_s": 0.0, "end_s": 1e6}
    return Settings.model_validate(
        {
            "load": {"rate_per_s": 5.0, "duration_s": 60.0, "drain_s": 30.0},
            "gateway": {"latency": {"distribution": "constant", "mean_s": 0.1}},
            "payment": {"retries": 0},
            "breakers": {
                "gateway": {
                    "enabled": True,
                    "minimum_number_of_calls": 4,
                    "sliding_window_size": 8,
                    "wait_duration_in_open_state_s": 1000.0,
                }
            },
            "gateways": {
                "routing": "weighted",
                "primary_share": 0.5,
                "others": [{"name": "backup", "share": 0.5, "outages": [down]}],
            },
        }
    )


def test_the_timeline_breaker_is_the_most_open_providers() -> None:
    history = simulate(backup_down_breakers(), 1)
    # The primary's breaker stays closed; the backup's opens and stays open.
    assert history.ledger["gateway"].unique().tolist() == ["primary"]
    assert history.timeline["breaker_state"].iloc[-1] == 2


def test_two_phase_commit_with_routing_is_one_line_exit_2() -> None:
    with pytest.raises(ScenarioError, match="two-phase commit charges the primary only"):
        load("gateway-failover", ["transaction.protocol=two_phase_commit"], ["weighted"])
    result = CliRunner().invoke(
        app,
        [
            "run",
            "gateway-failover",
            "--set",
            "transaction.protocol=two_phase_commit",
            "--set",
            "gateways.routing=safe_failover",
        ],
    )
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "gateways.routing" in result.stderr
    # Primary only is what 2PC does: allowed, with a second provider named.
    Settings.model_validate(
        {
            "transaction": {"protocol": "two_phase_commit"},
            "gateways": {"routing": "primary_only", "others": [{"name": "backup"}]},
        }
    )
