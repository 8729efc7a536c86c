"""The gateway's rules are written once (``world.gateway_rules``) and both bodies obey them.

Each test runs the same calls, at the same model times, through the SimPy
body's gateway and through the real body's (SQLite ledger, manual clock): a
refund inside a gateway outage fails in both, and a capture of funds a
two-phase prepare holds is never declined again in either.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import pytest
import simpy

from checkoutsim.policy import ops
from checkoutsim.real.database import Database
from checkoutsim.real.gateway import Gateway, Ledger, faults_from_settings
from checkoutsim.real.runtime import Pause, ThreadRuntime
from checkoutsim.real.timebase import ManualTime
from checkoutsim.scenario.settings import Settings
from checkoutsim.sim import state
from checkoutsim.sim.gateway import GatewayModel
from checkoutsim.world import gateway_rules as rules
from checkoutsim.world import service_rules
from checkoutsim.world.arrivals import streams
from checkoutsim.world.faults import FaultSchedule

CAPTURED = ops.ChargeStatus.CAPTURED
DECLINED = ops.ChargeStatus.DECLINED


def settings(mode: str | None = "error", decline_rate: float = 0.0) -> Settings:
    """One-second gateway calls, a 10 s time-out, the gateway down from 10 s to 100 s."""
    outages = [{"service": "gateway", "start_s": 10.0, "end_s": 100.0, "mode": mode}]
    return Settings.model_validate(
        {
            "gateway": {
                "latency": {"distribution": "constant", "mean_s": 1.0},
                "timeout_s": 10.0,
                "decline_rate": decline_rate,
            },
            "faults": {"outages": outages if mode is not None else []},
        }
    )


class Body(Protocol):
    """A body's gateway, driven call by call at given model times."""

    def call(self, at: float, operation: ops.Operation) -> Any: ...

    def refunded(self) -> set[int]: ...

    def held(self, intent_id: int) -> bool: ...


class SimBody:
    """The model's gateway in a SimPy environment."""

    def __init__(self, chosen: Settings, _tmp: Path) -> None:
        self.env = simpy.Environment()
        self.ledger = state.Ledger()
        self.gateway = GatewayModel(
            self.env, chosen, streams(1, 0), self.ledger, FaultSchedule(chosen.faults)
        )

    def call(self, at: float, operation: ops.Operation) -> Any:
        if at > self.env.now:
            self.env.run(until=at)
        handler = self.gateway.handlers()[type(operation)]
        return self.env.run(until=self.env.process(handler(operation)))

    def refunded(self) -> set[int]:
        return set(self.ledger.refunded_at)

    def held(self, intent_id: int) -> bool:
        return self.gateway.books.held(intent_id)


class RealBody:
    """The real body's gateway: its SQLite ledger on a manual clock."""

    def __init__(self, chosen: Settings, tmp: Path) -> None:
        self.clock = ManualTime()
        runtime = ThreadRuntime(self.clock)
        self.ledger = Ledger(Database(tmp / "gateway.sqlite"), runtime)
        self.ledger.create()
        self.gateway = Gateway(self.ledger, faults_from_settings(chosen), random.Random(1), runtime)

    def call(self, at: float, operation: ops.Operation) -> Any:
        self.clock.advance(max(0.0, at - self.clock.now()))
        handler = {
            ops.Charge: self.gateway.charge,
            ops.Refund: self.gateway.refund,
            ops.Authorize: self.gateway.authorize,
        }[type(operation)]
        result = handler(operation)  # type: ignore[operator]
        while isinstance(result, Pause):
            self.clock.sleep(result.seconds)
            result = result.resume()
        return result

    def refunded(self) -> set[int]:
        frame = self.ledger.frame()
        return set(frame.loc[frame["refunded_s"].notna(), "capture_id"].tolist())

    def held(self, intent_id: int) -> bool:
        return self.ledger.held(intent_id)


BODIES = {"sim": SimBody, "real": RealBody}


@pytest.mark.parametrize("mode", ["error", "hang"])
@pytest.mark.parametrize("body_name", sorted(BODIES))
def test_a_refund_during_a_gateway_outage_fails_in_both_bodies(
    body_name: str, mode: str, tmp_path: Path
) -> None:
    body: Body = BODIES[body_name](settings(mode), tmp_path)
    captured = body.call(1.0, ops.Charge(1, 100, None))
    assert captured.status is CAPTURED
    # At t=20, inside the outage from 10 to 100: nothing is refunded.
    assert body.call(20.0, ops.Refund(captured.capture_id)) is False
    assert body.refunded() == set()
    # Its owner tries again once the gateway is back, and then it is refunded, once.
    assert body.call(150.0, ops.Refund(captured.capture_id)) is True
    assert body.refunded() == {captured.capture_id}
    assert body.call(160.0, ops.Refund(captured.capture_id)) is False


@pytest.mark.parametrize("body_name", sorted(BODIES))
def test_a_capture_of_held_funds_is_never_declined_again_in_both_bodies(
    body_name: str, tmp_path: Path
) -> None:
    # Half the calls decline; no outage.
    body: Body = BODIES[body_name](settings(None, decline_rate=0.5), tmp_path)
    held_statuses, unheld_statuses = [], []
    for intent in range(60):
        held = body.call(0.0, ops.Authorize(intent, 100))
        assert held is body.held(intent)
        status = body.call(0.0, ops.Charge(intent, 100, f"k{intent}")).status
        (held_statuses if held else unheld_statuses).append(status)
    # Declines were drawn at prepare time (some prepares failed) ...
    assert held_statuses and unheld_statuses
    # ... and a capture of funds held is never declined, where one without a hold is.
    assert set(held_statuses) == {CAPTURED}
    assert DECLINED in unheld_statuses


def test_the_rules_refuse_charges_in_an_outage_and_the_order_rule_fails_them() -> None:
    faults = faults_from_settings(settings("error"))
    draws = rules.ChargeDraws(latency=1.0, errored=False, declined=False, lost=False)
    call = rules.charge(ops.Charge(1, 100, None), draws, 20.0, faults, _NoBooks())
    assert (call.wait_s, call.answer(), call.met) == (
        rules.FAST_FAILURE_S,
        rules.ERROR,
        rules.OUTAGE_REFUSED,
    )
    hung = rules.charge(
        ops.Charge(1, 100, None), draws, 20.0, faults_from_settings(settings("hang")), _NoBooks()
    )
    assert (hung.wait_s, hung.answer().status, hung.met) == (
        10.0,
        ops.ChargeStatus.UNKNOWN,
        rules.OUTAGE_HUNG,
    )
    schedule = FaultSchedule(
        Settings.model_validate(
            {
                "faults": {
                    "outages": [{"service": "order", "start_s": 5, "end_s": 9, "mode": "hang"}]
                }
            }
        ).faults
    )
    assert service_rules.order_call(0.2, False, 6.0, schedule, 3.0) == service_rules.OrderCall(
        3.0, True
    )
    assert service_rules.order_call(0.2, False, 9.0, schedule, 3.0) == service_rules.OrderCall(
        0.2, False
    )


class _NoBooks:
    """Books that must not be touched: a call refused in an outage never reaches them."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"an outage reached the books: {name}")


class _NoTokens(_NoBooks):
    """Books whose account has no token left: every charge meets the rate limit."""

    def take_token(self, intent_id: int) -> bool:
        return False


def test_a_charge_refused_by_the_rate_limit_is_a_throttle_not_an_error() -> None:
    faults = replace(faults_from_settings(settings(None)), rate_limit_per_s=100.0)
    draws = rules.ChargeDraws(latency=1.0, errored=False, declined=False, lost=False)
    call = rules.charge(ops.Charge(1, 100, "k1"), draws, 20.0, faults, _NoTokens())
    assert (call.wait_s, call.answer().status, call.met) == (
        rules.FAST_FAILURE_S,
        ops.ChargeStatus.THROTTLED,
        rules.RATE_LIMITED,
    )
