"""Do the model and the real implementation agree? One definition, metric by metric.

Every metric of the contract (``checkoutsim.results.metrics``) has a kind, and
each kind has one rule:

- **invariant** counts (oversold units, duplicate charges, orphan payments,
  unpaid orders) and the rates derived from them: zero on one side and not on
  the other is a disagreement; where both sides break the invariant, their
  counts per checkout intent must be within a factor of two, or within the
  counts' own noise (``count_noise``): 3 against 9 is a factor of three, and
  also what two runs of one process with a mean of 6 give often.
- **rate** (the success rate, the stock cache's hit rate, and counts judged as
  their share of checkouts: shoppers shown "in stock" who then failed): the two
  shares must be within an absolute tolerance, ``RATE_TOLERANCE`` plus twice the
  binomial standard error of the difference (see ``rate_tolerance`` for why).
- **latency** at p50 and p99: within a factor of two, or closer than the real
  body's own overhead per request (``LATENCY_FLOOR_WALL_S`` of wall time) plus
  the host's lateness the real run measured at that percentile (how late its
  intents started and its timers fired): a gap the host made is no evidence
  about the design.
- **diagnostic**: everything else (volumes, outcome counts, p95 and max,
  lock holds, blocked transactions, compensations, ...) is shown beside the
  judged metrics, never judged, and marked so.

The functions here are pure: two metric dicts in, judgements out.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from checkoutsim.results.metrics import CONTRACT, DIAGNOSTICS, INVARIANTS
from checkoutsim.results.stats import poisson_two_sided

#: The largest ratio between two invariant rates (or two latencies) still called agreement.
FACTOR = 2.0
#: Absolute part of the tolerance on a rate (a share of checkout intents).
RATE_TOLERANCE = 0.05
#: Wall seconds of per-request work (Python, SQLite, scheduling) the model does not simulate.
LATENCY_FLOOR_WALL_S = 0.010

#: Rates derived from an invariant count: judged like the invariant (zero, then 2x),
#: each with the count it is made of and the metric it is divided by.
RATE_PARTS = {
    "oversell_rate": ("oversold_units", "units_sold"),
    "duplicate_charge_rate": ("duplicate_charges", "checkouts"),
}
INVARIANT_RATES = tuple(RATE_PARTS)
#: Standard deviations of the count noise within which two broken invariants agree.
COUNT_NOISE_SD = 2.0
#: Rates judged within an absolute tolerance, and the count each is a share of.
RATES = {"success_rate": "checkouts", "cache_hit_rate": "page_views"}
#: Counts judged as rates: their share of checkouts.
SHARES = ("failed_after_in_stock",)
#: Latencies judged within a factor of two; the other percentiles are shown only.
#: (``sold_out_shown_after_s`` is not one: it is a single moment per SKU per run, where
#: in a TTL window the sell-out fell, so two runs differ by up to the TTL by chance:
#: 130 ms against 490 ms for a 1 s TTL, with independent streams. Shown, not judged.)
LATENCIES = ("latency_p50_s", "latency_p99_s")

#: Why each rule is what it is, printed by ``compare`` and carried in its JSON.
RULES = {
    "invariant": (
        "zero versus non-zero must match; when both sides break it, the counts per"
        f" checkout intent within {FACTOR:g}x, or within {COUNT_NOISE_SD:g} standard"
        " deviations of the difference of two Poisson counts (a few events are mostly"
        " chance: 3 against 9 is no evidence either way)"
    ),
    "rate": (
        f"within {RATE_TOLERANCE * 100:g} points plus twice the binomial standard error of"
        " the difference: the points allow for what the model leaves out (the host's"
        " scheduling jitter moves intents near a time-out), the standard error for the"
        " sampling noise of a short run"
    ),
    "latency": (
        f"within {FACTOR:g}x, or closer than a floor: {LATENCY_FLOOR_WALL_S * 1000:g} ms of"
        " wall time per request (the real body's own Python and database work, which the"
        " model does not simulate) plus the host's lateness the real run measured at that"
        " percentile (schedule lag and timer overrun), in model time"
    ),
    "diagnostic": "shown, not judged",
}


@dataclass(frozen=True)
class Judgement:
    """One metric compared: its kind, both values, and whether (and by how much) they agree."""

    metric: str
    kind: str
    sim: float | None
    real: float | None
    #: True or False for a judged metric; None for a diagnostic (or a withheld run).
    agree: bool | None
    #: How far apart, for a reader: ``x1.12``, ``+3.1 pts (tolerance 7.2)``, ``0 vs 37``.
    difference: str
    #: For an invariant judged against the model's spread: whether the two agree
    #: on zero versus non-zero (``judge_invariant_spread``); None otherwise.
    sign_agree: bool | None = None
    #: For an invariant judged against the model's spread where both sides are
    #: non-zero: whether the real count is within ``FACTOR`` of the model's mean
    #: (the other tests, count noise and spread, aside); None otherwise.
    within_factor: bool | None = None

    @property
    def judged(self) -> bool:
        """Whether this metric's kind is judged at all."""
        return self.kind != "diagnostic"

    def as_json(self) -> dict[str, Any]:
        """The judgement as a JSON-ready dict (``judged`` included)."""
        return {**asdict(self), "judged": self.judged}


def kind_of(metric: str) -> str:
    """The kind a metric is judged as: invariant, rate, latency or diagnostic."""
    if metric in INVARIANTS or metric in INVARIANT_RATES:
        return "invariant"
    if metric in RATES or metric in SHARES:
        return "rate"
    if metric in LATENCIES:
        return "latency"
    return "diagnostic"


def judge(
    sim: dict[str, Any],
    real: dict[str, Any],
    time_scale: float = 1.0,
    lateness_s: dict[str, float] | None = None,
) -> tuple[bool, list[Judgement]]:
    """Whether the bodies agree on every judged metric, and one judgement per metric.

    ``time_scale`` is the real run's (wall seconds per model second): latencies
    are in model seconds, and the real body's wall overhead grows by its inverse.
    ``lateness_s`` gives, per latency metric, the host's lateness the real run
    measured at that percentile, in wall seconds (``host_lateness``).
    """
    extra = [key for key in (*DIAGNOSTICS, *sim, *real) if key not in CONTRACT]
    names = [key for key in (*CONTRACT, *dict.fromkeys(extra)) if key in sim or key in real]
    late = lateness_s or {}
    lines = [_judge_one(name, sim, real, time_scale, late.get(name, 0.0)) for name in names]
    return all(line.agree is not False for line in lines), lines


def host_lateness(health: dict[str, Any] | None) -> dict[str, float]:
    """Per judged latency, the host's lateness in wall seconds, from a run's ``load.health``.

    An intent's latency is measured from when it should have started, so a late
    start counts in it in full, and so does every timer of its saga that fired
    late, and so does every hand-off that waited for a thread: the schedule lag
    plus the step overrun plus the hand-off wait, at the same percentile.
    """
    if not health:
        return {}
    lateness = {}
    for metric, percentile in (("latency_p50_s", "p50_s"), ("latency_p99_s", "p99_s")):
        parts = [
            (health.get(part) or {}).get(percentile)
            for part in ("schedule_lag", "step_overrun", "handoff_wait")
        ]
        lateness[metric] = sum(float(part) for part in parts if part is not None)
    return lateness


def disagreements(lines: list[Judgement]) -> list[Judgement]:
    """The judged metrics that disagree."""
    return [line for line in lines if line.agree is False]


def _judge_one(
    name: str, sim: dict[str, Any], real: dict[str, Any], scale: float, late_s: float
) -> Judgement:
    kind = kind_of(name)
    model_value, real_value = _value(sim.get(name)), _value(real.get(name))
    if kind == "diagnostic":
        return Judgement(name, kind, model_value, real_value, None, "")
    if kind == "invariant":
        agree, text = _invariant(name, sim, real)
    elif kind == "rate" and name in SHARES:
        agree, text = _rate(_share(model_value, sim), _share(real_value, real), sim, real)
    elif kind == "rate":
        agree, text = _rate(model_value, real_value, sim, real, RATES[name])
    else:
        agree, text = _latency(model_value, real_value, (LATENCY_FLOOR_WALL_S + late_s) / scale)
    return Judgement(name, kind, model_value, real_value, agree, text)


def _value(value: Any) -> float | None:
    """A metric as a float, None when missing or NaN (nobody answered)."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _per_checkout(name: str, metrics: dict[str, Any]) -> float:
    """An invariant's size in comparable terms: a count per checkout intent, or its rate."""
    value = float(metrics.get(name) or 0)
    if name in INVARIANT_RATES:
        return value
    return value / max(1.0, float(metrics.get("checkouts") or 0))


def _count_and_base(name: str, metrics: dict[str, Any]) -> tuple[float, float]:
    """The count an invariant (or its rate) is made of, and what it is divided by."""
    count, base = RATE_PARTS.get(name, (name, "checkouts"))
    return float(metrics.get(count) or 0), max(1.0, float(metrics.get(base) or 0))


def count_noise(
    model_count: float, model_base: float, real_count: float, real_base: float
) -> float:
    """``COUNT_NOISE_SD`` standard deviations of the difference of two rates of counts.

    Why: a broken invariant's count is a handful of rare events (pauses past a
    TTL, checks in flight at sell-out), and a count of rare events is Poisson,
    its variance its mean. The difference of two independent counts ``a`` and
    ``b`` over bases ``n`` and ``m`` then has variance ``a / n**2 + b / m**2``
    (each count standing for its own mean); within two standard deviations, a
    short run cannot tell the two apart. Counts that come in clusters (several
    units per pause) vary more than this, so the allowance errs towards calling
    a disagreement. It shrinks against the counts as they grow: 100 against 201
    is still a disagreement.
    """
    variance = model_count / model_base**2 + real_count / real_base**2
    return COUNT_NOISE_SD * math.sqrt(variance)


def _invariant(name: str, sim: dict[str, Any], real: dict[str, Any]) -> tuple[bool, str]:
    model_rate, real_rate = _per_checkout(name, sim), _per_checkout(name, real)
    if (model_rate > 0) != (real_rate > 0):
        return False, "zero vs non-zero" if model_rate == 0 else "non-zero vs zero"
    if model_rate == 0:
        return True, "both zero"
    ratio = real_rate / model_rate
    if 1 / FACTOR <= ratio <= FACTOR:
        return True, f"x{ratio:.2f}"
    noise = count_noise(*_count_and_base(name, sim), *_count_and_base(name, real))
    if abs(real_rate - model_rate) <= noise:
        return True, f"x{ratio:.2f} (within count noise)"
    return False, f"x{ratio:.2f} (beyond count noise)"


def rate_tolerance(p_model: float, p_real: float, n_model: float, n_real: float) -> float:
    """The absolute tolerance on two shares: fixed points plus twice the difference's SE.

    The standard error uses each side's own share and count of intents; with
    common random numbers the real noise is smaller, so this errs on agreeing
    only where a short run cannot tell the two apart.
    """
    variance = p_model * (1 - p_model) / max(1.0, n_model) + p_real * (1 - p_real) / max(
        1.0, n_real
    )
    return RATE_TOLERANCE + 2 * math.sqrt(variance)


def _share(count: float | None, metrics: dict[str, Any]) -> float | None:
    """A count as its share of the run's checkouts (None stays None)."""
    if count is None:
        return None
    return count / max(1.0, float(metrics.get("checkouts") or 0))


def _rate(
    model: float | None,
    real: float | None,
    sim: dict[str, Any],
    real_metrics: dict[str, Any],
    of: str = "checkouts",
) -> tuple[bool, str]:
    if model is None or real is None:
        return model is None and real is None, "missing"
    tolerance = rate_tolerance(
        model, real, float(sim.get(of) or 0), float(real_metrics.get(of) or 0)
    )
    gap = real - model
    return abs(gap) <= tolerance, f"{gap * 100:+.1f} pts (tol {tolerance * 100:.1f})"


def _latency(model: float | None, real: float | None, floor_s: float) -> tuple[bool, str]:
    if model is None or real is None:
        # Nobody answered on one side only: the bodies saw different worlds.
        return model is None and real is None, "no answers" if model == real else "missing"
    if abs(real - model) <= floor_s:
        return True, f"{(real - model) * 1000:+.0f} ms (floor {floor_s * 1000:.0f})"
    ratio = real / model if model > 0 else math.inf
    return 1 / FACTOR <= ratio <= FACTOR, f"x{ratio:.2f} (floor {floor_s * 1000:.0f} ms)"


#: The invariant rule of ``compare --grid`` (``judge_invariant_spread``), for its output.
SPREAD_RULE = (
    "judged against the model's several seeded runs at the point: a real zero agrees"
    " where more than 5% of the model's runs are zero, a real non-zero where more than"
    " 5% are non-zero (2 or more of 20); a real non-zero count must also be within"
    f" {FACTOR:g}x of the model's mean, a plausible Poisson count under that mean"
    " (two-sided tail probability of at least 1%), or inside the spread of all the"
    " model's runs, zeros included, less 5% at each end"
)
#: Share of the model's runs an outcome must pass to count as one the model predicts,
#: and share left out at each end of its spread: one run of 20 is the model's tail.
SPREAD_TAIL = 0.05
#: Two-sided Poisson tail probability under the model's mean below which a real count
#: is not count noise: 1 in 100 of a process with the model's mean.
NOISE_P = 0.01


def judge_invariant_spread(
    name: str, model_runs: list[dict[str, Any]], real: dict[str, Any]
) -> Judgement:
    """An invariant judged against the model's spread over several seeded runs.

    Why: where a strategy breaks an invariant by chance near an edge (the
    checks in flight at sell-out: a mean of one unit or less), one run of
    either body is zero or not by chance, and the model disagrees with itself
    between two seeds about as often as with the real body. So the model's
    answer at a point is what its runs show, counting an outcome (zero, or
    non-zero) as one it predicts only if more than ``SPREAD_TAIL`` of its runs
    show it (2 or more of 20): one run in 20 is its tail, and a model that
    oversells in 1 run of 20 does not predict a real oversell, nor does one
    that is zero in 1 of 20 predict a real zero.

    Where the real run breaks it, and the model predicts that, its count per
    checkout intent must also be (any of): within ``FACTOR`` of the model's
    mean; count noise of that mean (``poisson_two_sided``: the real count, with
    the model's mean count scaled to the real run's base as a Poisson mean,
    has a two-sided tail probability of at least ``NOISE_P``); or inside the
    model's spread (all its runs, zeros included, less ``SPREAD_TAIL`` of them
    at each end). Oversold units come in clusters (several per pause), which
    vary more than Poisson, so the noise test errs towards a disagreement.
    """
    values = sorted(_per_checkout(name, run) for run in model_runs)
    if not values:
        raise ValueError("judge_invariant_spread needs at least one model run")
    real_value = _value(real.get(name))
    real_rate = _per_checkout(name, real)
    mean = sum(values) / len(values)
    broken = sum(1 for value in values if value > 0)
    tail = SPREAD_TAIL * len(values)
    share = f"non-zero in {broken} of {len(values)} model runs"
    mean_value = _tidy_mean(name, model_runs)
    if real_rate == 0:
        agree = len(values) - broken > tail
        text = share if agree else f"non-zero vs zero ({share})"
        return Judgement(name, "invariant", mean_value, real_value, agree, text, agree)
    if broken <= tail:
        text = f"zero vs non-zero ({share})"
        return Judgement(name, "invariant", mean_value, real_value, False, text, False)
    low, high = _trimmed_range(values)
    ratio = real_rate / mean
    counts = [_count_and_base(name, run) for run in model_runs]
    mean_count = sum(count for count, _ in counts) / len(counts)
    mean_base = sum(base for _, base in counts) / len(counts)
    real_count, real_base = _count_and_base(name, real)
    chance = poisson_two_sided(real_count, mean_count / mean_base * real_base)
    within = 1 / FACTOR <= ratio <= FACTOR
    if within:
        text = f"x{ratio:.2f} of the model's mean"
    elif chance >= NOISE_P:
        text = f"x{ratio:.2f} of the model's mean (count noise, p {chance:.2g})"
    elif low <= real_rate <= high:
        text = f"x{ratio:.2f} of the model's mean (inside its spread)"
    else:
        return Judgement(
            name, "invariant", mean_value, real_value, False,
            f"x{ratio:.2f} of the model's mean, outside its spread ({share})", True, False,
        )  # fmt: skip
    return Judgement(
        name, "invariant", mean_value, real_value, True, f"{text}; {share}", True, within
    )


def _tidy_mean(name: str, model_runs: list[dict[str, Any]]) -> float:
    """The metric's mean over the model's runs, as the evidence shows it."""
    return sum(float(run.get(name) or 0) for run in model_runs) / len(model_runs)


def _trimmed_range(ordered: list[float]) -> tuple[float, float]:
    """Lowest and highest of sorted values, less ``SPREAD_TAIL`` of them at each end.

    1 of 20 is left out at each end (none of fewer than 20), so one run alone
    never widens the spread.
    """
    skip = math.floor(SPREAD_TAIL * len(ordered) + 1e-9)
    skip = min(skip, (len(ordered) - 1) // 2)
    return ordered[skip], ordered[len(ordered) - 1 - skip]


def judge_with_spread(
    model_runs: list[dict[str, Any]],
    real: dict[str, Any],
    time_scale: float = 1.0,
    lateness_s: dict[str, float] | None = None,
) -> tuple[bool, list[Judgement]]:
    """``judge`` against the model's first run (the real body's own streams), with
    every invariant judged against the spread of all of them instead
    (``judge_invariant_spread``)."""
    _, lines = judge(model_runs[0], real, time_scale, lateness_s)
    lines = [
        judge_invariant_spread(line.metric, model_runs, real) if line.kind == "invariant" else line
        for line in lines
    ]
    return all(line.agree is not False for line in lines), lines
