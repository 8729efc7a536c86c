"""The ``[faults]`` section: the schedule of outages, brown-outs, rate limits and pauses.

Kept apart from ``checkoutsim.scenario.settings`` (which re-exports these names)
so the settings root stays one module of sections under ~400 lines.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from checkoutsim.scenario.sections import Latency, Section

Service = Literal["gateway", "inventory", "order", "coordinator"]


class Outage(Section):
    """A window in which a service is down.

    ``error`` refuses at once (connection refused, 503); ``hang`` accepts the
    call and never answers, so the caller waits for its time-out.
    """

    service: Service
    start_s: float = Field(ge=0)
    end_s: float = Field(gt=0)
    mode: Literal["error", "hang"] = "error"

    @model_validator(mode="after")
    def _ordered(self) -> Outage:
        if self.end_s <= self.start_s:
            raise ValueError(f"end_s ({self.end_s}) must be after start_s ({self.start_s})")
        return self


class Brownout(Section):
    """A window in which a service's latency is multiplied."""

    service: Literal["gateway", "inventory", "order"]
    start_s: float = Field(ge=0)
    end_s: float = Field(gt=0)
    latency_factor: float = Field(gt=0, le=10_000)

    @model_validator(mode="after")
    def _ordered(self) -> Brownout:
        if self.end_s <= self.start_s:
            raise ValueError(f"end_s ({self.end_s}) must be after start_s ({self.start_s})")
        return self


class Faults(Section):
    """The fault schedule: outages, brown-outs, rate limits and pauses."""

    outages: list[Outage] = Field(default_factory=list, max_length=1000)
    brownouts: list[Brownout] = Field(default_factory=list, max_length=1000)
    #: Gateway requests per second per account (token bucket); 0 means unlimited.
    gateway_rate_limit_per_s: float = Field(0.0, ge=0)
    gateway_rate_limit_burst: int = Field(20, ge=1)
    gateway_accounts: int = Field(1, ge=1, le=10_000)
    #: Probability that a lock holder pauses (GC, page fault) between read and write.
    pause_probability: float = Field(0.0, ge=0, le=1)
    pause: Latency = Latency(distribution="constant", mean_s=6.0)
