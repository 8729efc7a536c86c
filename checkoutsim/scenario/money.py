"""What a scenario's orders are worth: the ``[money]`` section.

A run prices its failures with it: each shopper who wanted to buy, found
stock, and ended without an order is revenue lost at this value (see
:mod:`checkoutsim.results.money`). Kept apart from the other sections so the
settings root only gains one field.
"""

from __future__ import annotations

from pydantic import Field

from checkoutsim.scenario.sections import Section


class Money(Section):
    """The value of an order, in US dollars."""

    #: Revenue one confirmed order brings, in US dollars. The default, $60, is an
    #: assumed average basket, not a measured one: a scenario states its own.
    order_value: float = Field(60.0, gt=0, le=1_000_000_000)
    #: Price what each variant runs (app instances, databases, Kafka, Redis, gateway
    #: accounts and fees) per order at the load its run carried, with the capacity
    #: cost table's prices (:mod:`checkoutsim.results.stage_cost`). Off by default:
    #: most scenarios model one part of a shop, not a deployment to price.
    price_deployment: bool = False
