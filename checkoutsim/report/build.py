"""Build a report folder: index.html, one PNG per figure, one CSV per figure, result.json.

:func:`write_report` is the one entry point, for ``checkoutsim report`` and for
``--report`` on run, loadtest, compare, capacity and sweep. It takes the
command's ``--json`` result and, when the command ran something, the histories
behind it; figures that need histories are listed on the page as such when
there are none. Everything is written into a staging folder and moved into
place at the end, so a failure leaves no half-written report.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from checkoutsim.report import frames
from checkoutsim.report.files import staged_directory
from checkoutsim.report.frames import ReportError
from checkoutsim.report.page import ScenarioText, page_context, render_page
from checkoutsim.report.plotting import Chart
from checkoutsim.results.history import History

#: The kinds of result a report can be made from (their ``mode``).
MODES = ("sim", "real", "compare", "capacity", "sweep", "probe")
#: Figures drawn from a live run's frames, by name, for the "needs a live run" note.
LIVE_FIGURES = (
    "latency CDF per variant",
    "outcomes per second over time, fault windows shaded",
    "circuit-breaker state timeline (when a variant has a breaker)",
    "retry-queue depth over time (when a variant has a retry queue)",
    "stock and reservations over time",
)
MAXIMUM_RESULT_BYTES = 50_000_000


def load_result(path: Path) -> dict[str, Any]:
    """Read a saved ``--json`` result; ReportError (one line) when it is not one."""
    path = Path(path)
    try:
        if path.stat().st_size > MAXIMUM_RESULT_BYTES:
            raise ReportError(f"{path}: more than {MAXIMUM_RESULT_BYTES:,} bytes")
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ReportError(f"{path}: cannot read: {error.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ReportError(f"{path}: not a JSON result: {error}") from None
    except (RecursionError, ValueError):
        # Nested too deeply for the parser, or an integer of over 4,300 digits.
        raise ReportError(
            f"{path}: not a JSON result: nested too deeply or a huge number"
        ) from None
    check_result(data, str(path))
    return data


def check_result(data: Any, where: str = "result") -> None:
    """Raise ReportError unless ``data`` looks like a checkoutsim result a report can use."""
    if not isinstance(data, dict):
        raise ReportError(f"{where}: expected a JSON object from a checkoutsim --json command")
    mode = data.get("mode")
    if mode not in MODES:
        raise ReportError(
            f"{where}: 'mode' is {mode!r}; expected one of {', '.join(MODES)} "
            "(the --json output of run, loadtest, compare, capacity or sweep)"
        )
    needed = {"capacity": "tiers", "sweep": "rows"}.get(mode, "variants")
    if not isinstance(data.get(needed), list) or not data[needed]:
        raise ReportError(f"{where}: a {mode} result needs a non-empty {needed!r} list")


def default_directory(name: str, now: datetime | None = None, root: Path = Path("reports")) -> Path:
    """``reports/<name>-<YYYYmmdd-HHMMSS>/``, with a suffix if that folder already exists."""
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:64] or "report"
    candidate = root / f"{safe}-{stamp}"
    number = 2
    while candidate.exists():
        candidate = root / f"{safe}-{stamp}-{number}"
        number += 1
    return candidate


def histories_of(result: Any) -> dict[str, list[History]]:
    """The histories of a :class:`~checkoutsim.experiments.runner.RunResult`, by variant name."""
    return {variant.name: list(variant.histories) for variant in result.variants}


def scenario_text(scenario: Any) -> ScenarioText:
    """The words of a loaded :class:`~checkoutsim.scenario.files.Scenario` for the page."""
    return ScenarioText(scenario.name, scenario.title, scenario.question, scenario.description)


def _find_text(name: Any) -> ScenarioText | None:
    """Read a named scenario's words from the scenarios on this machine, if there is one.

    Only names found by :func:`checkoutsim.scenario.files.available` are read: a name in
    a JSON file never becomes a path to open.
    """
    from checkoutsim.scenario import files as scenarios

    path = scenarios.available().get(str(name))
    if path is None:
        return None
    try:
        loaded = scenarios.load(str(path))
    except scenarios.ScenarioError:
        return None
    text = scenario_text(loaded)
    source = f"Question and description read from {path} as it is now, not from the result."
    return ScenarioText(text.name, text.title, text.question, text.description, source)


def _run_charts(
    result: Mapping[str, Any], histories: frames.Histories | None
) -> tuple[list[Chart], list[str]]:
    """Figures of a run, load test or comparison."""
    from checkoutsim.report import result_figures, run_figures

    mode = str(result.get("mode"))
    time_mode = mode if mode in ("real", "compare") else "sim"
    parameters = result.get("parameters") or {}
    makers: list[Callable[[], Chart | None]] = []
    missing: list[str] = []
    if histories and any(histories.values()):
        makers += [
            lambda: run_figures.latency_chart(histories),
            lambda: run_figures.outcome_chart(histories, time_mode),
            lambda: run_figures.breaker_chart(histories, parameters, time_mode),
            lambda: run_figures.queue_chart(histories, parameters, time_mode),
            lambda: run_figures.stock_chart(histories, time_mode),
        ]
    else:
        missing = list(LIVE_FIGURES)
    makers.append(lambda: result_figures.invariant_chart(result))
    if mode == "compare":
        makers.append(lambda: result_figures.model_real_chart(result))
    if mode == "probe":
        makers.append(lambda: result_figures.probe_chart(result))
    charts = [chart for make in makers if (chart := make()) is not None]
    return charts, missing


def charts_for(
    result: Mapping[str, Any], histories: frames.Histories | None = None
) -> tuple[list[Chart], list[str]]:
    """Every figure the result (and histories, if any) support, and those that need a run."""
    mode = result.get("mode")
    if mode == "capacity":
        from checkoutsim.report import capacity_figures

        return [capacity_figures.counts_chart(result), capacity_figures.load_chart(result)], []
    if mode == "sweep":
        from checkoutsim.report import sweep_figures

        makers = (
            sweep_figures.capacity_chart,
            sweep_figures.outcome_chart,
            sweep_figures.invariant_chart,
        )
        return [chart for make in makers if (chart := make(result)) is not None], []
    return _run_charts(result, histories)


def _json_ready(value: Any) -> Any:
    """NaN and infinities as null, so result.json is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    return value


def write_report(
    result: Mapping[str, Any],
    histories: frames.Histories | None = None,
    out: Path | None = None,
    scenario: Any = None,
) -> Path:
    """Write a report of ``result`` (a command's ``--json`` dict); return its index.html.

    ``histories`` maps series labels to each replication's :class:`History` (for a run:
    ``histories_of(run_result)``; for a comparison, labels such as "naive · real" are
    fine); without them the page says which figures need a live run. ``out`` defaults to
    ``reports/<scenario>-<timestamp>/``. ``scenario`` (a loaded Scenario) supplies the
    title, question and description; without it they are looked up by the result's
    scenario name. Raises ReportError when ``result`` is not a result a report can use.
    """
    check_result(result)
    mode = result.get("mode")
    name = str(result.get("scenario") or mode)
    target = Path(out) if out is not None else default_directory(name)
    if scenario is not None:
        text: ScenarioText | None = scenario_text(scenario)
    elif mode != "capacity":
        text = _find_text(result.get("scenario"))
    else:
        text = None
    charts, missing = charts_for(result, histories)
    html = render_page(page_context(result, charts, missing, text))
    with staged_directory(target, last=["index.html"]) as staging:
        for chart in charts:
            chart.save(staging)
        (staging / "result.json").write_text(
            json.dumps(_json_ready(result), indent=2, allow_nan=False) + "\n", encoding="utf-8"
        )
        (staging / "index.html").write_text(html, encoding="utf-8")
    return target / "index.html"


def figure_files(index: Path) -> Sequence[Path]:
    """The PNGs beside a report's index.html, sorted (for tests and the CLI's summary)."""
    return sorted(Path(index).parent.glob("*.png"))
