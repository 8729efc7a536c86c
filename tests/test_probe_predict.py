"""Filling the model from a probe: strategies, service times, the probe's own arrivals."""

from __future__ import annotations

from pathlib import Path

import pytest

from checkoutsim.load.schedule import plan
from checkoutsim.probe.adapter import Model
from checkoutsim.probe.model import Unsupported, model_settings, predict_metrics
from checkoutsim.probe.predict import judge, ratio
from tests.probe_fixtures import calibrated, light, schedule

#: The model has it, but a probe cannot tell how many buckets the target keeps.
NOT_YET = ["stock_buckets"]


@pytest.mark.parametrize("strategy", NOT_YET)
def test_strategies_the_model_lacks_say_so_in_one_line(strategy: str) -> None:
    with pytest.raises(Unsupported) as reason:
        model_settings(schedule(50), Model(strategy=strategy), light(), [100], 1)
    assert str(reason.value) == f"strategy {strategy} needs model support not present yet"


def test_a_check_then_decrement_target_is_predicted_with_its_gap_and_oversells() -> None:
    """The race window becomes the model's check gap; the safe fixes predict no oversell."""
    window = Model(strategy="check_then_decrement", workers=64, race_window_s=0.010)
    racy = model_settings(schedule(400, burst=400), window, light(ordered=0.020), [100], 1)
    assert racy.strategy == "check_then_decrement"
    assert racy.settings.inventory.costs.check_gap_s == pytest.approx(0.010)
    # Two queries and the gap on an order's path: the rest of its 20 ms holds nothing.
    assert racy.after_s == pytest.approx(0.020 - 2 * racy.query_s - 0.010)
    assert predict_metrics(racy, 1)["oversold_units"] > 0
    for strategy in ("decrement_then_check", "select_for_update", "queue_per_sku"):
        safe = model_settings(schedule(400, burst=400), Model(strategy=strategy), light(), [100], 1)
        assert safe.settings.inventory.costs.check_gap_s == 0.0
        assert predict_metrics(safe, 1)["oversold_units"] == 0, strategy


def test_no_model_section_and_no_order_timed_are_refused() -> None:
    with pytest.raises(Unsupported, match="no \\[model\\]"):
        model_settings(schedule(50), None, light(), [100], 1)
    with pytest.raises(Unsupported, match="no checkout was ordered"):
        model_settings(schedule(50), Model(strategy="atomic"), light(None), [100], 1)


def test_service_time_is_spread_over_the_strategys_queries() -> None:
    atomic = model_settings(schedule(50), Model(strategy="mutex", workers=8), light(), [70], 1)
    assert atomic.strategy == "atomic"
    assert atomic.query_s == pytest.approx(0.002) and atomic.after_s == pytest.approx(0.010)
    assert atomic.settings.inventory.workers == 8
    assert atomic.settings.catalog.stock_per_sku == 70
    naive = model_settings(schedule(50), Model(strategy="naive"), light(), [70], 1)
    # Two queries (read, write) on an order's path, one on a sold-out answer's.
    assert naive.query_s == pytest.approx(0.002) and naive.after_s == pytest.approx(0.008)
    untimed = model_settings(schedule(50), Model(strategy="naive"), light(sold_out=None), [70], 1)
    assert untimed.query_s == pytest.approx(0.001)  # the stock call stands in for the check


@pytest.mark.parametrize("strategy", ["atomic", "naive", "lock_ttl", "optimistic"])
def test_alone_an_order_takes_the_measured_service_time(strategy: str) -> None:
    # Two arrivals a second against 12 ms checkouts: nobody waits, so the model's
    # latency is the sum of its parts, which must add up to what was measured.
    filled = model_settings(schedule(2, 10, burst=0), Model(strategy=strategy), light(), [1000], 1)
    metrics = predict_metrics(filled, 1)
    assert metrics["oversold_units"] == 0 and metrics["orders"] == metrics["checkouts"]
    assert metrics["latency_p50_s"] == pytest.approx(0.012, rel=0.02)


@pytest.mark.parametrize(("rate", "seed"), [(50, 1), (250, 2), (1000, 3)])
def test_the_model_plays_the_probes_own_arrivals(rate: float, seed: int) -> None:
    settings = schedule(rate)
    filled = model_settings(settings, Model(strategy="atomic"), light(), [100], 1)
    metrics = predict_metrics(filled, seed)
    assert metrics["checkouts"] == len(plan(settings, seed))


def test_a_crowd_on_a_racy_write_back_oversells_and_a_safe_one_does_not() -> None:
    crowd = schedule(1000)
    safe = predict_metrics(
        model_settings(crowd, Model(strategy="mutex", workers=1000), light(), [100], 1), 1
    )
    racy = predict_metrics(
        model_settings(crowd, Model(strategy="naive", workers=1000), light(), [100], 1), 1
    )
    assert safe["oversold_units"] == 0 and safe["orders"] == 100
    assert racy["oversold_units"] > 0


@pytest.mark.parametrize(
    ("predicted", "measured", "verdict", "expected_ratio"),
    [
        (10, 10, "within 2x", 1.0),
        (19, 10, "within 2x", 1.9),
        (5, 10, "within 2x", 0.5),
        (31, 10, "over by 3.1x", 3.1),
        (4, 10, "under by 2.5x", 0.4),
        (0, 0, "within 2x (both 0)", 1.0),
        (3, 0, "over (predicted 3, measured 0)", None),
        (0, 7, "under (predicted 0, measured 7)", 0.0),
    ],
)
def test_verdicts_and_ratios(
    predicted: float, measured: float, verdict: str, expected_ratio: float | None
) -> None:
    assert judge(predicted, measured) == verdict
    assert ratio(predicted, measured) == (
        None if expected_ratio is None else pytest.approx(expected_ratio)
    )


def test_comparing_a_prediction_does_not_import_locust() -> None:
    # Locust monkey-patches whatever imports it; the model half and the report must not.
    import subprocess
    import sys

    code = (
        "import sys, checkoutsim.probe.predict, checkoutsim.probe.measure, "
        "checkoutsim.report.build; print('locust' in sys.modules, 'gevent' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.stdout.split() == ["False", "False"], result.stderr


def test_a_known_race_window_is_a_pause_between_read_and_write() -> None:
    model = Model(strategy="naive", race_window_s=0.005)
    alone = model_settings(schedule(2, 10, burst=0), model, light(ordered=0.030), [1000], 1)
    # Read 2 ms, the 5 ms gap once, write 2, then 21 ms holding nothing: 30 ms alone.
    assert alone.settings.inventory.costs.check_gap_s == pytest.approx(0.005)
    assert alone.settings.faults.pause_probability == 0.0
    assert alone.after_s == pytest.approx(0.021)
    assert predict_metrics(alone, 1)["latency_p50_s"] == pytest.approx(0.030, rel=0.02)
    # A wider window lets more shoppers read the same stock before anyone writes.
    narrow = model_settings(schedule(100), Model(strategy="naive", workers=1000), light(), [20], 1)
    wide = model_settings(
        schedule(100),
        Model(strategy="naive", workers=1000, race_window_s=0.010),
        light(),
        [20],
        1,
    )
    assert predict_metrics(wide, 1)["oversold_units"] > predict_metrics(narrow, 1)["oversold_units"]


@pytest.mark.parametrize("strategy", ["atomic", "naive"])
def test_the_probe_clients_overhead_is_added_to_every_predicted_latency(strategy: str) -> None:
    # The same target, timed with and without 1.5 ms of client overhead: the
    # model's figures are the same, and each latency is 1.5 ms longer.
    plain = model_settings(schedule(2, 10, burst=0), Model(strategy=strategy), light(), [1000], 1)
    timed = light()
    timed.client_overhead_s = 0.0015
    client = model_settings(schedule(2, 10, burst=0), Model(strategy=strategy), timed, [1000], 1)
    assert client.settings == plain.settings and client.client_s == 0.0015
    assert any("client adds 1.50 ms" in line for line in client.assumptions)
    without, with_client = predict_metrics(plain, 1), predict_metrics(client, 1)
    for key, value in without.items():
        if key.startswith("latency_"):
            assert with_client[key] == pytest.approx(value + 0.0015), key
        else:
            assert with_client[key] == value or value != value, key


def test_a_busy_host_is_named_as_the_likely_cause_of_a_latency_miss() -> None:
    from checkoutsim.probe.adapter import load_adapter
    from checkoutsim.probe.host import busy_note, host_load
    from checkoutsim.probe.predict import compare

    quiet = host_load(0.0)
    assert quiet["cores"] >= 1 and quiet["load_1m_before"] == 0.0
    busy = host_load(float(quiet["cores"]) + 0.5)
    assert busy["busy"] and "host busy: load average" in busy_note(busy)
    filled = model_settings(schedule(50), Model(strategy="atomic"), light(), [100], 1)
    adapter = load_adapter(Path(__file__).parent / "targets" / "flask-safe.toml")
    measured = {"checkouts": 55, "errors": 0, "timed_out": 0, "oversold_units": 0}
    measured["latency_p50_s"] = 0.050
    predicted = {"oversold_units": 0, "latency_p50_s": 0.002}
    on_busy = compare(measured, predicted, filled, adapter, busy)
    assert on_busy["verdicts"]["latency_p50_s"] == "under by 25.0x"
    assert on_busy["likely_causes"][0].startswith("a busy host: load average")
    on_quiet = compare(measured, predicted, filled, adapter, {**busy, "busy": False})
    assert not on_quiet["likely_causes"][0].startswith("a busy host")


@pytest.mark.parametrize(
    ("concurrency", "adapter_workers", "expected"),
    [(None, 40, 40), (1.2, 40, 1), (0.4, 40, 1), (7.6, 40, 8), (7.6, 4, 4)],
)
def test_the_burst_sets_how_many_checks_the_model_serves_at_once(
    concurrency: float | None, adapter_workers: int, expected: int
) -> None:
    timed = light()
    if concurrency is not None:
        timed.concurrency, timed.burst = concurrency, (5, 0.05)
    model = Model(strategy="atomic", workers=adapter_workers)
    filled = model_settings(schedule(50), model, timed, [100], 1)
    assert filled.places == expected
    # Paced, the crowd waits at the door (the default queue); else the adapter's workers.
    served = f"{expected} worker" if concurrency is None else f"{expected} at the door"
    assert filled.assumptions[1].startswith(served)
    if concurrency is not None:
        assert f"the adapter says {adapter_workers}" in filled.assumptions[1]
        assert filled.settings.inventory.workers == adapter_workers
        database = model.model_copy(update={"queue": "database"})
        pooled = model_settings(schedule(50), database, timed, [100], 1)
        assert pooled.settings.inventory.workers == expected == pooled.places
        assert pooled.settings.server.acceptors == 0


def test_one_check_at_a_time_queues_a_crowd_that_many_at_once_does_not() -> None:
    # 1,000 checkouts a second against 2 ms checks: one at a time is past saturation
    # (the queue grows), forty at a time is not.
    one, forty = light(), light()
    one.concurrency, one.burst = 1.0, (5, 0.01)
    forty.concurrency, forty.burst = 40.0, (5, 0.00025)
    model = Model(strategy="atomic", workers=1000)
    slow = predict_metrics(model_settings(schedule(1000), model, one, [100], 1), 1)
    fast = predict_metrics(model_settings(schedule(1000), model, forty, [100], 1), 1)
    assert slow["latency_p50_s"] > 10 * fast["latency_p50_s"]


def test_a_check_then_decrement_miss_names_the_window_or_the_spacing() -> None:
    from checkoutsim.probe.adapter import load_adapter
    from checkoutsim.probe.predict import compare

    window = Model(strategy="check_then_decrement", workers=1, race_window_s=0.2)
    filled = model_settings(schedule(1000), window, light(), [20], 1)
    adapter = load_adapter(Path(__file__).parent / "targets" / "flask-racy.toml")
    measured = {"checkouts": 1041, "errors": 0, "timed_out": 0, "latency_p50_s": 0.24}
    over = compare({**measured, "oversold_units": 96}, {"oversold_units": 232}, filled, adapter)
    assert over["likely_causes"][0].startswith("the checks' spacing")
    under = compare({**measured, "oversold_units": 35}, {"oversold_units": 12}, filled, adapter)
    assert under["likely_causes"][0].startswith("the race window: the target's time")


def test_a_paced_rate_below_one_check_at_a_time_sets_the_checks_time() -> None:
    # Alone a check answers in 2 ms (5 ms through the run's client); kept busy the
    # target answered 250 a second: one worker holding each check 4 ms, and the
    # client keeps the 1 ms of the light-load answer that is not the check.
    timed = light(sold_out=0.002)
    timed.client_overhead_s = 0.003
    timed.burst = (50, 0.2)
    timed.concurrency = 50 * 0.002 / 0.2
    filled = model_settings(schedule(50), Model(strategy="atomic", workers=40), timed, [100], 1)
    assert filled.places == 1
    assert filled.check_s == pytest.approx(0.004)
    assert filled.client_s == pytest.approx(0.001)
    assert "answered up to 250 a second" in filled.assumptions[1]
    # Two at a time at 1,000 a second: each of two places holds a check 2 ms.
    timed.burst, timed.concurrency = (100, 0.1), 100 * 0.002 / 0.1
    two = model_settings(schedule(50), Model(strategy="atomic", workers=40), timed, [100], 1)
    assert two.places == 2
    assert two.check_s == pytest.approx(0.002) and two.client_s == pytest.approx(0.003)


def test_calibration_keeps_the_fastest_paced_round_until_a_connect_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rounds = {5: (55, 0.1, 0.01), 10: (50, 0.05, 0.02), 20: (40, 0.02, 1.2)}
    timed, asked = calibrated(monkeypatch, rounds)
    assert asked == [5, 10, 20]
    # 20 in flight waited for a connect retry: the backlog's time, not the target's.
    assert timed.burst == (50, 0.05)
    assert timed.concurrency == pytest.approx(50 * 0.002 / 0.05)
    assert timed.sold_out_s == pytest.approx(0.002) and timed.ordered_s == pytest.approx(0.2)
    assert timed.client_overhead_s == pytest.approx(0.003)
    retried, asked = calibrated(monkeypatch, {5: (55, 1.5, 1.1)})
    assert asked == [5] and retried.burst is None and retried.concurrency is None


def test_answers_past_the_connect_retry_name_the_listen_backlog() -> None:
    from checkoutsim.probe.adapter import load_adapter
    from checkoutsim.probe.predict import compare

    filled = model_settings(schedule(1000), Model(strategy="atomic"), light(), [20], 1)
    adapter = load_adapter(Path(__file__).parent / "targets" / "sqlite-safe.toml")
    measured = {"checkouts": 1041, "errors": 0, "timed_out": 26, "oversold_units": 0}
    busy = {"busy": True, "load_1m_before": 3.0, "load_1m_after": 3.0, "cores": 2}
    predicted = {"oversold_units": 0, "latency_p50_s": 0.19}
    backlog = compare({**measured, "latency_p50_s": 1.012}, predicted, filled, adapter, busy)
    cause = backlog["likely_causes"][0]
    assert cause.startswith("the listen backlog: half the answers took 1.01 s")
    # Below the retry, on a busy host, the host is named; a target failing many, that.
    slow = compare({**measured, "latency_p50_s": 0.5}, predicted, filled, adapter, busy)
    assert slow["likely_causes"][0].startswith("a busy host")
    failed = {**measured, "errors": 588, "latency_p50_s": 0.4}
    failing = compare(failed, predicted, filled, adapter, busy)
    assert failing["likely_causes"][0].startswith("the target failed 614 checkouts")
    # Predicted slower than measured: a busy host cannot explain that; the pace can.
    kept_up = compare({**measured, "latency_p50_s": 0.02}, predicted, filled, adapter, busy)
    assert kept_up["verdicts"]["latency_p50_s"] == "over by 9.5x"
    assert kept_up["likely_causes"][0].startswith(
        "the pace: the model serves about 8000 checks a second (16 workers"
    )


def test_a_client_share_from_the_paced_round_alone_is_named() -> None:
    # Paced, but the client's overhead not measured: the light-load check's 2 ms less
    # the paced 1 ms goes to every predicted latency, and an assumption must say so.
    timed = light(sold_out=0.002)
    timed.burst, timed.concurrency = (100, 0.1), 100 * 0.002 / 0.1
    filled = model_settings(schedule(50), Model(strategy="atomic", workers=1), timed, [100], 1)
    assert filled.client_s == pytest.approx(0.001)
    named = [line for line in filled.assumptions if "1.00 ms added to each predicted" in line]
    assert len(named) == 1 and "not measured" in named[0]
    assert "light-load check's 2.00 ms less the paced rate's 1.00 ms" in named[0]


def test_no_paced_round_no_paced_words() -> None:
    timed = light()
    timed.client_overhead_s = 0.0015
    filled = model_settings(schedule(50), Model(strategy="atomic"), timed, [100], 1)
    assert not any("paced" in line for line in filled.assumptions)
    assert filled.sources["workers"] == "the adapter's [model].workers"
    assert filled.sources["client"] == "timed at light load through the run's client"
    # Neither measured: nothing added, and no client line.
    bare = model_settings(schedule(50), Model(strategy="atomic"), light(), [100], 1)
    assert bare.client_s == 0.0 and not any("client" in line for line in bare.assumptions)


def test_a_measured_overhead_and_a_paced_round_are_both_named() -> None:
    timed = light(sold_out=0.002)
    timed.client_overhead_s = 0.003
    timed.burst, timed.concurrency = (50, 0.2), 50 * 0.002 / 0.2
    filled = model_settings(schedule(50), Model(strategy="atomic", workers=40), timed, [100], 1)
    line = next(line for line in filled.assumptions if "client adds" in line)
    assert line.startswith("the probe's HTTP client adds 1.00 ms to every answer (3.00 ms timed")
    assert "plus the light-load check's 2.00 ms less the paced rate's 4.00 ms" in line
    assert filled.sources["workers"] == "the calibration's paced round"


def test_the_pace_cause_names_where_its_figures_came_from() -> None:
    from checkoutsim.probe.adapter import load_adapter
    from checkoutsim.probe.predict import compare

    adapter = load_adapter(Path(__file__).parent / "targets" / "sqlite-safe.toml")
    measured = {"checkouts": 50, "errors": 0, "timed_out": 0, "oversold_units": 0}
    measured["latency_p50_s"] = 0.001
    predicted = {"oversold_units": 0, "latency_p50_s": 0.019}
    light_only = model_settings(schedule(50), Model(strategy="atomic"), light(), [100], 1)
    cause = compare(measured, predicted, light_only, adapter)["likely_causes"][0]
    assert cause.startswith("the pace:") and "paced round" not in cause
    assert "the adapter's [model].workers" in cause and "the sold-out answer" in cause
    timed = light()
    timed.burst, timed.concurrency = (100, 0.1), 100 * 0.002 / 0.1
    paced = model_settings(schedule(50), Model(strategy="atomic"), timed, [100], 1)
    cause = compare(measured, predicted, paced, adapter)["likely_causes"][0]
    assert "the calibration's paced round" in cause
    # Priced from the order when its share is the shorter: the cause says so too.
    cheap_order = model_settings(schedule(50), Model(strategy="naive"), light(0.002), [100], 1)
    assert cheap_order.sources["query"].startswith("the order")


def test_the_p99_is_shown_with_its_ratio_but_not_judged() -> None:
    from checkoutsim.probe.adapter import load_adapter
    from checkoutsim.probe.predict import compare

    filled = model_settings(schedule(50), Model(strategy="atomic"), light(), [100], 1)
    adapter = load_adapter(Path(__file__).parent / "targets" / "flask-safe.toml")
    measured = {"checkouts": 55, "errors": 0, "timed_out": 0, "oversold_units": 0}
    measured |= {"latency_p50_s": 0.010, "latency_p99_s": 2.0005}
    predicted = {"oversold_units": 0, "latency_p50_s": 0.012, "latency_p99_s": 0.4793}
    prediction = compare(measured, predicted, filled, adapter)
    # The figures and their ratio stay; a 4x miss gets no verdict and no cause.
    assert prediction["ratios"]["latency_p99_s"] == pytest.approx(0.4793 / 2.0005, abs=1e-6)
    assert prediction["verdicts"]["latency_p99_s"] == "not judged"
    assert prediction["verdicts"]["latency_p50_s"] == "within 2x"
    assert prediction["likely_causes"] == []
    assert "latency p99: not judged (" in prediction["verdict_lines"][0]
