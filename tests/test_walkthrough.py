"""Interview-prep walkthroughs: every number they print was measured or is a setting.

All topics are rendered once per test module (quick settings, every level) and
the tests read that text. The provenance test extracts each number-like token
and accepts it only if it is a metric of one of the runs (formatted as the
walkthrough formats it), a setting the runs used, a capacity-plan figure, or a
name on the explicit whitelist below.
"""

from __future__ import annotations

import html
import io
import math
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from checkoutsim.capacity.plan import CapacityPlan
from checkoutsim.experiments.runner import RunResult, run_scenario
from checkoutsim.results.formatting import format_value
from checkoutsim.results.metrics import CONTRACT, DIAGNOSTICS
from checkoutsim.scenario import files as scenario
from checkoutsim.walkthroughs import LEVELS, Evidence, load_topic, render, topic_names
from checkoutsim.walkthroughs.content import RunSpec, parse_topic, topic_source
from checkoutsim.walkthroughs.sweeps import SweepView
from checkoutsim.walkthroughs.terminal import present
from checkoutsim.walkthroughs.values import (
    COMPUTED_FORMATS,
    format_parameter,
    format_percent,
)

#: Tokens with digits that are names, not figures: the levels, the protocol and
#: the two daily volumes the interview question names, and percentile names.
WHITELIST = {"L4", "L5", "L6", "2PC", "10M", "100M", "p50", "p95", "p99"}
REQUIRED_TOPICS = {
    "saga-vs-2pc",
    "overselling",
    "idempotency",
    "payment-without-order",
    "scale",
    "gateway-down",
    "inventory-down",
    "pushbacks",
    "evolution",
    "cost",
}
_TOKEN = re.compile(r"\w+(?:[-.,:]\w+)*")
_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
_TEMPLATE_TAG = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


def digit_tokens(text: str) -> Iterator[str]:
    """Every token of ``text`` that contains a digit."""
    return (token for token in _TOKEN.findall(text) if any(c.isdigit() for c in token))


def _numbers_in(text: str) -> set[str]:
    return {token for token in digit_tokens(text) if _NUMBER.fullmatch(token)}


def _metric_forms(name: str, value: Any) -> set[str]:
    """How a metric can appear: as the table and the text show it, and in a verdict."""
    forms = {format_value(value, name)}
    if isinstance(value, int | float) and not math.isnan(value):
        forms |= {str(value), f"{value:g}"}
        # The verdict lines' forms: a share as a percentage, a duration in s or ms,
        # each with as many digits as it takes to differ from the figure beside it.
        forms |= {f"{value * 100:.{digits}f}".rstrip("0").rstrip(".") for digits in range(1, 5)}
        forms |= {f"{value:.{digits}g}" for digits in range(3, 7)}
        forms |= {f"{value * 1000:.{digits}g}" for digits in range(3, 7)}
    return forms


def _leaves(data: Any) -> Iterator[Any]:
    if isinstance(data, dict):
        for item in data.values():
            yield from _leaves(item)
    elif isinstance(data, list | tuple):
        for item in data:
            yield from _leaves(item)
    else:
        yield data


def _parameter_forms(value: Any) -> set[str]:
    """How a setting can appear: as the text shows it, as written, or as a percentage."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return set()
    forms = {format_parameter(value), str(value)}
    if 0 < value <= 1:
        forms.add(format_percent(value))
    return forms


def run_numbers(result: RunResult) -> set[str]:
    """Numbers a run justifies: its metrics, its settings, its seed and replications."""
    forms: set[str] = {str(result.seed), str(result.replications)}
    for variant in result.variants:
        for name, value in variant.metrics.items():
            forms |= _metric_forms(name, value)
    settings = [result.scenario.base.model_dump(mode="json")]
    settings += [variant.settings.model_dump(mode="json") for variant in result.scenario.variants]
    for value in _leaves([settings, dict(result.scenario.overrides)]):
        forms |= _parameter_forms(value)
    numbers: set[str] = set()
    for form in forms:
        numbers |= _numbers_in(form)
    report = getattr(result, "scale", None)
    if report is not None:  # a scale scenario: its computed plan and simulated queues
        numbers |= plan_numbers(report.plan)
        numbers |= _figures_and_prose(report.to_json())
    return numbers


def _figures_and_prose(data: Any) -> set[str]:
    """Numbers in computed data: each figure in every computed format, and its prose."""
    numbers: set[str] = set()
    for value in _leaves(data):
        if isinstance(value, str):
            numbers |= _numbers_in(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            for show in COMPUTED_FORMATS.values():
                numbers |= _numbers_in(show(value))
    return numbers


def plan_numbers(plan: CapacityPlan) -> set[str]:
    """Numbers a capacity plan justifies: its figures in each format, and its own prose."""
    return _figures_and_prose(plan.to_dict())


def names_allowed(evidence: Evidence) -> set[str]:
    """Tokens with digits that are names: metric and scenario names, and the whitelist."""
    names = set(WHITELIST) | set(CONTRACT) | set(DIAGNOSTICS)
    for name, result in evidence.runs.items():
        names |= {name, result.scenario.name}
        for variant in result.variants:
            names |= {variant.name, *variant.metrics}
    return names


def unexplained(text: str, evidence: Evidence) -> list[str]:
    """The number-like tokens of ``text`` that nothing justifies."""
    numbers: set[str] = set()
    for result in evidence.runs.values():
        numbers |= run_numbers(result)
    for plan in evidence.plans.values():
        numbers |= plan_numbers(plan)
    names = names_allowed(evidence)
    return sorted(
        {
            token
            for token in digit_tokens(text)
            if token not in (numbers if _NUMBER.fullmatch(token) else names)
        }
    )


def show(topic: str, level: str, evidence: Evidence) -> str:
    """A topic as the terminal prints it, wide enough that rich truncates nothing."""
    console = Console(file=io.StringIO(), width=220, record=True, color_system=None)
    assert present(load_topic(topic), level, evidence, console)
    return console.export_text()


@pytest.fixture(scope="module")
def rendered() -> tuple[dict[tuple[str, str], str], Evidence]:
    """Every topic at every level, quick settings, seed 1; runs shared across topics."""
    evidence = Evidence(seed=1, quick=True)
    texts = {
        (topic, level): show(topic, level, evidence) for topic in topic_names() for level in LEVELS
    }
    return texts, evidence


def test_the_required_topics_exist() -> None:
    assert set(topic_names()) >= REQUIRED_TOPICS


def test_every_number_was_measured_or_is_a_setting(
    rendered: tuple[dict[tuple[str, str], str], Evidence],
) -> None:
    texts, evidence = rendered
    problems = {key: unexplained(text, evidence) for key, text in texts.items()}
    assert {key: bad for key, bad in problems.items() if bad} == {}


def test_the_content_files_hold_no_numbers_of_their_own() -> None:
    """Outside template tags, a topic file may only use whitelisted names with digits."""
    for name in topic_names():
        source = topic_source(name)
        topic = parse_topic(name, source)
        body = source.split("+++", 2)[2]
        text = _TEMPLATE_TAG.sub(" ", "\n".join([topic.title, topic.summary, body]))
        run_names = {run.name for run in topic.runs} | set(topic.scenarios)
        assert set(digit_tokens(text)) - WHITELIST - run_names == set(), name


def test_evolution_points_to_the_measured_provider_failover_not_a_placeholder() -> None:
    """Several providers are measured (gateway-failover, in the cost topic): evolution says so."""
    body = " ".join(topic_source("evolution").split("+++", 2)[2].split())
    assert "not measured on this page yet" not in body
    assert "cost walkthrough (the gateway-failover scenario)" in body
    assert "gateway-failover" in load_topic("cost").optional_scenarios


def test_a_number_nothing_justifies_is_caught(
    rendered: tuple[dict[tuple[str, str], str], Evidence],
) -> None:
    _, evidence = rendered
    assert unexplained("sold 12,345 units in 3.14159 s at L5", evidence) == ["12,345", "3.14159"]


def test_arithmetic_in_a_template_is_caught(
    rendered: tuple[dict[tuple[str, str], str], Evidence],
) -> None:
    """A template that computes a number shows a raw float, which no run measured."""
    _, evidence = rendered
    probe = parse_topic(
        "probe",
        '+++\ntitle = "probe"\nsummary = "probe"\nscenarios = ["flash-sale"]\n+++\n'
        "## Page\n{{ flash_sale.naive.orders + flash_sale.atomic.orders }} orders\n",
    )
    page = render(probe, "L5", evidence).pages[0]
    assert unexplained(page.blocks[0].content, evidence) != []


def test_overselling_at_l5_shows_the_naive_variant_overselling_and_the_safe_ones_not(
    rendered: tuple[dict[tuple[str, str], str], Evidence],
) -> None:
    texts, evidence = rendered
    text = texts[("overselling", "L5")]
    naive = evidence.runs["flash-sale"].variants[0]
    assert naive.name == "naive" and naive.metrics["oversold_units"] > 0
    assert "never sell a unit you" in text  # the question, as an interviewer asks it
    assert "flash-sale · seed 1" in text  # the measured table
    assert f"{naive.metrics['oversold_units']} units that did not exist were sold" in text
    for variant in evidence.runs["flash-sale"].variants[1:]:
        assert variant.metrics["oversold_units"] == 0
        assert (
            f"{variant.name}: {variant.metrics['units_sold']} units sold, nothing oversold" in text
        )


def test_cost_at_l5_prices_the_plan_and_each_variant_of_the_outage(
    rendered: tuple[dict[tuple[str, str], str], Evidence],
) -> None:
    """The cost topic quotes capacity's cost table and the live run's lost revenue."""
    texts, evidence = rendered
    text = " ".join(texts[("cost", "L5")].split())
    cost = evidence.plans["10M"].cost
    assert cost is not None
    assert f"dominant line at 10M is {cost.dominant}" in text
    assert f"${cost.total_monthly_usd:,.0f} a month" in text
    for variant in evidence.runs["gateway-outage"].variants:
        lost = format_value(variant.metrics["lost_revenue_usd"], "lost_revenue_usd")
        assert f"{variant.name} (" in text and f"{lost} of revenue" in text, variant.name
    # The second provider, measured: naive failover charges twice, safe failover not.
    failover = {variant.name: variant for variant in evidence.runs["gateway-failover"].variants}
    naive, safe = failover["naive_failover"], failover["safe_failover"]
    assert naive.metrics["duplicate_charges"] > 0 and safe.metrics["duplicate_charges"] == 0
    for variant in failover.values():
        lost = format_value(variant.metrics["lost_revenue_usd"], "lost_revenue_usd")
        charged = format_value(variant.metrics["duplicate_charges"], "duplicate_charges")
        assert f"{variant.name}: {lost} lost revenue, {charged} duplicate" in text, variant.name
    assert (
        f"charged {format_value(naive.metrics['duplicate_charges'], 'duplicate_charges')} twice"
        in text
    )


def test_idempotency_at_l6_shows_check_then_charge_charging_twice_and_key_first_not(
    rendered: tuple[dict[tuple[str, str], str], Evidence],
) -> None:
    texts, evidence = rendered
    text = texts[("idempotency", "L6")]
    variants = {variant.name: variant.metrics for variant in evidence.runs["double-click"].variants}
    textbook, first = variants["check_then_charge"], variants["key_first"]
    assert textbook["duplicate_charges"] > 0 and first["duplicate_charges"] == 0
    assert "payments.find_by_key(key)" in text  # the textbook code
    assert f"{textbook['duplicate_charges']} duplicate charges, with the unique index" in text
    assert "key_first: 0 duplicate charges" in text


def test_evolution_shows_the_mvp_safe_then_breaking_first_and_production_riding_out_the_outage(
    rendered: tuple[dict[tuple[str, str], str], Evidence],
) -> None:
    texts, evidence = rendered
    topic = load_topic("evolution")
    sweep = SweepView(next(s for s in topic.sweeps if s.name == "evolution_load"), evidence)
    knee = sweep.knee("mvp")
    assert knee is not None
    production_knee = sweep.knee("production")
    assert production_knee is None or production_knee > knee
    objective = evidence.runs["evolution"].scenario.base.objective
    at_knee = {v.name: v.metrics for v in sweep.result(knee).variants}
    assert at_knee["mvp"]["latency_p99_s"] > objective.latency_p99_s
    assert at_knee["production"]["latency_p99_s"] <= objective.latency_p99_s
    for metrics in at_knee.values():  # past its knee the MVP is slow, not unsafe
        assert metrics["oversold_units"] == metrics["duplicate_charges"] == 0
    for variant in evidence.runs["evolution"].variants:
        assert variant.metrics["oversold_units"] == variant.metrics["duplicate_charges"] == 0
    outage = {v.name: v.metrics for v in evidence.runs["evolution_outage"].variants}
    assert outage["production"]["served_rate"] >= objective.served_rate
    assert outage["mvp"]["served_rate"] < objective.served_rate
    assert f"At {format_parameter(knee)} a second it does not" in texts[("evolution", "L5")]


def test_levels_differ_and_each_topic_runs_quickly(
    rendered: tuple[dict[tuple[str, str], str], Evidence],
) -> None:
    texts, evidence = rendered
    for name in topic_names():
        assert len({texts[(name, level)] for level in LEVELS}) == len(LEVELS), name
        topic = load_topic(name)
        seconds = sum(evidence.timings.get(run.name, 0.0) for run in topic.runs)
        points = [point for sweep in topic.sweeps for point in sweep.points()]
        seconds += sum(evidence.timings.get(point.name, 0.0) for point in points)
        seconds += sum(evidence.timings.get(scenario, 0.0) for scenario in topic.optional_scenarios)
        assert seconds < 30, (name, seconds)


def test_the_text_stays_true_when_the_naive_variant_does_not_oversell() -> None:
    """With stock no one can exhaust, the same template must not claim an oversell."""
    spec = RunSpec("flash-sale", "flash-sale")
    evidence = Evidence(seed=1, quick=True)
    evidence.runs["flash-sale"] = run_scenario(
        scenario.load("flash-sale", ["load.duration_s=3", "catalog.stock_per_sku=1000000"]), 1
    )
    evidence.specs["flash-sale"] = spec
    text = show("overselling", "L5", evidence)
    assert "did not oversell in this run" in text
    assert "units that did not exist were sold" not in text
    assert unexplained(text, evidence) == []


def test_paging_waits_between_pages_and_q_stops(
    rendered: tuple[dict[tuple[str, str], str], Evidence],
) -> None:
    _, evidence = rendered
    prompts: list[str] = []

    def enter(prompt: str) -> str:
        prompts.append(prompt)
        return ""

    console = Console(file=io.StringIO(), width=120)
    assert present(load_topic("inventory-down"), "L4", evidence, console, wait=enter)
    assert len(prompts) == len(load_topic("inventory-down").pages) - 1
    console = Console(file=io.StringIO(), width=120, record=True)
    assert not present(load_topic("inventory-down"), "L4", evidence, console, wait=lambda _: "q")
    assert "The textbook answer" not in console.export_text()


def _app() -> Any:
    """The CLI app with the walkthrough command (registering twice adds it once)."""
    from checkoutsim.cli.main import app
    from checkoutsim.cli.walkthrough import register_walkthrough

    register_walkthrough(app)
    register_walkthrough(app)
    assert [c.name for c in app.registered_commands].count("walkthrough") == 1
    return app


def test_the_command_lists_topics_and_rejects_bad_input() -> None:
    runner = CliRunner()
    listing = runner.invoke(_app(), ["walkthrough"])
    assert listing.exit_code == 0, listing.output
    for name in REQUIRED_TOPICS:
        assert name in listing.output
    for arguments, message in (
        (["walkthrough", "nonsense"], "no walkthrough topic 'nonsense'"),
        (["walkthrough", "overselling", "--all"], "not both"),
    ):
        result = runner.invoke(_app(), arguments)
        assert result.exit_code == 2 and message in result.output, result.output
    assert runner.invoke(_app(), ["walkthrough", "scale", "--level", "L7"]).exit_code == 2


def test_the_command_prints_a_topic_straight_through() -> None:
    result = CliRunner().invoke(
        _app(), ["walkthrough", "saga-vs-2pc", "--level", "l6", "--no-pause", "--quick"]
    )
    assert result.exit_code == 0, result.output
    assert "What L6 is expected to cover" in result.output
    assert "saga-vs-2pc · seed 1" in result.output
    assert "Enter to go on" not in result.output


def test_report_writes_a_study_guide_whose_text_is_all_measured(tmp_path: Path) -> None:
    arguments = ["walkthrough", "inventory-down", "--level", "L5", "--no-pause", "--quick"]
    result = CliRunner().invoke(_app(), [*arguments, "--report", "--output", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (page,) = tmp_path.glob("walkthrough-inventory-down-L5-*/index.html")
    markup = page.read_text(encoding="utf-8")
    assert (page.parent / "guide.css").is_file()
    assert (page.parent / "runs" / "deep-stock" / "index.html").is_file()
    images = re.findall(r'<img src="([^"]+)"', markup)
    assert images and all((page.parent / image).is_file() for image in images)
    # The runs are seeded, so running them again gives the numbers the guide shows.
    evidence = Evidence(seed=1, quick=True)
    render(load_topic("inventory-down"), "L5", evidence)
    assert unexplained(visible_text(markup), evidence) == []


def visible_text(markup: str) -> str:
    """The text a reader sees on an HTML page (no tags, attributes or styles)."""
    parts: list[str] = []

    class Reader(HTMLParser):
        def handle_data(self, data: str) -> None:
            parts.append(data)

    Reader().feed(markup)
    return html.unescape(" ".join(parts))
