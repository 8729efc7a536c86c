"""The fake gateway: its own ledger, its idempotency keys, and each fault knob."""

from __future__ import annotations

import random
from pathlib import Path

from checkoutsim.policy import ops
from checkoutsim.real.database import Database
from checkoutsim.real.gateway import Gateway, GatewayFaults, Ledger
from checkoutsim.real.runtime import Pause, ThreadRuntime
from checkoutsim.real.timebase import ManualTime
from checkoutsim.scenario.settings import Latency

CONSTANT = Latency(distribution="constant", mean_s=1.0)


def gateway(tmp_path: Path, **knobs: object) -> tuple[Gateway, ManualTime, ThreadRuntime]:
    clock = ManualTime()
    runtime = ThreadRuntime(clock)
    ledger = Ledger(Database(tmp_path / "gateway.sqlite"), runtime)
    ledger.create()
    faults = GatewayFaults(latency=knobs.pop("latency", CONSTANT), **knobs)  # type: ignore[arg-type]
    return Gateway(ledger, faults, random.Random(1), runtime), clock, runtime


def finish(result: object, clock: ManualTime) -> object:
    """Play a handler's pauses on the manual clock until it has a result."""
    while isinstance(result, Pause):
        clock.sleep(result.seconds)
        result = result.resume()
    return result


def captures(gw: Gateway) -> int:
    return len(gw.ledger.frame())


def test_a_capture_takes_the_latency_and_lands_in_the_ledger(tmp_path: Path) -> None:
    gw, clock, _ = gateway(tmp_path)
    result = finish(gw.charge(ops.Charge(1, 100, None)), clock)
    assert result == ops.ChargeResult(ops.ChargeStatus.CAPTURED, 1)
    assert clock.now() == 1.0
    frame = gw.ledger.frame()
    assert frame[["intent_id", "amount"]].values.tolist() == [[1, 100]]


def test_the_same_gateway_key_captures_once(tmp_path: Path) -> None:
    gw, clock, _ = gateway(tmp_path)
    first = finish(gw.charge(ops.Charge(1, 100, "k")), clock)
    second = finish(gw.charge(ops.Charge(1, 100, "k")), clock)
    assert first == second
    assert captures(gw) == 1


def test_a_key_still_in_flight_is_an_unknown_outcome(tmp_path: Path) -> None:
    gw, clock, _ = gateway(tmp_path)
    first = gw.charge(ops.Charge(1, 100, "k"))
    assert isinstance(first, Pause)  # still waiting for the gateway
    assert finish(gw.charge(ops.Charge(1, 100, "k")), clock) == ops.ChargeResult(
        ops.ChargeStatus.UNKNOWN
    )
    finish(first, clock)
    assert captures(gw) == 1


def test_a_lost_response_captured_money_the_caller_does_not_know_about(tmp_path: Path) -> None:
    gw, clock, _ = gateway(tmp_path, lost_response_rate=1.0)
    assert finish(gw.charge(ops.Charge(1, 100, None)), clock).status is ops.ChargeStatus.UNKNOWN
    assert captures(gw) == 1


def test_after_the_time_out_the_gateway_still_finishes_on_its_own_time(tmp_path: Path) -> None:
    slow = Latency(distribution="constant", mean_s=30.0)
    gw, clock, runtime = gateway(tmp_path, latency=slow, timeout_s=10.0)
    assert finish(gw.charge(ops.Charge(1, 100, None)), clock).status is ops.ChargeStatus.UNKNOWN
    assert clock.now() == 10.0 and captures(gw) == 0
    clock.advance(20)
    assert runtime.run_due() == 1
    assert captures(gw) == 1


def test_errors_and_declines_capture_nothing(tmp_path: Path) -> None:
    gw, clock, _ = gateway(tmp_path, error_rate=1.0)
    assert finish(gw.charge(ops.Charge(1, 100, None)), clock).status is ops.ChargeStatus.ERROR
    gw, clock, _ = gateway(tmp_path / "d", decline_rate=1.0)
    assert finish(gw.charge(ops.Charge(1, 100, "k")), clock).status is ops.ChargeStatus.DECLINED
    assert finish(gw.charge(ops.Charge(1, 100, "k")), clock).status is ops.ChargeStatus.DECLINED
    assert captures(gw) == 0


def test_outages_refuse_or_hang_and_the_rate_limit_answers_429(tmp_path: Path) -> None:
    gw, clock, _ = gateway(tmp_path, outages=((0.0, 5.0, "error"), (5.0, 10.0, "hang")))
    # Refused: back after the fast failure's 0.01 s, as in the model.
    assert finish(gw.charge(ops.Charge(1, 100, None)), clock) == ops.ChargeResult(
        ops.ChargeStatus.ERROR
    )
    assert clock.now() == 0.01
    clock.advance(5)
    assert finish(gw.charge(ops.Charge(1, 100, None)), clock).status is ops.ChargeStatus.UNKNOWN
    assert clock.now() == 15.01 and captures(gw) == 0
    gw, clock, _ = gateway(tmp_path / "r", rate_limit_per_s=1.0, rate_limit_burst=2.0)
    results = [finish(gw.charge(ops.Charge(i, 100, None)), ManualTime()) for i in range(3)]
    assert [r.status for r in results] == [  # type: ignore[attr-defined]
        ops.ChargeStatus.CAPTURED,
        ops.ChargeStatus.CAPTURED,
        ops.ChargeStatus.THROTTLED,
    ]


def test_a_capture_is_refunded_once(tmp_path: Path) -> None:
    gw, clock, _ = gateway(tmp_path)
    capture = finish(gw.charge(ops.Charge(1, 100, None)), clock)
    assert finish(gw.refund(ops.Refund(capture.capture_id)), clock) is True  # type: ignore[attr-defined]
    assert finish(gw.refund(ops.Refund(capture.capture_id)), clock) is False  # type: ignore[attr-defined]
    assert finish(gw.refund(ops.Refund(99)), clock) is False
    assert gw.ledger.unrefunded(older_than=100.0) == []
