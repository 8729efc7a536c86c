"""What a run's failures cost in revenue: lost orders times the scenario's order value.

The definition, one for every scenario and variant: a **lost order** is a
checkout that ended without an order for a reason other than "sold out", that
is, one the shopper was told was rejected (a breaker or a down service turned
it away), payment failed, order failed (its payment refunded by the saga),
processing (parked or timed out inside the shop and never confirmed by the end
of the run), timed out (the shopper gave up), or that was still in flight when
the run ended. Sold out is left out: the stock was gone, so no design would
have sold it. A checkout whose parked payment was charged after an outage ended
with an order and is not lost. Lost revenue is lost orders times
``money.order_value``. In a run that has faults, a variant's figure beside
another's is what its design costs or saves; a run whose gateway also declines
cards counts those declines too (they are lost whatever the design).

Gateway fees (``gateway_fees``): what a run's captures cost at the providers
that took them, when the scenario gives a provider a fee: every capture
booked at a provider, refunded or not (a refund is assumed not to return the
fee), times that provider's ``order_value x fee_percent / 100 + fee_fixed``.
A duplicate charge pays its fee twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

#: The outcomes of a checkout that ended without an order and not sold out.
LOST_OUTCOMES = (
    "rejected",
    "payment_failed",
    "order_failed",
    "processing",
    "timed_out",
    "in_flight",
)


def lost_orders(metrics: Mapping[str, float]) -> float:
    """Checkouts that ended without an order, other than sold out (see the module)."""
    return sum(metrics.get(outcome, 0) for outcome in LOST_OUTCOMES)


def priced(metrics: Mapping[str, float], order_value: float) -> dict[str, float]:
    """The lost orders and the revenue they were worth: ``lost_orders``, ``lost_revenue_usd``."""
    lost = lost_orders(metrics)
    return {"lost_orders": lost, "lost_revenue_usd": lost * order_value}


def gateway_fees(
    ledger: pd.DataFrame,
    fees: Sequence[tuple[str, float | None, float | None]],
    order_value: float,
) -> dict[str, float]:
    """Fees the run's captures paid, summed over providers: ``gateway_fees_usd``.

    ``fees`` is each provider's (name, percent, fixed), the primary first
    (``Gateways.fees``); a provider with neither set costs nothing here, and a
    scenario that sets no fee gets no key (its figures stay as they were). A
    ledger with one provider has no ``gateway`` column: every row is the
    primary's.
    """
    if all(percent is None and fixed is None for _, percent, fixed in fees):
        return {}
    total = 0.0
    for index, (name, percent, fixed) in enumerate(fees):
        if "gateway" in ledger.columns:
            captures = int((ledger["gateway"] == name).sum())
        else:
            captures = len(ledger) if index == 0 else 0
        per_capture = order_value * (percent or 0.0) / 100 + (fixed or 0.0)
        total += captures * per_capture
    return {"gateway_fees_usd": total}
