"""The base of every scenario section, and the sections several settings modules share.

``Section`` makes a section immutable and strict; ``Latency`` and ``Breaker``
are used by the root settings (``checkoutsim.scenario.settings``) and by the
extra gateways' (``checkoutsim.scenario.gateways``), which the root imports.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Section(BaseModel):
    """Base of every scenario section: immutable, strict about unknown keys and types.

    Strict mode: ``"1e3"`` is not a number and ``"yes"`` not a boolean (a whole
    number is still accepted where a float is expected); NaN and infinities are
    refused everywhere.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


class Latency(Section):
    """A latency distribution in seconds.

    ``lognormal`` is fitted to ``p50_s`` and ``p99_s`` (the figures people quote);
    ``exponential`` has mean ``mean_s`` (for queueing checks); ``constant`` is
    always ``mean_s``.
    """

    distribution: Literal["lognormal", "exponential", "constant"] = "lognormal"
    p50_s: float = Field(0.005, gt=0, le=3600)
    p99_s: float = Field(0.02, gt=0, le=3600)
    mean_s: float = Field(0.005, ge=0, le=3600)

    @model_validator(mode="after")
    def _p99_not_below_p50(self) -> Latency:
        if self.distribution == "lognormal" and self.p99_s < self.p50_s:
            raise ValueError(f"p99_s ({self.p99_s}) must be >= p50_s ({self.p50_s})")
        return self


class Breaker(Section):
    """A circuit breaker with resilience4j's settings (off unless ``enabled``)."""

    enabled: bool = False
    failure_rate_threshold: float = Field(50.0, gt=0, le=100)
    slow_call_rate_threshold: float = Field(100.0, gt=0, le=100)
    slow_call_duration_threshold_s: float = Field(60.0, gt=0)
    sliding_window_type: Literal["count", "time"] = "count"
    sliding_window_size: int = Field(100, ge=1, le=1_000_000)
    minimum_number_of_calls: int = Field(100, ge=1, le=1_000_000)
    wait_duration_in_open_state_s: float = Field(60.0, gt=0)
    permitted_number_of_calls_in_half_open_state: int = Field(10, ge=1, le=1_000_000)
