"""The set of intent ids that have an order, one byte per intent id.

Kept apart from ``checkoutsim.sim.state`` (which re-exports it) so that module
holds the shop's rows and stays under ~400 lines.
"""

from __future__ import annotations

from collections.abc import Iterator


class OrderedIntents:
    """The set of intent ids that have an order, as one byte per intent id.

    The model's intent ids are dense from 0, so a byte array indexed by id is
    a set that costs one byte a checkout where a dict or set of ints costs
    about eighty. An id far past the others (or negative) goes in a plain set,
    so that a stray id cannot make the array huge.
    """

    __slots__ = ("_count", "_flags", "_sparse")

    def __init__(self) -> None:
        self._flags = bytearray()
        self._sparse: set[int] = set()
        self._count = 0

    def add(self, intent_id: int) -> None:
        """Mark ``intent_id`` as ordered."""
        if intent_id in self:
            return
        flags = self._flags
        if 0 <= intent_id < len(flags):
            flags[intent_id] = 1
        elif 0 <= intent_id <= 2 * len(flags) + SPARSE_GAP:
            # Grow in chunks: doubling keeps appends amortised for dense ids.
            flags.extend(bytes(max(intent_id + 1 - len(flags), len(flags), 1024)))
            flags[intent_id] = 1
        else:
            self._sparse.add(intent_id)
        self._count += 1

    def __contains__(self, intent_id: object) -> bool:
        flags = self._flags
        if isinstance(intent_id, int) and 0 <= intent_id < len(flags) and flags[intent_id]:
            return True
        return intent_id in self._sparse

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[int]:
        """The ordered intent ids, dense ones in order, then the stray ones."""
        yield from (intent_id for intent_id, flag in enumerate(self._flags) if flag)
        yield from sorted(self._sparse)


#: How far past the byte array an intent id may be and still grow it.
SPARSE_GAP = 1 << 16
