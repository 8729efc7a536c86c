"""Shared stand-ins for the probe's tests: flash-sale's schedule, light-load timings, a
calibration of a stand-in target."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from checkoutsim.probe.calibrate import Calibration
from checkoutsim.probe.options import ProbeOptions, schedule_settings
from checkoutsim.scenario import files


def schedule(rate: float, run_time: float = 1.0, burst: int = 400):
    """flash-sale's arrivals at ``rate`` for ``run_time`` (its burst at 1 s, if that long)."""
    base = files.load("flash-sale", [f"load.burst_size={burst}"], []).variants[0].settings
    return schedule_settings(base, ProbeOptions(run_time_s=run_time, rate_per_s=rate))


def light(ordered: float = 0.012, sold_out: float | None = 0.002) -> Calibration:
    return Calibration(ordered_s=ordered, sold_out_s=sold_out, stock_read_s=0.001)


def calibrated(
    monkeypatch: pytest.MonkeyPatch,
    rounds: dict[int, tuple[int, float, float]],
    at_rate: Any = None,
):
    """Calibrate a stand-in target: 21 orders of 200 ms, then sold out in 2 ms; the paced
    rounds answer as ``rounds`` says (answers, seconds, slowest answer) per in-flight count;
    ``at_rate`` is the round at the probe's own rate (a ``RateRound``, or None)."""
    from checkoutsim.probe import calibrate as calibration
    from checkoutsim.probe.adapter import load_adapter

    answers = iter([("ordered", 0.2)] * 21 + [("sold_out", 0.002)] * 100)
    monkeypatch.setattr(calibration.target, "reset", lambda base, adapter: None)
    monkeypatch.setattr(calibration.target, "read_stock", lambda base, adapter, sku: 21)
    monkeypatch.setattr(
        calibration.target, "checkout_once", lambda base, adapter, sku, key: next(answers)
    )
    asked: list[int] = []

    def paced(base: str, adapter: object, in_flight: int) -> tuple[int, float, float]:
        asked.append(in_flight)
        return rounds[in_flight]

    adapter = load_adapter(Path(__file__).parent / "targets" / "flask-safe.toml")
    timed = calibration.calibrate(
        "http://127.0.0.1:1",
        adapter,
        lambda b, a: [0.005] * 21,
        paced,
        None if at_rate is None else lambda b, a: at_rate,
    )
    return timed, asked
