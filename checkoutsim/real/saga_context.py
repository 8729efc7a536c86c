"""What one saga carries through the store's calls."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class SagaContext:
    """What the body knows about the saga an operation belongs to.

    ``leases`` maps lock names to the token this saga was granted, so a stock
    write can be recorded with the lease its writer believed it held, even
    when the strategy does not pass a fencing token.
    """

    intent_id: int
    key: str
    order_id: int | None = None
    leases: dict[str, int] = field(default_factory=dict)
