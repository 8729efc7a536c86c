"""The HTML report of a probe shows the measurement against the model's prediction."""

from __future__ import annotations

import csv
from pathlib import Path

from checkoutsim.probe.adapter import Adapter
from checkoutsim.probe.model import model_settings, predict_metrics
from checkoutsim.probe.predict import compare
from checkoutsim.report import build
from tests.probe_fixtures import light, schedule

ADAPTER = Adapter.model_validate(
    {
        "checkout": {"path": "/buy", "ordered": [201], "sold_out": [409]},
        "stock": {"path": "/stock", "pointer": "/stock"},
        "catalog": {"skus": ["A1"]},
        "model": {"strategy": "mutex"},
    }
)


def test_a_probe_report_draws_measured_against_predicted(tmp_path: Path) -> None:
    filled = model_settings(schedule(250), ADAPTER.model, light(), [100], 1)
    predicted = predict_metrics(filled, 1)
    # A measurement that differs from the prediction, so the bars can be told apart.
    measured = {**predicted, "latency_p50_s": predicted["latency_p50_s"] * 3, "errors": 0}
    result = {
        "scenario": "flash-sale",
        "mode": "probe",
        "variants": [
            {"name": "probe", "metrics": measured, "verdict": {"safe": True, "violations": {}}}
        ],
        "prediction": compare(measured, predicted, filled, ADAPTER),
    }
    index = build.write_report(result, None, tmp_path)
    assert (tmp_path / "probe_vs_model.png").is_file()
    with (tmp_path / "probe_vs_model.csv").open() as file:
        rows = {(row["metric"], row["source"]): row["value"] for row in csv.DictReader(file)}
    assert float(rows[("latency_p50_s", "measured")]) == measured["latency_p50_s"]
    assert float(rows[("latency_p50_s", "predicted")]) == round(predicted["latency_p50_s"], 6)
    page = index.read_text()
    assert "Measured against predicted" in page and "under by 3.0x" in page


def test_a_probe_report_at_capacity_gives_the_p50_range(tmp_path: Path) -> None:
    timed = light(sold_out=0.002)
    timed.burst, timed.concurrency = (100, 0.2), 1.0  # 500 a second against 1,000 arriving
    filled = model_settings(schedule(1000), ADAPTER.model, timed, [100], 1)
    predicted = predict_metrics(filled, 1)
    measured = {**predicted, "latency_p50_s": 0.008, "errors": 0}
    result = {
        "scenario": "flash-sale",
        "mode": "probe",
        "variants": [
            {"name": "probe", "metrics": measured, "verdict": {"safe": True, "violations": {}}}
        ],
        "prediction": compare(measured, predicted, filled, ADAPTER, None, 0.004),
    }
    page = build.write_report(result, None, tmp_path).read_text()
    assert "p50 latency: at capacity: not predictable within 2x." in page
    assert "4.0 ms (capacity to spare, no queue)" in page
