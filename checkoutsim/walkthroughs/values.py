"""The values a walkthrough's text may show, each tagged with where it came from.

A walkthrough never formats a number itself: every number in its text is one of
these objects, and its ``str()`` is the only way it is shown. ``Measured`` is a
metric from a run (shown exactly as the run's table shows it), ``Parameter`` is
a setting the run used, ``Computed`` is a capacity-plan figure derived from
stated assumptions. They subclass ``float`` so the templates can compare them
(``{% if run.naive.oversold_units > 0 %}``); arithmetic on them gives a plain
float, whose raw form the number-provenance test rejects, which is the point.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from checkoutsim.capacity.cost import CostLine, CostTable, dollars, share_text
from checkoutsim.capacity.plan import CapacityPlan, Tier
from checkoutsim.experiments.runner import RunResult, VariantResult
from checkoutsim.results.formatting import format_value
from checkoutsim.results.metrics import verdict, verdict_text


class Measured(float):
    """A metric a run measured; shown the way the run's table shows it."""

    metric: str
    raw: float | int | None

    def __new__(cls, value: float | int | None, metric: str) -> Measured:
        """Wrap ``value``, remembering which metric it is (that picks its format)."""
        number = super().__new__(cls, math.nan if value is None else value)
        number.metric = metric
        # The text formats the value as the run stored it, exactly as the table
        # does (results.formatting), so a number in the prose matches its cell.
        number.raw = value
        return number

    def __str__(self) -> str:
        return format_value(self.raw, self.metric)


def format_parameter(value: float) -> str:
    """A setting as the text shows it: whole numbers with separators, others to six digits."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.6g}"


def format_percent(value: float) -> str:
    """A fraction as a percentage without trailing zeros: 0.25 -> ``25%``."""
    return f"{value * 100:,.6g}%"


class Parameter(float):
    """A setting the run used (from the scenario file, its variant or the quick settings)."""

    name: str

    def __new__(cls, value: float, name: str) -> Parameter:
        """Wrap ``value``, remembering the dotted setting it came from."""
        number = super().__new__(cls, value)
        number.name = name
        return number

    def __str__(self) -> str:
        return format_parameter(float(self))

    @property
    def percent(self) -> str:
        """The setting as a percentage, for fractions such as failure rates."""
        return format_percent(float(self))


#: How each kind of computed figure is shown.
COMPUTED_FORMATS: dict[str, Callable[[float], str]] = {
    "count": lambda value: f"{value:,.0f}",
    "rate": lambda value: f"{value:,.0f}",
    "average": lambda value: f"{value:,.1f}",
    "factor": lambda value: f"{value:g}",
    "share": lambda value: f"{value:.1%}",
    "milliseconds": lambda value: f"{value * 1000:,.2f}",
    # The cost table's forms (capacity.cost), so a figure reads as it does in `capacity`.
    "dollars": lambda value: f"${value:,.0f}",
    "per_order": dollars,
    "cost_share": share_text,
}


class Computed(float):
    """A capacity-plan figure: computed from stated assumptions, not measured."""

    kind: str

    def __new__(cls, value: float, kind: str) -> Computed:
        """Wrap ``value``; ``kind`` is a key of ``COMPUTED_FORMATS``."""
        number = super().__new__(cls, value)
        number.kind = kind
        return number

    def __str__(self) -> str:
        return COMPUTED_FORMATS[self.kind](float(self))


def wrap_settings(data: Any, prefix: str = "") -> Any:
    """Settings as nested views whose numeric leaves are ``Parameter`` values."""
    if isinstance(data, Mapping):
        return SettingsView(data, prefix)
    if isinstance(data, list):
        return [wrap_settings(item, f"{prefix}[{index}]") for index, item in enumerate(data)]
    if isinstance(data, bool) or not isinstance(data, int | float):
        return data  # strategy names and switches are shown as words
    return Parameter(data, prefix)


class SettingsView:
    """A settings section; ``view.inventory.lock_ttl_s`` gives a ``Parameter``."""

    def __init__(self, data: Mapping[str, Any], prefix: str) -> None:
        self._data = data
        self._prefix = prefix

    def __getitem__(self, key: str) -> Any:
        # A KeyError makes Jinja2 report the name as undefined, which the strict
        # environment turns into an error naming the template line.
        return wrap_settings(self._data[key], f"{self._prefix}.{key}" if self._prefix else key)


class VariantView:
    """One variant of a run: ``variant.oversold_units`` is a ``Measured``."""

    def __init__(self, result: VariantResult, settings: Mapping[str, Any]) -> None:
        self.name = result.name
        self.description = result.description
        self.params = SettingsView(settings, "")
        self._metrics = result.metrics
        #: True when the run broke none of the invariants (oversell, double charge, orphans).
        self.safe = bool(verdict(result.metrics)["safe"])
        #: The table's verdict line, e.g. ``unsafe: oversold 37``.
        self.verdict = verdict_text(result.metrics)

    def __getitem__(self, metric: str) -> Measured:
        return Measured(self._metrics[metric], metric)


class RunView:
    """A scenario run, fetched on first use: ``run.naive``, ``run.params``, ``run.variants``."""

    def __init__(self, fetch: Callable[[], RunResult]) -> None:
        self._fetch = fetch
        self._variants: dict[str, VariantView] | None = None
        self._result: RunResult | None = None

    def _load(self) -> tuple[RunResult, dict[str, VariantView]]:
        if self._result is None or self._variants is None:
            result = self._fetch()
            settings = {
                v.name: v.settings.model_dump(mode="json") for v in result.scenario.variants
            }
            self._variants = {v.name: VariantView(v, settings[v.name]) for v in result.variants}
            self._result = result
        return self._result, self._variants

    @property
    def title(self) -> str:
        """The scenario's title."""
        return self._load()[0].scenario.title

    @property
    def question(self) -> str:
        """The interview question the scenario file says it answers."""
        return self._load()[0].scenario.question

    @property
    def params(self) -> SettingsView:
        """The settings every variant starts from (the scenario plus any overrides)."""
        return SettingsView(self._load()[0].scenario.base.model_dump(mode="json"), "")

    @property
    def scale(self) -> ScaleView:
        """A scale scenario's tier check (computed plan, simulated queues)."""
        report = getattr(self._load()[0], "scale", None)
        if report is None:
            # Not a scale scenario: Jinja2 then reports ``scale`` as undefined.
            raise AttributeError("scale")
        return ScaleView(report)

    @property
    def variants(self) -> list[VariantView]:
        """Every variant, in the scenario's order."""
        return list(self._load()[1].values())

    def __getitem__(self, name: str) -> VariantView:
        return self._load()[1][name]


class ScaleView:
    """A scale scenario's report: the bottleneck and the hot SKU's share of the peak."""

    def __init__(self, report: Any) -> None:
        #: The capacity model's verdict on the tier with the least headroom (computed).
        self.bottleneck = str(report.bottleneck)
        #: Orders per second that reach the hot SKU's row at the peak (computed).
        self.hot_rate = Computed(report.hot_sku_orders_per_s, "rate")
        self.plan = PlanView(report.plan)


class TierView:
    """One tier of a capacity plan, with computed figures."""

    def __init__(self, tier: Tier) -> None:
        self.name = tier.tier
        self.unit = tier.unit
        self.count = Computed(tier.count, "count")
        self.busy = Computed(tier.utilisation, "share")
        self.demand = Computed(tier.demand_per_s, "rate")
        self.why = tier.why


class PlanView:
    """A capacity plan for one daily volume: ``plan.peak``, ``plan.tier("app").count``."""

    def __init__(self, plan: CapacityPlan) -> None:
        self.orders_per_day = Computed(plan.orders_per_day, "count")
        self.average = Computed(plan.average_orders_per_s, "average")
        self.peak = Computed(plan.peak_orders_per_s, "rate")
        self.peak_factor = Computed(plan.peak_factor, "factor")
        self.tiers = [TierView(tier) for tier in plan.tiers]
        self.findings = list(plan.findings)
        # Every plan is costed (capacity.plan); None only for a plan made without it.
        self.cost = CostView(plan.cost) if plan.cost is not None else None

    def tier(self, name: str) -> TierView:
        """The tier called ``name`` (app, inventory_db, order_db, kafka, payment_gateway)."""
        return next(tier for tier in self.tiers if tier.name == name)

    def finding(self, opening: str) -> str:
        """The plan's finding that starts with ``opening``, or an empty string."""
        return next((text for text in self.findings if text.startswith(opening)), "")


class CostLineView:
    """One line of a plan's cost table: ``line.monthly``, ``line.per_order``, ``line.share``."""

    def __init__(self, line: CostLine) -> None:
        self.name = line.line
        self.unit = line.unit
        self.unit_price = line.unit_price
        self.count = Computed(line.count, "count")
        self.monthly = Computed(line.monthly_usd, "dollars")
        self.per_order = Computed(line.per_order_usd, "per_order")
        self.share = Computed(line.share, "cost_share")
        self.why = line.why


class CostView:
    """A plan's cost at the shipped prices: totals, the dominant line, each line, findings."""

    def __init__(self, cost: CostTable) -> None:
        self.orders_per_month = Computed(cost.orders_per_month, "count")
        self.total = Computed(cost.total_monthly_usd, "dollars")
        self.per_order = Computed(cost.total_per_order_usd, "per_order")
        self.dominant = cost.dominant
        self.infrastructure = Computed(cost.infrastructure_monthly_usd, "dollars")
        self.infrastructure_per_order = Computed(cost.infrastructure_per_order_usd, "per_order")
        self.infrastructure_dominant = cost.infrastructure_dominant
        self.lines = [CostLineView(line) for line in cost.lines]
        self.findings = list(cost.findings)
        self._sources = {price.name: price.source for price in cost.prices}

    def line(self, name: str) -> CostLineView:
        """The line called ``name`` (``"gateway fees"``, ``"app servers"``, ...)."""
        return next(line for line in self.lines if line.name == name)

    def finding(self, opening: str) -> str:
        """The cost finding that starts with ``opening``, or an empty string."""
        return next((text for text in self.findings if text.startswith(opening)), "")

    def source(self, price: str) -> str:
        """Where the price called ``price`` comes from (the prices table's source)."""
        return self._sources[price]
