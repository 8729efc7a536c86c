"""The calibration's round at the probe's own rate: what a target sustains past 40 in flight."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checkoutsim.probe.adapter import Model
from checkoutsim.probe.at_rate import (
    AT_RATE_FEWEST,
    AT_RATE_FROM,
    PACED_FROM,
    RateRound,
    chosen_pace,
    rate_round,
)
from checkoutsim.probe.calibrate import Calibration
from checkoutsim.probe.edge import utilisation
from checkoutsim.probe.model import AT_RATE_ROUND, PACED_ROUND, model_settings, predict_metrics
from checkoutsim.probe.outcome import ERROR, SOLD_OUT
from tests.probe_fixtures import calibrated, schedule
from tests.test_probe_edge import FLASK_SAFE


def test_only_sold_out_answers_before_the_last_checkout_was_due_count() -> None:
    # 30 sold-out answers 2 ms apart, an error among them, then the backlog's
    # retried connections a second later: 500 checks a second while the load came.
    told = [SOLD_OUT] * 15 + [ERROR] + [SOLD_OUT] * 15 + [SOLD_OUT] * 5
    answered = [n * 0.002 for n in range(31)] + [1.1 + n * 0.001 for n in range(5)]
    kept = rate_round(told, answered, due_by=0.5, offered_per_s=1000)
    assert kept is not None
    assert (kept.played, kept.served, kept.errors) == (36, 29, 1)
    assert kept.seconds == pytest.approx(0.060)
    assert kept.served_per_s == pytest.approx(29 / 0.060)
    assert kept.fell_behind


def test_too_few_answers_by_the_due_time_keep_no_round() -> None:
    told = [SOLD_OUT] * (AT_RATE_FEWEST - 1) + [SOLD_OUT] * 50
    answered = [n * 0.001 for n in range(AT_RATE_FEWEST - 1)] + [2.0] * 50
    assert rate_round(told, answered, due_by=0.5, offered_per_s=1000) is None


def _round(offered: float, served_per_s: float) -> RateRound:
    return RateRound(offered, 500, 100, 100 / served_per_s, 0)


@given(
    paced_per_s=st.floats(100, 5000),
    offered=st.floats(20, 5000),
    served_share=st.floats(0.05, 1.2),
)
def test_a_round_that_fell_behind_sets_the_pace_and_one_that_kept_up_only_raises_it(
    paced_per_s: float, offered: float, served_share: float
) -> None:
    at_rate = _round(offered, offered * served_share)
    paced = (100, 100 / paced_per_s)
    chosen, source = chosen_pace(paced, at_rate)
    assert chosen is not None
    rate = chosen[0] / chosen[1]
    if at_rate.fell_behind:
        assert source == AT_RATE_FROM and rate == pytest.approx(at_rate.served_per_s)
    else:
        assert rate == pytest.approx(max(paced_per_s, at_rate.served_per_s))
    assert chosen_pace(paced, None) == (paced, PACED_FROM)
    assert chosen_pace(None, None) == (None, None)


def test_calibration_keeps_the_round_at_the_probes_rate_when_the_target_fell_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rounds = {5: (55, 0.1, 0.01), 10: (50, 0.05, 0.02), 20: (40, 0.04, 0.05), 40: (80, 0.08, 0.1)}
    behind = RateRound(1000.0, 520, 120, 0.3, 7)
    timed, _ = calibrated(monkeypatch, rounds, behind)
    assert timed.burst == (120, 0.3) and timed.pace_from == AT_RATE_FROM
    assert timed.concurrency == pytest.approx(120 * 0.002 / 0.3)
    block = timed.as_json()["at_rate"]
    assert block == {
        "offered_per_s": 1000.0,
        "played": 520,
        "served": 120,
        "seconds": 0.3,
        "served_per_s": 400.0,
        "errors": 7,
        "p50_s": None,
        "alone_s": 0.005,  # the run's client's sold-out answer alone, set by the calibration
        "queued": False,
        "fell_behind": True,
    }
    kept_up, _ = calibrated(monkeypatch, rounds, RateRound(100.0, 60, 50, 0.5, 0))
    assert kept_up.burst == (50, 0.05) and kept_up.pace_from == PACED_FROM


def _calibrated_at(served_per_s: float, source: str) -> Calibration:
    timed = Calibration(ordered_s=0.205, sold_out_s=0.002, stock_read_s=0.001)
    timed.client_overhead_s = 0.002
    timed.burst = (100, 100 / served_per_s)
    timed.concurrency = 100 * 0.002 / timed.burst[1]
    timed.at_rate = RateRound(1000.0, 520, 100, timed.burst[1], 0)
    timed.pace_from = source
    return timed


def test_the_model_serves_checks_at_the_rate_the_round_at_the_probes_rate_saw() -> None:
    model = Model(strategy="check_then_decrement", workers=1000, race_window_s=0.2)
    settings = schedule(1000, burst=0)
    slow = model_settings(settings, model, _calibrated_at(400, AT_RATE_FROM), [20], 1)
    # By hand: 2.5 ms at the door a check (400 a second); an order's answer takes
    # it 205 - 2.5 - 2 x 0.1 - 200 = 2.3 ms more (what the light-load order leaves),
    # and 20 of the 1,000 checkouts find stock: 1 / (2.5 + 0.02 x 2.3) ms = 392.8 a second.
    assert slow.settings.server.respond_s == pytest.approx(0.0023)
    assert utilisation(slow).capacity_per_s == pytest.approx(392.77, abs=0.01)
    # Told the model's own orders (oversold ones included), the share is theirs.
    assert utilisation(slow, orders=200).capacity_per_s == pytest.approx(
        1 / (0.0025 + 0.2 * 0.0023), abs=0.01
    )
    assert slow.sources["workers"] == AT_RATE_ROUND
    assert "played against it sold out, the target served 400 checks" in slow.assumptions[1]
    fast = model_settings(settings, model, _calibrated_at(1200, PACED_FROM), [20], 1)
    assert fast.sources["workers"] == PACED_ROUND
    # Fewer checks a second, fewer of them inside the 200 ms before the first decrement.
    slow_oversold = predict_metrics(slow, 1)["oversold_units"]
    fast_oversold = predict_metrics(fast, 1)["oversold_units"]
    assert 0 < slow_oversold < fast_oversold
    # About the checks served in one window, less the stock: 400 a second for 0.2 s.
    assert slow_oversold == pytest.approx(400 * 0.2 - 20, rel=0.5)


@pytest.mark.parametrize(
    ("p50_s", "queued"), [(0.004, False), (0.0099, False), (0.010, True), (0.078, True)]
)
def test_a_round_that_kept_count_but_queued_fell_behind(p50_s: float, queued: bool) -> None:
    # The Flask shop at 1,000 a second: 97% of the checks served by count, yet a
    # p50 of 78 ms in the run; a round whose answers took twice what one takes
    # alone (5 ms) is at the target's capacity whatever its count says.
    served = RateRound(1059.0, 527, 500, 500 / 1029.0, 0, p50_s, alone_s=0.005)
    assert served.queued == queued
    assert served.fell_behind == queued
    assert chosen_pace((100, 100 / 1350), served)[1] == (AT_RATE_FROM if queued else PACED_FROM)
    # Without the alone figure nothing says it queued.
    assert not RateRound(1059.0, 527, 500, 500 / 1029.0, 0, p50_s).queued


def test_the_round_plays_the_steady_arrivals_of_its_half_second_not_a_burst() -> None:
    from checkoutsim.probe.at_rate import AT_RATE_S, steady_opening

    steady = [0.003 + n * 0.01 for n in range(100)]  # 100 a second for a second
    burst = [0.25] * 400  # flash-sale's bell, inside the half second
    instants = sorted(steady + burst)
    kept = [instants[index] for index in steady_opening(instants)]
    assert kept == [instant for instant in steady if instant <= AT_RATE_S]
    assert len(kept) == 50 and 0.25 not in kept


def test_without_a_stated_window_a_racy_target_keeps_its_query_for_one() -> None:
    # Door mode prices the check at the door and the query at its shortest; with
    # no race window stated, that would leave a read-then-write no window at all.
    timed = _calibrated_at(1200, PACED_FROM)
    settings = schedule(400, burst=0)
    unstated = model_settings(settings, Model(strategy="naive", workers=1000), timed, [20], 1)
    assert unstated.settings.server.acceptors == 0
    assert "the race window is one query" in unstated.assumptions[1]
    assert predict_metrics(unstated, 1)["oversold_units"] > 0
    stated = Model(strategy="naive", workers=1000, race_window_s=0.01)
    assert model_settings(settings, stated, timed, [20], 1).settings.server.acceptors >= 1


def test_the_doors_capacity_counts_the_answers_of_the_orders() -> None:
    # Every checkout finds stock: each takes the door on the way in and again at
    # its answer, so the door serves half as many a second as with none in stock.
    timed = _calibrated_at(1000, PACED_FROM)
    model = Model(strategy="atomic", workers=1000)
    plenty = model_settings(schedule(400, burst=0), model, timed, [100_000], 1)
    none = model_settings(schedule(400, burst=0), model, timed, [0], 1)
    server = plenty.settings.server
    assert server.respond_s == pytest.approx(server.accept_s)
    assert utilisation(plenty).capacity_per_s == pytest.approx(utilisation(none).capacity_per_s / 2)


def test_a_pace_cause_names_the_round_at_the_probes_rate_and_the_threads_that_bind() -> None:
    from checkoutsim.probe.adapter import load_adapter
    from checkoutsim.probe.predict import compare

    pooled = Model(strategy="mutex", workers=1000, request_threads=8)
    filled = model_settings(
        schedule(300, burst=0), pooled, _calibrated_at(3000, AT_RATE_FROM), [20], 1
    )
    adapter = load_adapter(FLASK_SAFE)
    measured = {"checkouts": 300, "errors": 0, "timed_out": 0, "oversold_units": 0}
    judged = compare(
        {**measured, "latency_p50_s": 0.003},
        {"oversold_units": 0, "orders": 20, "latency_p50_s": 0.05},
        filled,
        adapter,
    )
    cause = judged["likely_causes"][0]
    assert cause.startswith("the pace: the model serves about")
    assert "caught it slower than the run found it" in cause
    # 8 threads, each held through a 200 ms order by 20 of 300: far below 3,000 a second.
    assert "less what request threads and the orders' answers hold" in cause
    pace = float(cause.split("about ")[1].split(" ")[0])
    assert pace < 1000
