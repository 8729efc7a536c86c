"""The stock cache in front of the inventory store: its rules, written once.

A shopper views the product page before checking out. The page shows the
SKU's available units, read from a cache when the cached entry is fresh (a
*hit*) and from the store otherwise (a *miss*, which then fills the cache).
A shopper shown fewer units than wanted is told "sold out" by the page and
never attempts the checkout; one shown enough runs the checkout, whose
reservation is still decided by the store, so a stale page can only turn a
"sold out" into a failed reservation, never into an oversold unit.

The modes:

- ``none``: no cache; every page view reads the store (a miss).
- ``ttl``: an entry is fresh for ``ttl_s`` after it was filled; writes to the
  store do not touch it, so after sell-out a page may show "in stock" for up
  to ``ttl_s``.
- ``write_invalidated``: every stock write deletes the SKU's entry, so the next
  view misses and reads the store; ``ttl_s`` stays as a backstop. A fill whose
  store read began before the latest invalidation is refused (the lease rule
  of memcached-style caches): otherwise a read that raced a write would put the
  old value back after the write deleted it, and keep it for the backstop TTL.

Bodies execute ``ReadCache``, ``FillCache`` and ``RecordPageView`` against a
``CacheTable`` (the model's in simulated time, the real service's in process),
and call ``CacheTable.invalidate`` on each stock write when the policy says so.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, Literal

from checkoutsim.policy.ops import UNAVAILABLE, Operation, ReadStock, Step

CacheMode = Literal["none", "ttl", "write_invalidated"]
CACHE_MODES: tuple[CacheMode, ...] = ("none", "ttl", "write_invalidated")
#: What a page records as ``shown`` when the store could not be read: nothing shown.
NOT_SHOWN = -1


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One SKU's cached stock figure and when it was filled (body seconds)."""

    available: int
    filled_s: float


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """The cache's mode and time-to-live; decides hits, fills and invalidation."""

    mode: CacheMode = "none"
    ttl_s: float = 1.0

    @property
    def caches(self) -> bool:
        """Whether page views go through a cache at all."""
        return self.mode != "none"

    @property
    def invalidates_on_write(self) -> bool:
        """Whether a stock write deletes the SKU's entry."""
        return self.mode == "write_invalidated"

    def is_hit(self, entry: CacheEntry | None, now_s: float) -> bool:
        """A hit is an entry filled less than ``ttl_s`` ago; anything else is a miss."""
        return self.caches and entry is not None and now_s - entry.filled_s < self.ttl_s

    def accepts_fill(self, read_started_s: float, invalidated_s: float | None) -> bool:
        """A fill is refused when its store read began before the latest invalidation."""
        if not self.invalidates_on_write or invalidated_s is None:
            return True
        return read_started_s > invalidated_s


@dataclass(frozen=True, slots=True)
class CacheRead:
    """What a cache look-up returns: the entry (or None) and the body's time of the read."""

    entry: CacheEntry | None
    now_s: float


@dataclass(frozen=True, slots=True)
class PageView:
    """What one product page showed: units available (``NOT_SHOWN`` if unknown), and
    whether the figure came from the cache."""

    shown: int
    hit: bool


# --- operations ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadCache(Operation):
    """Look up the SKU's entry; the result is a ``CacheRead``."""

    sku: int


@dataclass(frozen=True, slots=True)
class FillCache(Operation):
    """Put ``available`` in the SKU's entry unless the policy refuses the fill.

    ``read_started_s`` is when the store read behind the value began (the
    ``CacheRead``'s time). Result: whether the entry was written.
    """

    sku: int
    available: int
    read_started_s: float


@dataclass(frozen=True, slots=True)
class RecordPageView(Operation):
    """Record one page view (the body stamps it with its time): the metrics' source."""

    intent_id: int
    sku: int
    hit: bool
    shown: int


# --- the table both bodies keep ----------------------------------------------------------


@dataclass
class CacheTable:
    """The cache's entries and each SKU's latest invalidation, under one policy.

    Plain data with no clock and no lock: the model uses it as is, the real
    service behind its own lock and clock.
    """

    policy: CachePolicy
    entries: dict[int, CacheEntry] = field(default_factory=dict)
    invalidated: dict[int, float] = field(default_factory=dict)
    #: The latest invalidation of every entry at once (units returned to stock by
    #: a body that cannot tell which SKU's).
    invalidated_all_s: float | None = None

    def read(self, sku: int, now_s: float) -> CacheRead:
        """The entry as a look-up at ``now_s`` sees it."""
        return CacheRead(self.entries.get(sku), now_s)

    def fill(self, sku: int, available: int, read_started_s: float, now_s: float) -> bool:
        """Store ``available`` as filled at ``now_s``, if the policy accepts the fill."""
        marks = (self.invalidated.get(sku), self.invalidated_all_s)
        known = [mark for mark in marks if mark is not None]
        if not self.policy.accepts_fill(read_started_s, max(known) if known else None):
            return False
        self.entries[sku] = CacheEntry(available, now_s)
        return True

    def on_stock_write(self, sku: int, now_s: float) -> None:
        """A write changed the SKU's stock: delete its entry if the policy says so."""
        if self.policy.invalidates_on_write:
            self.entries.pop(sku, None)
            self.invalidated[sku] = now_s

    def on_every_stock_write(self, now_s: float) -> None:
        """Some SKU's stock changed and the body cannot tell which: treat it as all of them."""
        if self.policy.invalidates_on_write:
            self.entries.clear()
            self.invalidated_all_s = now_s


# --- the page view and the checkout behind it ---------------------------------------------


def view_page(policy: CachePolicy, intent_id: int, sku: int) -> Step[PageView]:
    """One product page view: from the cache when fresh, else from the store (filling it)."""
    hit = False
    if policy.caches:
        read = yield ReadCache(sku)
        if policy.is_hit(read.entry, read.now_s):
            hit = True
            shown = read.entry.available
        else:
            shown = yield from _read_store(sku)
            if shown != NOT_SHOWN:
                yield FillCache(sku, shown, read.now_s)
    else:
        shown = yield from _read_store(sku)
    yield RecordPageView(intent_id, sku, hit, shown)
    return PageView(shown, hit)


def _read_store(sku: int) -> Step[int]:
    """The store's figure for the page, or ``NOT_SHOWN`` if the store did not answer."""
    row = yield ReadStock(sku)
    return NOT_SHOWN if row is UNAVAILABLE else int(row.available)


def shows_sold_out(page: PageView, quantity: int) -> bool:
    """The page tells the shopper "sold out": it showed fewer units than wanted.

    A page that showed nothing (the store did not answer) lets the shopper try.
    """
    return page.shown != NOT_SHOWN and page.shown < quantity


def checkout_after_page(
    policy: CachePolicy,
    intent_id: int,
    sku: int,
    quantity: int,
    checkout: Generator[Operation, Any, Any],
    sold_out: Any,
) -> Generator[Operation, Any, Any]:
    """View the page; return ``sold_out`` if it shows too few units, else run ``checkout``.

    ``checkout`` is the body's checkout generator (the saga or 2PC), not yet
    started; ``sold_out`` is the outcome the body tells a shopper turned away.
    """
    page = yield from view_page(policy, intent_id, sku)
    if shows_sold_out(page, quantity):
        checkout.close()
        return sold_out
    return (yield from checkout)
