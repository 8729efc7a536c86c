"""``checkoutsim probe URL --adapter FILE.toml``: measure any checkout on this machine.

Locust is imported only when the command runs (it monkey-patches the process).
Exit codes: 0 a complete run; 2 bad input (adapter, URL, options, a target that
cannot be read before the run); 3 an incomplete run (the target stopped
answering, or its stock could not be read after) or one the host could not
keep up with, whose verdict of safety is therefore withheld.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from checkoutsim.cli.app import JsonOption, SeedOption, emit_json, err, out
from checkoutsim.cli.errors import UserError, user_errors
from checkoutsim.cli.load_options import RateOption, RunTimeOption, UsersOption, parse_duration
from checkoutsim.cli.report import OutOption, ReportFlag, write_and_announce
from checkoutsim.scenario import files as scenarios

if TYPE_CHECKING:
    from checkoutsim.probe.run import ProbeResult

#: Exit code of a run that ended early or could not be judged.
INCOMPLETE_EXIT = 3

UrlArgument = Annotated[str, typer.Argument(help="The target, e.g. http://127.0.0.1:5000.")]
AdapterOption = Annotated[
    Path, typer.Option("--adapter", help="TOML saying how to check out and read stock.")
]
ScenarioOption = Annotated[
    str, typer.Option("--scenario", help="Scenario name or path whose arrivals to play.")
]
PredictFlag = Annotated[
    bool, typer.Option("--predict", help="Also predict the run with the model, side by side.")
]


@user_errors
def probe(
    url: UrlArgument,
    adapter_path: AdapterOption,
    scenario: ScenarioOption = "flash-sale",
    run_time: RunTimeOption = None,
    rate: RateOption = None,
    users: UsersOption = None,
    seed: SeedOption = 1,
    predict: PredictFlag = False,
    as_json: JsonOption = False,
    report: ReportFlag = False,
    out_directory: OutOption = None,
) -> None:
    """Drive an HTTP checkout with a scenario's arrivals, then read its stock: did it oversell?

    Loopback targets only (127.0.0.1, localhost, ::1).
    """
    from checkoutsim.probe.adapter import load_adapter
    from checkoutsim.probe.target import base_url

    adapter = load_adapter(adapter_path)
    base_url(url)
    loaded = scenarios.load(scenario, [], [])
    settings = loaded.variants[0].settings
    if users is not None and users > 5000:
        raise UserError(f"--users {users}: at most 5,000")
    from checkoutsim.probe.run import ProbeOptions
    from checkoutsim.probe.run import probe as run_probe

    options = ProbeOptions(
        run_time_s=parse_duration(run_time) if run_time else None,
        rate_per_s=rate,
        users=users,
        seed=seed,
    )
    if predict:
        from checkoutsim.probe.predict import predicted_probe

        result = predicted_probe(url, adapter, loaded.name, settings, options)
    else:
        result = run_probe(url, adapter, loaded.name, settings, options)
    data = result.to_json()
    data["seed"] = seed
    if report:
        write_and_announce(data, None, out_directory, loaded)
    if as_json:
        emit_json(data)
    else:
        render(result)
    if result.verdict["safe"] is None:
        raise typer.Exit(INCOMPLETE_EXIT)


def _figure(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value * 1000:.1f} ms"
    if isinstance(value, float):
        return f"{value:.3g}"
    return f"{value:,}"


#: The figures printed, with their labels and units.
ROWS = (
    ("checkouts", "checkouts", ""),
    ("orders", "orders", ""),
    ("sold_out", "sold out", ""),
    ("errors", "errors", ""),
    ("timed_out", "timed out", ""),
    ("not_started", "not started", ""),
    ("stock", "stock before", ""),
    ("stock_after", "stock after", ""),
    ("units_sold", "units sold", ""),
    ("oversold_units", "oversold units", ""),
    ("negative_stock_units", "negative stock", ""),
    ("lost_decrements", "lost decrements", ""),
    ("latency_p50_s", "latency p50", "ms"),
    ("latency_p99_s", "latency p99", "ms"),
    ("latency_ordered_p50_s", "ordered p50", "ms"),
    ("latency_sold_out_p50_s", "sold out p50", "ms"),
)


def predicted_cells(prediction: dict[str, Any], key: str, unit: str) -> list[str]:
    """A figure's predicted and ratio cells; at the target's capacity the p50 is its range."""
    edge = prediction.get("at_capacity")
    if key == "latency_p50_s" and edge:
        low, high = edge["p50_range_s"]
        return [f"{_figure(low, unit)} to {_figure(high, unit)}", "at capacity"]
    ratio = prediction["ratios"].get(key)
    return [_figure(prediction["metrics"].get(key), unit), _figure(ratio)]


def render(result: ProbeResult) -> None:
    """The measurement (and prediction) as a table, then the verdict and notes."""
    from rich.table import Table

    from checkoutsim.real.overload import summary, withheld_reason

    prediction = result.prediction
    predicted = prediction.get("metrics") if prediction else None
    table = Table(title=f"probe {result.base} ({result.scenario} arrivals)")
    table.add_column("figure")
    table.add_column("measured", justify="right")
    if predicted is not None:
        table.add_column("predicted", justify="right")
        table.add_column("ratio", justify="right")
    for key, label, unit in ROWS:
        measured = result.metrics.get(key)
        row = [label, _figure(measured, unit)]
        if predicted is not None and prediction is not None:
            row += predicted_cells(prediction, key, unit)
        table.add_row(*row)
    out.print(table)
    _print_phrases("host:", summary(result.health))
    if result.stopped:
        out.print(
            f"run ended early: {result.stopped}; the figures are what was measured",
            markup=False,
        )
    reason = withheld_reason(result.health)
    safe = result.verdict["safe"]
    if safe is None:
        why = reason or "the run is incomplete"
        out.print(f"no verdict: {why}", highlight=False, markup=False)
    elif safe:
        out.print("verdict: safe (no unit sold beyond the stock)")
    else:
        out.print(f"verdict: unsafe: oversold {result.metrics['oversold_units']} units")
    if prediction is not None:
        for line in prediction.get("verdict_lines", []):
            _print_phrases("", line)
    for note in result.notes:
        err.print(f"note: {note}", highlight=False, markup=False)


def _print_phrases(prefix: str, text: str) -> None:
    """``prefix`` and ``text`` at the console's width, broken only after a ``;``, ``:`` or
    ``,`` (a verdict such as "under by 2.0x" or a figure such as "12.5 ms" stays whole)."""
    from rich.text import Text

    from checkoutsim.results.layout import wrap_phrases

    for line in wrap_phrases(prefix, re.split(r"(?<=[;:,]) ", text), out.width):
        out.print(Text(line))


def register_probe(app: typer.Typer) -> None:
    """Add ``probe`` to ``app`` (once)."""
    if "probe" not in {command.name for command in app.registered_commands}:
        app.command("probe")(probe)
