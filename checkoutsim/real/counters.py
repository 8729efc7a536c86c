"""Thread-safe counts the metrics need that no table holds.

The executor owns one; the fault and lock-wait helpers it drives add to it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any


class Counters:
    """Thread-safe counts the metrics need that no table holds."""

    def __init__(self, lock: Any) -> None:
        self._lock = lock
        self._counts: Counter[str] = Counter()

    def add(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to counter ``name``."""
        with self._lock:
            self._counts[name] += amount

    def snapshot(self) -> dict[str, int]:
        """A copy of every counter."""
        with self._lock:
            return dict(self._counts)
