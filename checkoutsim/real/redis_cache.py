"""The stock cache in Redis: the same table as ``policy.stock_cache.CacheTable``, shared by
every service process of a run that keeps its leases in Redis (``--locks redis://``).

Each SKU's entry is a hash (``available``, ``filled_s`` in the run's model
seconds, which every process of a run shares); invalidations are marks holding
the time of the latest one. The rules stay the policy core's: a look-up hands
the entry to ``CachePolicy.is_hit``, and a fill is decided by
``CachePolicy.accepts_fill`` under ``WATCH`` on the marks, so an invalidation
that lands between the check and the write aborts the write and the check is
made again. ``client`` is one client or a ``redis_clients.PerThread`` (the
leases' own, ``RedisLeases.clients``): under gevent a connection must not move
between OS threads.
"""

from __future__ import annotations

from typing import Any

from checkoutsim.policy.stock_cache import CacheEntry, CachePolicy, CacheRead
from checkoutsim.real.redis_clients import client_source


class RedisCacheTable:
    """Cache entries and invalidation marks under one run's key prefix."""

    def __init__(self, client: Any, prefix: str, policy: CachePolicy) -> None:
        self.clients = client_source(client)
        self.prefix = prefix
        self.policy = policy
        self._all = f"{prefix}invalidated:all"

    @property
    def client(self) -> Any:
        """The client for the calling thread."""
        return self.clients()

    def _entry(self, sku: int) -> str:
        return f"{self.prefix}entry:{sku}"

    def _mark(self, sku: int) -> str:
        return f"{self.prefix}invalidated:{sku}"

    def read(self, sku: int, now_s: float) -> CacheRead:
        """The entry as a look-up at ``now_s`` sees it."""
        available, filled = self.client.hmget(self._entry(sku), "available", "filled_s")
        if available is None or filled is None:
            return CacheRead(None, now_s)
        return CacheRead(CacheEntry(int(available), float(filled)), now_s)

    def fill(self, sku: int, available: int, read_started_s: float, now_s: float) -> bool:
        """Store ``available`` as filled at ``now_s``, if the policy accepts the fill."""
        import redis

        marks = (self._mark(sku), self._all)
        with self.client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(*marks)
                    known = [float(mark) for mark in pipe.mget(*marks) if mark is not None]
                    if not self.policy.accepts_fill(read_started_s, max(known) if known else None):
                        pipe.unwatch()
                        return False
                    pipe.multi()
                    pipe.hset(self._entry(sku), mapping={"available": available, "filled_s": now_s})
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue  # an invalidation landed: judge the fill again

    def on_stock_write(self, sku: int, now_s: float) -> None:
        """A write changed the SKU's stock: delete its entry if the policy says so."""
        if self.policy.invalidates_on_write:
            with self.client.pipeline() as pipe:
                pipe.set(self._mark(sku), now_s)
                pipe.delete(self._entry(sku))
                pipe.execute()

    def on_every_stock_write(self, now_s: float) -> None:
        """Some SKU's stock changed and the body cannot tell which: all of them."""
        if self.policy.invalidates_on_write:
            client = self.client
            client.set(self._all, now_s)
            entries = list(client.scan_iter(match=f"{self.prefix}entry:*", count=1000))
            if entries:
                client.delete(*entries)
