"""``probe --predict``: calibrate, probe, fill the model, and set the two side by side.

The model runs on the probe's own schedule (same scenario, seed, run time and
rate: the same arrival instants), with the stock the target had before the run.
Each compared figure gets the ratio predicted / measured and a verdict: within
2x, or over- or under-predicted by how much; the p99 latency is shown with its
ratio but not judged (``NOT_JUDGED``), and the p50 at the target's measured
capacity is given as a range (``probe/edge.py``). When the oversell or the
median latency is off, ``likely_cause`` names the assumption most likely to blame.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from checkoutsim.probe.adapter import Adapter
from checkoutsim.probe.at_rate import RateRound
from checkoutsim.probe.calibrate import CONNECT_RETRY_S, calibrate
from checkoutsim.probe.edge import AT_CAPACITY, at_capacity, utilisation, with_capacity_to_spare
from checkoutsim.probe.model import (
    AT_RATE_ROUND,
    PACED_ROUND,
    Filled,
    Unsupported,
    model_settings,
    predict_metrics,
)
from checkoutsim.probe.options import ProbeOptions, schedule, schedule_settings
from checkoutsim.probe.target import base_url
from checkoutsim.scenario.settings import Settings

if TYPE_CHECKING:
    from checkoutsim.probe.run import ProbeResult

#: Figures compared, in the order printed.
COMPARED = (
    "checkouts",
    "orders",
    "sold_out",
    "units_sold",
    "oversold_units",
    "latency_p50_s",
    "latency_p99_s",
)
#: A prediction within this factor of the measurement either way agrees with it.
AGREEMENT = 2.0
#: Figures shown beside their prediction but given no verdict, and why. The
#: p99 of a probe's few hundred answers is its few slowest, and on a shared
#: host those are set by what the model cannot see: other tenants holding the
#: cores, the load generator's own lag (181 ms late at p99 in one run of
#: docs/probe.md), a connection dropped by a full backlog and sent again after
#: the TCP connect retry. A 2x verdict on it would judge the host, not the model.
NOT_JUDGED = {
    "latency_p99_s": (
        "not judged (the slowest 1% of a probe's answers is set by the host, the load "
        "generator's lag and retried connections, none of which the model sees)"
    ),
}


def predicted_probe(
    url: str, adapter: Adapter, scenario: str, settings: Settings, options: ProbeOptions
) -> ProbeResult:
    """Calibrate the target, probe it, and attach the model's prediction of the probe."""
    # Imported here: the probe's run imports Locust, which monkey-patches the process;
    # comparing a prediction with a measurement needs none of it.
    from checkoutsim.probe.drive import sold_out_at_rate, sold_out_paced, sold_out_through_client
    from checkoutsim.probe.run import probe

    base = base_url(url)
    planned = schedule_settings(settings, options)
    intents = schedule(planned, options.seed)

    def at_rate(base: str, adapter: Adapter) -> RateRound | None:
        return sold_out_at_rate(base, adapter, intents)

    calibration = calibrate(base, adapter, sold_out_through_client, sold_out_paced, at_rate)
    result = probe(url, adapter, scenario, settings, options)
    result.notes += calibration.notes
    prediction: dict[str, Any] = {"calibration": calibration.as_json()}
    try:
        filled = model_settings(
            result.settings,
            adapter.model,
            calibration,
            result.stock_levels,
            len(adapter.catalog.skus),
        )
    except Unsupported as reason:
        prediction["unsupported"] = str(reason)
        prediction["verdict_lines"] = [f"prediction: none: {reason}"]
        result.prediction = prediction
        return result
    predicted = predict_metrics(filled, options.seed)
    spare_p50 = None
    if utilisation(filled, predicted.get("orders")).at_edge:
        spare_p50 = predict_metrics(with_capacity_to_spare(filled), options.seed)["latency_p50_s"]
    host = result.health.get("host_load")
    prediction.update(compare(result.metrics, predicted, filled, adapter, host, spare_p50))
    result.prediction = prediction
    return result


def ratio(predicted: float | None, measured: float | None) -> float | None:
    """predicted / measured; 1 when both are 0; None when only the measurement is 0."""
    if predicted is None or measured is None:
        return None
    if measured == 0:
        return 1.0 if predicted == 0 else None
    return predicted / measured


def judge(predicted: float | None, measured: float | None) -> str:
    """``within 2x``, ``over by 3.1x``, ``under by 2.4x``, or why it cannot be said."""
    if predicted is None or measured is None:
        return "not comparable"
    if measured == 0 and predicted == 0:
        return "within 2x (both 0)"
    if measured == 0:
        return f"over (predicted {predicted:g}, measured 0)"
    if predicted == 0:
        return f"under (predicted 0, measured {measured:g})"
    factor = predicted / measured
    if 1 / AGREEMENT <= factor <= AGREEMENT:
        return "within 2x"
    return f"over by {factor:.1f}x" if factor > 1 else f"under by {1 / factor:.1f}x"


def compare(
    measured: dict[str, Any],
    predicted: dict[str, float],
    filled: Filled,
    adapter: Adapter,
    host: dict[str, Any] | None = None,
    spare_p50_s: float | None = None,
) -> dict[str, Any]:
    """The prediction's JSON: its figures, ratios, verdicts, assumptions and causes.

    ``spare_p50_s`` is the model's p50 with capacity to spare (``probe/edge.py``),
    the low end of the range given instead of a p50 verdict at the target's capacity.
    """
    figures = {key: _tidy(predicted.get(key)) for key in COMPARED}
    ratios = {key: _tidy(ratio(figures[key], measured.get(key))) for key in COMPARED}
    verdicts = {
        key: "not judged" if key in NOT_JUDGED else judge(figures[key], measured.get(key))
        for key in COMPARED
    }
    share = utilisation(filled, predicted.get("orders"))
    edge = None
    if share.at_edge:
        # The point's own verdict is kept in the edge block; the verdict says it cannot be had.
        edge = at_capacity(
            share,
            measured.get("latency_p50_s"),
            figures["latency_p50_s"],
            _tidy(spare_p50_s),
            verdicts["latency_p50_s"],
        )
        verdicts["latency_p50_s"] = AT_CAPACITY
    lines = [
        f"prediction: oversold {figures['oversold_units']} against {measured['oversold_units']}"
        f" measured: {verdicts['oversold_units']}; latency p50: {verdicts['latency_p50_s']};"
        f" latency p99: {NOT_JUDGED['latency_p99_s']}",
        "model assumptions: " + "; ".join(filled.assumptions),
    ]
    if edge is not None:
        lines.append(edge["line"])
    # At capacity the point's own verdict decides whether its miss has a cause to name.
    judged = {**verdicts, "latency_p50_s": edge["point_verdict"]} if edge else verdicts
    causes = [
        cause
        for key in ("oversold_units", "latency_p50_s")
        if not judged[key].startswith("within")
        and (cause := likely_cause(key, judged[key], measured, figures, filled, adapter, host))
    ]
    lines += [f"likely cause: {cause}" for cause in causes]
    return {
        "strategy": filled.strategy,
        "assumptions": filled.assumptions,
        "metrics": figures,
        "ratios": ratios,
        "verdicts": verdicts,
        "utilisation": round(share.ratio, 4),
        "at_capacity": edge,
        "likely_causes": causes,
        "verdict_lines": lines,
    }


def likely_cause(
    key: str,
    verdict: str,
    measured: dict[str, Any],
    predicted: dict[str, Any],
    filled: Filled,
    adapter: Adapter,
    host: dict[str, Any] | None = None,
) -> str | None:
    """The assumption most likely behind a prediction that is off, in one sentence."""
    model = adapter.model
    measured_p50 = measured.get("latency_p50_s")
    predicted_p50 = predicted.get("latency_p50_s")
    if (
        key == "latency_p50_s"
        and measured_p50 is not None
        and measured_p50 >= CONNECT_RETRY_S
        and (predicted_p50 is None or predicted_p50 < CONNECT_RETRY_S)
    ):
        return (
            f"the listen backlog: half the answers took {measured_p50:.2f} s or more, past "
            f"the {CONNECT_RETRY_S:g} s TCP connect retry, the mark of connections dropped "
            "while the target's accept queue was full and sent again; the model queues "
            "every checkout and retries none"
        )
    # Failed checkouts are the target's own evidence, so they come before the host's.
    if measured.get("errors", 0) + measured.get("timed_out", 0) > 0.05 * measured["checkouts"]:
        return (
            f"the target failed {measured['errors'] + measured['timed_out']} checkouts "
            "(refused connections, a full backlog, its own limits, time-outs), which the "
            "model does not know of"
        )
    over = verdict.startswith("over")
    # With a line at the door, the door's places serve the checks; else the workers.
    workers, check_s = filled.places, filled.check_s
    if key.startswith("latency_") and over:
        # A busy host only slows the measurement; a prediction too slow is the model's.
        unbound = workers / check_s
        pace = utilisation(filled, predicted.get("orders")).capacity_per_s
        # Request threads, or the orders' answers at the door, may hold it below that.
        held = (
            f"; {unbound:.0f} a check alone, less what request threads and the orders' answers hold"
            if pace < 0.99 * unbound
            else ""
        )
        sources = filled.sources
        # Say which timing set the pace: each round's doubts are its own.
        why = {
            PACED_ROUND: "a few checkouts in flight time its round trips more than its limit",
            AT_RATE_ROUND: (
                "the opening half second, played against it sold out, caught it slower than"
                " the run found it"
            ),
        }.get(
            sources.get("workers", ""),
            "one at a time, a check's time holds round trips a busy target overlaps",
        )
        return (
            f"the pace: the model serves about {pace:.0f} checks a second ({workers} "
            f"worker{'s' if workers != 1 else ''}, from {sources.get('workers', 'the adapter')},"
            f" at {check_s * 1000:.2f} ms a check, priced from"
            f" {sources.get('door') or sources.get('query', 'the light-load timing')}{held}),"
            " and the target kept up with"
            f" more here: {why}, or the host was busier while calibrating; a conditional "
            "write also holds the row that long"
        )
    if key.startswith("latency_") and host is not None and host.get("busy"):
        return (
            f"a busy host: load average {max(host['load_1m_before'], host['load_1m_after']):g}"
            f" on {host['cores']} cores, so answers waited for a core, which no model of "
            "the target sees; judge latency from a quieter run"
        )
    slower = _factor(measured.get("latency_p50_s"), predicted.get("latency_p50_s"))
    if key == "oversold_units":
        if over and slower > AGREEMENT:
            return (
                f"concurrency: answers came {slower:.0f}x slower than predicted, so the target "
                f"served fewer checkouts at once than {workers} workers (a thread pool, a "
                "connection backlog, the GIL) and its queue spread the checks apart"
            )
        window = model.race_window_s if model is not None else None
        if filled.strategy in ("naive", "optimistic") and window is None:
            return (
                f"the race window: the model's is one query ({filled.query_s * 1000:.2f} ms, "
                f"priced from {filled.sources.get('query', 'the light-load timing')}); give "
                "[model].race_window_s if the target does work between its check and its write"
            )
        if filled.strategy in ("naive", "optimistic"):
            return (
                f"the race window of {window * 1000:g} ms stated in the adapter, or workers "
                f"({workers}): the target may check and write closer together, "
                "or serve fewer at once"
            )
        if filled.strategy == "check_then_decrement" and window and not over:
            return (
                f"the race window: the target's time from check to decrement ran longer "
                f"than the {window * 1000:g} ms stated (its pause and write wake late on a "
                "busy host), and near sell-out each extra millisecond lets more checks "
                "through; a count of a few units moves a long way for that"
            )
        if filled.strategy == "check_then_decrement" and over:
            return (
                f"the checks' spacing: the target let fewer of them into one window than "
                f"the model's {workers} worker{'s' if workers != 1 else ''} at "
                f"{check_s * 1000:.2f} ms each (at this rate it took connections "
                "more slowly than at light load), or its window is shorter than stated"
            )
        return "the strategy: the target may not be the model's " + filled.strategy
    return (
        "queueing the model does not see: the target may serve fewer at once than "
        f"{workers} workers (a thread pool, a connection limit, the GIL), or it slows under "
        "load in ways a light-load calibration cannot time"
    )


def _factor(measured: float | None, predicted: float | None) -> float:
    """How many times slower the measurement was than the prediction (1 if unknown)."""
    if not measured or not predicted:
        return 1.0
    return measured / predicted


def _tidy(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6) if value == value else None
    return value
