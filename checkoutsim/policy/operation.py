"""What every policy operation is: the base class, a policy step, and "did not happen".

The operations themselves are in ``policy/stock_ops.py`` (inventory store and
locks) and ``policy/ops.py`` (payments, gateway, orders, time), which re-exports
everything here so that a body imports them all from one place.

Operations, and the records they carry (``ReservationRequest``, ``StockRow``,
``PaymentRecord``, the checkout request), are ``@dataclass(slots=True,
unsafe_hash=True)``: values that no code changes once made, hashable and equal
by their fields as frozen dataclasses are. They are not declared frozen because
a frozen dataclass sets each field through ``object.__setattr__`` in its
``__init__``: about 0.25 us more per record, and a simulated checkout makes
about seven of them, which was over a tenth of its CPU time.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, TypeVar

T = TypeVar("T")

#: A policy step: yields operations, receives their results, returns ``T``.
Step = Generator["Operation", Any, T]


class Operation:
    """Base class of everything a policy can yield."""

    __slots__ = ()


class _Unavailable:
    """The result of any inventory operation while the service is down or fenced off
    by an open breaker: the operation did not happen."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNAVAILABLE"


#: Singleton result meaning "the service did not do it: down, or breaker open".
UNAVAILABLE = _Unavailable()
