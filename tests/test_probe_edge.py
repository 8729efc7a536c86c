"""At the target's measured capacity the p50 is a range, and the calibration's rounds."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkoutsim.probe.adapter import Model, load_adapter
from checkoutsim.probe.calibrate import Calibration
from checkoutsim.probe.edge import (
    AT_CAPACITY,
    EDGE,
    at_capacity,
    utilisation,
    with_capacity_to_spare,
)
from checkoutsim.probe.model import model_settings, predict_metrics
from checkoutsim.probe.predict import compare
from tests.probe_fixtures import calibrated, schedule

FLASK_SAFE = Path(__file__).parent / "targets" / "flask-safe.toml"


def paced(answers_per_s: float, sold_out_s: float = 0.001) -> Calibration:
    """A calibration whose paced round answered ``answers_per_s`` sold-out checkouts a second
    (100 answers), with 1 ms light-load checks and 1.5 ms of client overhead."""
    timed = Calibration(ordered_s=0.012, sold_out_s=sold_out_s, stock_read_s=0.001)
    timed.client_overhead_s = 0.0015
    seconds = 100 / answers_per_s
    timed.burst, timed.concurrency = (100, seconds), 100 * sold_out_s / seconds
    return timed


def filled_at(rate: float, answers_per_s: float, strategy: str = "mutex"):
    # No stock: every checkout is a sold-out check, so the door serves them at the
    # paced rate (no order's answer takes a share of it).
    model = Model(strategy=strategy, workers=1000)
    return model_settings(schedule(rate, burst=0), model, paced(answers_per_s), [0], 1)


@pytest.mark.parametrize(
    ("rate", "pace", "share"),
    [(1000, 1027, 1000 / 1027), (250, 1212, 250 / 1212), (870, 1000, 0.87), (840, 1000, 0.84)],
)
def test_utilisation_is_the_probes_rate_over_the_paced_capacity(
    rate: float, pace: float, share: float
) -> None:
    load = utilisation(filled_at(rate, pace))
    assert load.offered_per_s == pytest.approx(rate)
    assert load.capacity_per_s == pytest.approx(pace)
    assert load.ratio == pytest.approx(share)
    assert load.at_edge == (share >= EDGE)


def test_without_a_paced_round_capacity_is_the_adapters_workers_at_the_light_load_check() -> None:
    timed = Calibration(ordered_s=0.012, sold_out_s=0.002, stock_read_s=0.001)
    two = Model(strategy="atomic", workers=2)
    filled = model_settings(schedule(900, burst=0), two, timed, [20], 1)
    load = utilisation(filled)
    assert load.capacity_per_s == pytest.approx(1000) and load.at_edge


def test_the_flask_miss_is_given_as_a_range_not_a_verdict() -> None:
    # The campaign's miss: 1,000 a second against a paced 1,027; the point 41.5 ms, the
    # shop 8.4 ms. At capacity the p50 verdict is not "within", whatever the numbers.
    filled = filled_at(1000, 1027)
    adapter = load_adapter(FLASK_SAFE)
    measured = {
        "checkouts": 1041,
        "errors": 0,
        "timed_out": 0,
        "oversold_units": 0,
        "latency_p50_s": 0.0084,
    }
    predicted = {"oversold_units": 0, "latency_p50_s": 0.0415}
    judged = compare(measured, predicted, filled, adapter, None, 0.0033)
    assert judged["verdicts"]["latency_p50_s"] == AT_CAPACITY
    assert not judged["verdicts"]["latency_p50_s"].startswith("within")
    edge = judged["at_capacity"]
    assert edge["point_verdict"] == "over by 4.9x"
    assert edge["p50_range_s"] == [0.0033, 0.0415] and edge["measured_inside"] is True
    assert edge["threshold"] == EDGE and edge["utilisation"] == pytest.approx(1000 / 1027, 1e-3)
    lines = judged["verdict_lines"]
    assert "latency p50: at capacity: not predictable within 2x" in lines[0]
    assert any("3.3 ms (capacity to spare, no queue) to 41.5 ms" in line for line in lines)
    assert any("0.97 of the 1,027 checks a second" in line for line in lines)
    # The point missed, so its cause is still named.
    assert judged["likely_causes"][0].startswith("the pace")


def test_a_point_within_2x_at_capacity_is_still_not_counted_within() -> None:
    filled = filled_at(1000, 1027)
    measured = {"checkouts": 1041, "errors": 0, "timed_out": 0, "oversold_units": 0}
    judged = compare(
        {**measured, "latency_p50_s": 0.030},
        {"oversold_units": 0, "latency_p50_s": 0.0415},
        filled,
        load_adapter(FLASK_SAFE),
        None,
        0.0033,
    )
    assert judged["verdicts"]["latency_p50_s"] == AT_CAPACITY
    assert judged["at_capacity"]["point_verdict"] == "within 2x"
    assert judged["likely_causes"] == []
    outside = compare(
        {**measured, "latency_p50_s": 0.9},
        {"oversold_units": 0, "latency_p50_s": 0.0415},
        filled,
        load_adapter(FLASK_SAFE),
        None,
        0.0033,
    )
    assert outside["at_capacity"]["measured_inside"] is False
    assert "outside the range" in outside["at_capacity"]["line"]


def test_below_the_edge_the_p50_is_judged_within_2x_as_before() -> None:
    filled = filled_at(250, 1212)
    measured = {"checkouts": 278, "errors": 0, "timed_out": 0, "oversold_units": 0}
    judged = compare(
        {**measured, "latency_p50_s": 0.0084},
        {"oversold_units": 0, "latency_p50_s": 0.0415},
        filled,
        load_adapter(FLASK_SAFE),
        None,
        0.0033,
    )
    assert judged["verdicts"]["latency_p50_s"] == "over by 4.9x"
    assert judged["at_capacity"] is None
    assert not any(line.startswith("at capacity") for line in judged["verdict_lines"])


def test_capacity_to_spare_queues_no_check() -> None:
    # At the measured capacity the model's queue grows for the whole run; with a worker for
    # every checkout a sold-out answer is the check and the client's time.
    filled = filled_at(1000, 1000)
    at_limit = predict_metrics(filled, 1)["latency_p50_s"]
    spare = with_capacity_to_spare(filled)
    assert spare.settings.server.acceptors > 1041
    assert utilisation(spare).ratio < 0.1
    no_queue = predict_metrics(spare, 1)["latency_p50_s"]
    # The door's time on the way in, the (shortest) query, and the client's time.
    door = filled.settings.server.accept_s
    assert no_queue == pytest.approx(door + filled.query_s + filled.client_s, rel=0.05)
    assert at_limit > 2 * no_queue


@settings(max_examples=15)
@given(
    rate=st.sampled_from([200.0, 600.0, 900.0, 1000.0, 1200.0]),
    pace=st.floats(min_value=300.0, max_value=3000.0),
)
def test_the_range_is_ordered_and_its_spare_end_never_slower(rate: float, pace: float) -> None:
    filled = filled_at(rate, pace)
    point = predict_metrics(filled, 1)["latency_p50_s"]
    spare = predict_metrics(with_capacity_to_spare(filled), 1)["latency_p50_s"]
    assert spare <= point + 1e-9
    share = utilisation(filled)
    edge = at_capacity(share, 0.005, point, spare, "within 2x")
    low, high = edge["p50_range_s"]
    assert low <= high
    assert edge["measured_inside"] == (low <= 0.005 <= high)


def test_calibration_plays_forty_in_flight_and_keeps_it_when_no_connect_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rounds = {
        5: (55, 0.1, 0.01),
        10: (50, 0.05, 0.02),
        20: (40, 0.04, 0.05),
        40: (80, 0.05, 0.2),
    }
    timed, asked = calibrated(monkeypatch, rounds)
    assert asked == [5, 10, 20, 40]
    assert timed.burst == (80, 0.05)
    assert [kept["kept"] for kept in timed.as_json()["paced_rounds"]] == [True] * 4
    assert timed.as_json()["paced_rounds"][3]["per_s"] == pytest.approx(1600)


def test_a_forty_round_past_the_listen_backlog_is_played_but_not_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rounds = {
        5: (55, 0.1, 0.01),
        10: (50, 0.05, 0.02),
        20: (40, 0.04, 0.05),
        40: (80, 0.02, 1.02),
    }
    timed, asked = calibrated(monkeypatch, rounds)
    assert asked == [5, 10, 20, 40]
    # 4,000 a second, but an answer waited for the TCP connect retry: the backlog's time.
    assert timed.burst == (50, 0.05)
    rounds_json = timed.as_json()["paced_rounds"]
    assert [kept["kept"] for kept in rounds_json] == [True, True, True, False]


def test_a_round_of_forty_times_twice_its_in_flight_with_the_pipeline_full() -> None:
    from checkoutsim.probe.calibrate import PACED, paced_checkouts

    assert paced_checkouts(5) == PACED
    assert paced_checkouts(40) - 40 >= 2 * 40


def test_the_printed_table_gives_the_p50_range_at_capacity() -> None:
    from checkoutsim.cli.probe import predicted_cells

    filled = filled_at(1000, 1027)
    measured = {"checkouts": 1041, "errors": 0, "timed_out": 0, "oversold_units": 0}
    predicted = {"oversold_units": 0, "latency_p50_s": 0.0415, "latency_p99_s": 0.08}
    judged = compare(
        {**measured, "latency_p50_s": 0.0084, "latency_p99_s": 0.05},
        predicted,
        filled,
        load_adapter(FLASK_SAFE),
        None,
        0.0033,
    )
    assert predicted_cells(judged, "latency_p50_s", "ms") == ["3.3 ms to 41.5 ms", "at capacity"]
    assert predicted_cells(judged, "latency_p99_s", "ms") == ["80.0 ms", "1.6"]
    below = compare(
        {**measured, "latency_p50_s": 0.0084},
        predicted,
        filled_at(250, 1212),
        load_adapter(FLASK_SAFE),
    )
    assert predicted_cells(below, "latency_p50_s", "ms") == ["41.5 ms", "4.94"]


def test_request_threads_held_through_the_window_cap_the_capacity() -> None:
    # 8 threads, each held for its check, and by the checkouts that find stock (20
    # units of about 100 arrivals) for the 100 ms window and the order's rest too.
    model = Model(strategy="check_then_decrement", workers=1000, request_threads=8)
    model = model.model_copy(update={"race_window_s": 0.100})
    filled = model_settings(schedule(100, burst=0), model, paced(1500), [20], 1)
    load = utilisation(filled)
    share = 20 / filled.settings.load.expected_arrivals()
    held = filled.query_s + share * (0.100 + filled.after_s)
    assert load.capacity_per_s == pytest.approx(8 / held)
    assert load.capacity_per_s < 1500  # the threads, not the paced round, bound it
    # The range's low end has capacity to spare: no line for a thread either.
    assert with_capacity_to_spare(filled).settings.server.threads == 0


def test_a_paced_round_with_an_error_answer_is_not_kept() -> None:
    # (The round's keep rule, apart from the Locust user that plays it: importing
    # that would monkey-patch this whole test process.)
    from checkoutsim.probe.calibrate import paced_round
    from checkoutsim.probe.outcome import ERROR, SOLD_OUT

    answered = [n * 0.001 for n in range(20)]
    latencies = [0.001] * 20
    kept = paced_round([SOLD_OUT] * 20, answered, latencies, 20, 5)
    assert kept == (15, pytest.approx(0.015), 0.001)
    # A refusal answered fast is no check served: it would overstate the pace.
    assert paced_round([SOLD_OUT] * 19 + [ERROR], answered, latencies, 20, 5) is None
