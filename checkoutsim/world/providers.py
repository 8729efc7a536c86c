"""What both bodies share about several gateways: their random streams and capture ids.

Each extra provider draws from streams of its own, derived from the primary's
stream's seed state without drawing from it, so a scenario's primary draws
the numbers it drew with one gateway. A capture id names its provider: the
provider's own ledger row times the number of providers, plus the provider's
index (with one provider, the row itself).
"""

from __future__ import annotations

import random

from checkoutsim.scenario.settings import Brownout, Outage, Settings


def provider_streams(base: random.Random, index: int) -> dict[str, random.Random]:
    """Provider ``index``'s ``gateway`` and ``gateway_faults`` streams (index > 0)."""
    # A string seed is hashed with SHA-512 (not Python's per-process hash): the
    # same seed state gives the same streams in every process.
    state = base.getstate()[1][:8]
    return {
        name: random.Random(f"{name}:{index}:{state}") for name in ("gateway", "gateway_faults")
    }


def capture_id(row: int, index: int, count: int) -> int:
    """The id of provider ``index``'s ledger row ``row`` when there are ``count`` providers."""
    return row * count + index


def provider_of(capture: int, count: int) -> tuple[int, int]:
    """Which provider holds a capture id, and its row in that provider's ledger."""
    return capture % count, capture // count


def provider_settings(settings: Settings, index: int) -> Settings:
    """The settings as provider ``index`` sees them: its gateway, breaker and faults.

    Index 0 is the primary: the settings themselves. Any other provider gets a
    copy whose ``gateway``, ``breakers.gateway`` and gateway faults are its own,
    so each body builds it with the code that builds the primary.
    """
    if index == 0:
        return settings
    provider = settings.gateways.others[index - 1]
    gateway = settings.gateway.model_copy(
        update={
            "latency": provider.latency,
            "decline_rate": provider.decline_rate,
            "error_rate": provider.error_rate,
            "lost_response_rate": provider.lost_response_rate,
            "timeout_s": provider.timeout_s,
        }
    )
    faults = settings.faults
    outages = [outage for outage in faults.outages if outage.service != "gateway"]
    outages += [
        Outage(service="gateway", start_s=outage.start_s, end_s=outage.end_s, mode=outage.mode)
        for outage in provider.outages
    ]
    brownouts = [brownout for brownout in faults.brownouts if brownout.service != "gateway"]
    brownouts += [
        Brownout(
            service="gateway",
            start_s=brownout.start_s,
            end_s=brownout.end_s,
            latency_factor=brownout.latency_factor,
        )
        for brownout in provider.brownouts
    ]
    breaker = provider.breaker if provider.breaker is not None else settings.breakers.gateway
    return settings.model_copy(
        update={
            "gateway": gateway,
            "breakers": settings.breakers.model_copy(update={"gateway": breaker}),
            "faults": faults.model_copy(
                update={
                    "outages": outages,
                    "brownouts": brownouts,
                    "gateway_rate_limit_per_s": provider.rate_limit_per_s,
                    "gateway_rate_limit_burst": provider.rate_limit_burst,
                    "gateway_accounts": provider.accounts,
                }
            ),
        }
    )
