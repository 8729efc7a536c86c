"""Several payment gateways: the providers a scenario adds, and how payments are routed.

The scenario's ``[gateway]`` section, ``[breakers.gateway]`` and the faults
whose service is ``gateway`` describe the first provider (the primary): a
scenario that names no other keeps every number it had. ``[[gateways.others]]``
adds providers, each with its own latency, failures, outages, brown-outs,
rate limit, accounts and breaker, and its own ledger and idempotency keys in
both bodies. ``gateways.routing`` picks the policy core's routing
(``checkoutsim.policy.routing``); each body builds a provider from the
settings ``checkoutsim.world.providers.provider_settings`` gives it. Fees
(``fee_percent``, ``fee_fixed``) price a run's captures at each provider
(``checkoutsim.results.money.gateway_fees``); routing does not use them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from checkoutsim.scenario.sections import Breaker, Latency, Section

Routing = Literal["primary_only", "naive_failover", "safe_failover", "weighted"]


class ProviderOutage(Section):
    """A window in which one extra provider is down (``error`` refuses, ``hang`` never answers)."""

    start_s: float = Field(ge=0)
    end_s: float = Field(gt=0)
    mode: Literal["error", "hang"] = "error"

    @model_validator(mode="after")
    def _ordered(self) -> ProviderOutage:
        if self.end_s <= self.start_s:
            raise ValueError(f"end_s ({self.end_s}) must be after start_s ({self.start_s})")
        return self


class ProviderBrownout(Section):
    """A window in which one extra provider's latency is multiplied."""

    start_s: float = Field(ge=0)
    end_s: float = Field(gt=0)
    latency_factor: float = Field(gt=0, le=10_000)

    @model_validator(mode="after")
    def _ordered(self) -> ProviderBrownout:
        if self.end_s <= self.start_s:
            raise ValueError(f"end_s ({self.end_s}) must be after start_s ({self.start_s})")
        return self


class Provider(Section):
    """One more payment gateway (an account at another provider)."""

    name: str = Field(min_length=1, max_length=64)
    latency: Latency = Latency(p50_s=0.3, p99_s=2.0)
    decline_rate: float = Field(0.0, ge=0, le=1)
    error_rate: float = Field(0.0, ge=0, le=1)
    lost_response_rate: float = Field(0.0, ge=0, le=1)
    timeout_s: float = Field(10.0, gt=0, le=86_400)
    outages: list[ProviderOutage] = Field(default_factory=list, max_length=1000)
    brownouts: list[ProviderBrownout] = Field(default_factory=list, max_length=1000)
    rate_limit_per_s: float = Field(0.0, ge=0)
    rate_limit_burst: int = Field(20, ge=1)
    accounts: int = Field(1, ge=1, le=10_000)
    #: Its breaker; unset, the same settings as ``[breakers.gateway]``.
    breaker: Breaker | None = None
    #: Share of payments ``weighted`` routing sends here (relative to the others').
    share: float = Field(1.0, ge=0, le=1_000_000)
    #: Per-charge fee (percent of the order value, plus a fixed amount in USD): what a
    #: run's captures here cost (``results.money.gateway_fees``); unset, not priced.
    fee_percent: float | None = Field(None, ge=0, le=100)
    fee_fixed: float | None = Field(None, ge=0, le=1_000_000)


class Gateways(Section):
    """The providers besides the primary, and how the shop routes payments among them."""

    #: The primary's name in reports (it is described by ``[gateway]``).
    primary_name: str = Field("primary", min_length=1, max_length=64)
    primary_share: float = Field(1.0, ge=0, le=1_000_000)
    primary_fee_percent: float | None = Field(None, ge=0, le=100)
    primary_fee_fixed: float | None = Field(None, ge=0, le=1_000_000)
    others: list[Provider] = Field(default_factory=list, max_length=16)
    routing: Routing = "primary_only"
    #: Safe failover: how many times to ask a provider about an unknown outcome
    #: before giving up (the payment stays unknown there; never tried elsewhere).
    resolve_attempts: int = Field(4, ge=1, le=100)
    #: Back-off between those questions (doubling, capped at 8 times this).
    resolve_backoff_s: float = Field(1.0, ge=0, le=3600)

    @model_validator(mode="after")
    def _shares(self) -> Gateways:
        names = [self.primary_name, *(provider.name for provider in self.others)]
        if len(set(names)) != len(names):
            raise ValueError(f"gateway names must differ: {names}")
        if (
            self.routing == "weighted"
            and self.primary_share + sum(provider.share for provider in self.others) <= 0
        ):
            raise ValueError("weighted routing needs a share above 0 somewhere")
        return self

    @property
    def count(self) -> int:
        """How many providers there are, the primary included."""
        return 1 + len(self.others)

    def names(self) -> list[str]:
        """The providers' names, the primary first."""
        return [self.primary_name, *(provider.name for provider in self.others)]

    def fees(self) -> list[tuple[str, float | None, float | None]]:
        """Each provider's (name, fee percent, fixed fee), the primary first; None if unset."""
        return [
            (self.primary_name, self.primary_fee_percent, self.primary_fee_fixed),
            *((other.name, other.fee_percent, other.fee_fixed) for other in self.others),
        ]

    def shares(self) -> list[float]:
        """The providers' shares for ``weighted`` routing, the primary first."""
        return [self.primary_share, *(provider.share for provider in self.others)]
