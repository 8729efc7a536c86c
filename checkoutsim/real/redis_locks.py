"""Lock leases in Redis: ``SET key token NX PX ttl``, compare-and-delete, INCR tokens.

``RedisLeases`` stands in for the store's own leases (``Store.try_lock`` and
``Store.release_lock``) for the lock_ttl and fenced strategies. A grant takes a
fencing token from ``INCR`` on the run's counter, then sets the lock key to it
with ``NX`` (only if nobody holds it) and ``PX`` (a TTL in wall milliseconds,
the model TTL compressed by the time scale), in one script: one round trip.
Redis expires the key on its own, so a holder that pauses past the TTL really
does lose the lock while it still believes it holds it. Release deletes the key
only if it still holds this holder's token (a Lua script, atomic in Redis). The
store checks fencing tokens on write, as it does for its own leases.

Redis records each grant and each release itself, in the same script as the
grant or the release (hashes ``grants`` and ``released`` under the run's
prefix, times in model seconds as the caller reads its clock): the audit's
stale-lease checker and the lease counts read these records
(``RedisLeases.grants``, ``checkoutsim.real.records.collect``), so a grant
cannot be made without its record, nor recorded without being made. The store
keeps no record of these grants; it only raises the row's fence
(``LeasedStore.try_lock``). redis-py is imported lazily. A run's service takes
its clients from ``redis_clients.PerThread``: one per OS thread, because under
gevent a connection must not move between threads.
"""

from __future__ import annotations

import uuid
from typing import Any

from checkoutsim.real.redis_clients import client_source
from checkoutsim.real.timebase import RealTime

#: Wall seconds a Redis lease lasts when the lock should never lapse.
NEVER_LAPSES_S = 86_400.0

#: One grant attempt in one round trip (a script runs atomically in Redis): if
#: the lock is held, how long it still runs; else a token from INCR, then
#: ``SET key token NX PX ttl``. Tokens are taken only for grants, so they stay
#: dense, and a waiter polling a held lock costs one call, not three.
GRANT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
    return {0, redis.call('PTTL', KEYS[1])}
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token, 'NX', 'PX', ARGV[1])
redis.call('HSET', KEYS[3], token, ARGV[2] .. '|' .. ARGV[3] .. '|' .. ARGV[4] .. '|' .. ARGV[5])
return {token, tonumber(ARGV[1])}
"""
#: Delete the lock only if it still holds the caller's token; record the release.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
    return redis.call('DEL', KEYS[1])
end
return 0
"""
#: Columns of a grant's record (``checkoutsim.real.records.GRANT_COLUMNS``).
GRANT_FIELDS = ("token", "name", "granted_s", "expires_s", "released_s", "asked_s")


def connect(url: str) -> Any:
    """A Redis client for ``redis://HOST:PORT/DB`` (answers decoded as text)."""
    import redis

    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=30)


def new_prefix() -> str:
    """A key prefix of its own for one run (removed with ``RedisLeases.drop``)."""
    return f"checkoutsim:{uuid.uuid4().hex[:12]}:"


class RedisLeases:
    """Lease grants and releases for one run's key prefix.

    ``client`` is one client, or a ``redis_clients.PerThread`` when calls come
    from several OS threads (a service under gevent).
    """

    def __init__(self, client: Any, prefix: str, time: RealTime) -> None:
        #: Where each call gets its client (the calling thread's, for a ``PerThread``).
        self.clients = client_source(client)
        self.prefix = prefix
        self.time = time
        # A script object only holds the text and its digest; each call names its client.
        self._release = self.client.register_script(RELEASE)
        self._grant = self.client.register_script(GRANT)

    @property
    def client(self) -> Any:
        """The client for the calling thread."""
        return self.clients()

    def _key(self, name: str) -> str:
        return f"{self.prefix}lock:{name}"

    def try_lock(
        self, name: str, ttl_s: float, asked_s: float | None = None
    ) -> tuple[int | None, float]:
        """Grant ``name`` if nobody holds it: ``(token, held_until)`` as ``Store.try_lock``."""
        # A lease that never lapses (a 2PC participant's lock) is held for a day:
        # Redis needs a finite TTL, and no run lasts that long.
        ttl_ms = max(1, round(min(self.time.wall(ttl_s), NEVER_LAPSES_S) * 1000))
        now = self.time.now()
        token, remaining_ms = self._grant(
            keys=[self._key(name), f"{self.prefix}fence", f"{self.prefix}grants"],
            args=[
                ttl_ms,
                name,
                repr(now),
                repr(now + ttl_s),
                repr(now if asked_s is None else asked_s),
            ],
            client=self.client,
        )
        if token:
            return int(token), now + ttl_s
        # -2: it expired just now; -1 cannot happen (every lock key has a TTL).
        wall = max(int(remaining_ms), 0) / 1000
        return None, now + wall / max(self.time.wall(1.0), 1e-12)

    def release_lock(self, name: str, token: int) -> bool:
        """Compare-and-delete: only the holder of ``token`` frees the lock."""
        return bool(
            self._release(
                keys=[self._key(name), f"{self.prefix}released"],
                args=[str(token), repr(self.time.now())],
                client=self.client,
            )
        )

    def grants(self) -> list[tuple[int, str, float, float, float | None, float]]:
        """Every grant Redis recorded, by token, as ``GRANT_FIELDS``."""
        client = self.client
        released = {
            int(token): float(when)
            for token, when in client.hgetall(f"{self.prefix}released").items()
        }
        rows = []
        for token_text, record in client.hgetall(f"{self.prefix}grants").items():
            token = int(token_text)
            # The name is a lock name, which may hold '|': the times are the last fields.
            name, granted_s, expires_s, asked_s = record.rsplit("|", 3)
            rows.append(
                (
                    token,
                    name,
                    float(granted_s),
                    float(expires_s),
                    released.get(token),
                    float(asked_s),
                )
            )
        return sorted(rows)

    def drop(self) -> int:
        """Remove every key of this run; how many were removed."""
        client = self.client
        keys = list(client.scan_iter(match=f"{self.prefix}*", count=1000))
        return int(client.delete(*keys)) if keys else 0


class LeasedStore:
    """A store whose leases come from Redis; every other call goes to the store itself."""

    def __init__(self, store: Any, leases: RedisLeases) -> None:
        self._store = store
        self.leases = leases

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def try_lock(
        self, name: str, ttl_s: float, asked_s: float | None = None
    ) -> tuple[int | None, float]:
        """A Redis grant (Redis records it), then, for an inventory lock, the row's fence raised.

        The grant raises the SKU row's fence to the new token at once. The
        store thus knows the newest token from the moment the lock changes
        hands, not only once the new holder writes: a paused holder that wakes
        and writes before its successor does is refused too, where a fence
        raised only by writes would accept it and then accept the successor's
        write from a read made before it (a lost update under a fenced lock).
        Blind (unfenced) writes ignore the fence, so lock_ttl is unaffected.
        """
        token, held_until = self.leases.try_lock(name, ttl_s, asked_s)
        if token is not None:
            self._store.raise_fence(name, token)
        return token, held_until

    def release_lock(self, name: str, token: int) -> bool:
        """A Redis compare-and-delete (Redis records a successful release)."""
        return self.leases.release_lock(name, token)
