"""The one `Cache`: Redis first, memory when Redis fails, back to Redis by itself.

Reads: the memory tier answers first when it can be trusted — no Redis configured, the circuit
open (memory is then the fallback), or the invalidation subscription live (memory is a coherent
near cache). Otherwise Redis answers, and a hit is copied into memory. A Redis error or timeout
is never seen by the caller: the operation is served from memory, the breaker counts the
failure, and after `failure_threshold` in a row no request touches Redis until the supervisor's
probe succeeds.

Writes: values go to Redis (and to memory as a near copy); while Redis is unavailable they go to
memory only, for at most `fallback_ttl` seconds. Invalidations drop memory entries at once and
reach Redis and the other processes through it; those made while Redis is unavailable are kept
and replayed before the circuit closes again.

Loads (`get_or_set`, `fetch`): concurrent misses on one key in a process share one loader call;
with `lock_ttl` set, a process that finds another holding the key's Redis lock waits (up to
`lock_ttl`) for that process's value instead of loading it too. A value is stored only if no
invalidation ran while it was loaded (see `redis_tier.py`), so a read racing a write cannot
leave the old value behind.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from leadflow.cache.breaker import CircuitBreaker
from leadflow.cache.clock import Clock
from leadflow.cache.envelope import Packed, decode, encode, pack, unpack
from leadflow.cache.link import RedisLink, drop_local
from leadflow.cache.memory import MemoryEntry, MemoryTier
from leadflow.cache.redis_tier import Invalidation, RedisTier, RedisUnavailable
from leadflow.cache.singleflight import SingleFlight
from leadflow.cache.stats import CacheStats, Counters, snapshot
from leadflow.cache.supervisor import Supervisor

log = logging.getLogger(__name__)

T = TypeVar("T")

_LOCK_POLL_SECONDS = 0.02


@dataclass(frozen=True, slots=True)
class Fetched(Generic[T]):
    """A value and where it came from: `memory`, `redis` or `loader` (this call computed it)."""

    value: T
    source: str
    joined: bool = False  # waited for a load another request of this process had started

    @property
    def hit(self) -> bool:
        return self.source != "loader"


class Cache:
    def __init__(
        self,
        *,
        memory: MemoryTier,
        redis: RedisTier | None,
        breaker: CircuitBreaker,
        clock: Clock,
        counters: Counters,
        fallback_ttl: float,
        probe_interval: float,
        lock_ttl: float | None = None,
        enabled: bool = True,
    ) -> None:
        self._memory = memory
        self._breaker = breaker
        self._clock = clock
        self.counters = counters
        self.fallback_ttl = fallback_ttl
        self.lock_ttl = lock_ttl
        self.enabled = enabled
        self._flights: SingleFlight[Fetched[Any]] = SingleFlight()
        self._link: RedisLink | None = None
        self._supervisor: Supervisor | None = None
        if redis is not None:
            self._link = RedisLink(
                redis=redis,
                memory=memory,
                breaker=breaker,
                counters=counters,
                clock=clock,
                fallback_ttl=fallback_ttl,
                probe_interval=probe_interval,
                origin=f"{os.getpid()}-{uuid.uuid4().hex[:12]}",
            )
            self._supervisor = Supervisor(self._link, redis, probe_interval=probe_interval)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening to Redis (in the background: a Redis that is down delays nothing)."""
        if self._supervisor is not None:
            self._supervisor.start()

    async def close(self) -> None:
        if self._supervisor is not None:
            await self._supervisor.stop()
        if self._link is not None:
            if self._link.pending is not None:
                log.warning(
                    "%d cache invalidation(s) never reached Redis; other processes keep those "
                    "entries until they expire",
                    len(self._link.pending),
                )
            await self._link.redis.close()

    # -- reads ----------------------------------------------------------------------------

    async def get(self, key: str, *, schema: str = "") -> Any | None:
        """The value under `key`, or None."""
        trusted = self._memory_trusted()
        if trusted:
            value = self._memory_lookup(key, schema)
            if value is not _ABSENT:
                return value
            if self._link is None:
                return None
        found = await self._redis_lookup(key, schema, None, memory_checked=trusted)
        return None if found.value is _ABSENT else found.value

    async def get_or_set(
        self,
        key: str,
        loader: Callable[[], Awaitable[T]],
        ttl: float,
        *,
        tags: Iterable[str] = (),
        schema: str = "",
    ) -> T:
        """The cached value under `key`, or `loader()`'s result, stored for `ttl` seconds."""
        return (await self.fetch(key, loader, ttl, tags=tags, schema=schema)).value

    async def fetch(
        self,
        key: str,
        loader: Callable[[], Awaitable[T]],
        ttl: float,
        *,
        tags: Iterable[str] = (),
        schema: str = "",
    ) -> Fetched[T]:
        """Like `get_or_set`, and say whether the value came from a tier or from `loader`."""
        trusted = self._memory_trusted()
        if trusted:
            value = self._memory_lookup(key, schema)
            if value is not _ABSENT:
                return Fetched(value, "memory")
        tag_set = frozenset(tags)

        async def miss() -> Fetched[Any]:
            return await self._miss(key, loader, ttl, tag_set, schema, memory_checked=trusted)

        fetched, leader = await self._flights.run(key, miss)
        if not leader:
            self.counters.joined += 1
            return Fetched(fetched.value, fetched.source, joined=True)
        return fetched

    async def _miss(
        self,
        key: str,
        loader: Callable[[], Awaitable[Any]],
        ttl: float,
        tags: frozenset[str],
        schema: str,
        *,
        memory_checked: bool,
    ) -> Fetched[Any]:
        stamp = self._memory.stamp(tags)
        found = await self._redis_lookup(key, schema, tags, memory_checked=memory_checked)
        if found.value is not _ABSENT:
            return Fetched(found.value, found.source)
        if found.generations is None:
            value = await self._load(loader)
            self._store_local(key, pack(value), ttl, tags, schema, stamp)
            return Fetched(value, "loader")
        token = await self._take_lock(key)
        if token is _HELD:
            waited = await self._wait_for_other_process(key, schema)
            if waited is not None:
                return waited
            token = None
        try:
            value = await self._load(loader)
            await self._store(key, pack(value), ttl, tags, schema, found.generations, stamp)
        finally:
            if token is not None:
                await self._release_lock(key, token)
        return Fetched(value, "loader")

    async def _load(self, loader: Callable[[], Awaitable[T]]) -> T:
        self.counters.loads += 1
        return await loader()

    # -- writes ---------------------------------------------------------------------------

    async def set(
        self, key: str, value: Any, ttl: float, *, tags: Iterable[str] = (), schema: str = ""
    ) -> None:
        """Store `value` under `key` for `ttl` seconds; other processes drop their old copy."""
        packed, tag_set = pack(value), frozenset(tags)
        link = self._link
        if link is None:
            self._store_local(key, packed, ttl, tag_set, schema, None)
            return
        if link.ready:
            expires_at = self._clock.now() + ttl
            data = encode(packed, expires_at=expires_at, schema=schema, tags=tag_set)
            notice = Invalidation(keys=frozenset({key})).message(link.origin)
            try:
                await link.redis.set(key, data, ttl=ttl, tags=tag_set, publish=notice)
            except RedisUnavailable:
                link.failed()
            else:
                link.succeeded()
                self.counters.redis.sets += 1
                if link.is_subscribed:
                    self._put_memory(key, MemoryEntry(packed, expires_at, schema, tag_set, True))
                else:
                    self._memory.delete(key)
                return
        self.counters.redis.fallbacks += 1
        self._store_local(key, packed, ttl, tag_set, schema, None)
        # Redis may still hold an older value under this key: drop it when Redis is back.
        link.queue(Invalidation(keys=frozenset({key})))

    async def delete(self, key: str) -> None:
        await self.invalidate(Invalidation(keys=frozenset({key})))

    async def invalidate_tags(self, *tags: str) -> None:
        """Drop every entry carrying one of `tags`, in every tier and every process."""
        await self.invalidate(Invalidation(tags=frozenset(tags)))

    async def invalidate_prefix(self, prefix: str) -> None:
        """Drop every key starting with `prefix`, in every tier and every process."""
        await self.invalidate(Invalidation(prefixes=frozenset({prefix})))

    async def invalidate(self, what: Invalidation) -> None:
        self.counters.invalidations_local += 1
        drop_local(self._memory, what)
        link = self._link
        if link is None:
            return
        if link.ready and link.pending is None:
            try:
                await link.redis.invalidate(what, origin=link.origin)
            except RedisUnavailable:
                link.failed()
            else:
                link.succeeded()
                return
        self.counters.redis.fallbacks += 1
        link.queue(what)

    # -- stats ----------------------------------------------------------------------------

    def stats(self) -> CacheStats:
        """A snapshot of the counters, sizes and circuit state (see the package docstring)."""
        link = self._link
        return snapshot(
            self.counters,
            memory=self._memory,
            breaker=self._breaker,
            enabled=self.enabled,
            configured=link is not None,
            subscribed=link is not None and link.is_subscribed,
            pending=len(link.pending) if link is not None and link.pending is not None else 0,
        )

    # -- internals ------------------------------------------------------------------------

    def _memory_trusted(self) -> bool:
        return self._link is None or self._link.memory_trusted()

    def _memory_lookup(self, key: str, schema: str) -> Any:
        entry = self._memory.get(key)
        if entry is None or entry.schema != schema:
            self.counters.memory.misses += 1
            return _ABSENT
        self.counters.memory.hits += 1
        if self._link is not None and not self._link.ready:
            self.counters.memory.fallbacks += 1
            self.counters.redis.fallbacks += 1
        return unpack(entry.packed)

    async def _redis_lookup(
        self, key: str, schema: str, tags: frozenset[str] | None, *, memory_checked: bool
    ) -> _Found:
        """Ask Redis (falling back to memory). With `tags` (a load may follow), read the
        counters of those tags too; `generations` is None unless Redis answered."""
        changes = self._memory.changes
        link = self._link
        if link is not None and link.ready:
            generations: tuple[str, ...] | None = None
            try:
                if tags is None:
                    data = await link.redis.get(key)
                else:
                    data, generations = await link.redis.get_with_generations(key, tags)
            except RedisUnavailable:
                link.failed()
            else:
                link.succeeded()
                return self._accept(key, data, schema, changes, generations)
        elif link is not None:
            self.counters.redis.fallbacks += 1
        if memory_checked:
            return _Found(_ABSENT, "memory", None)
        return _Found(self._memory_lookup(key, schema), "memory", None)

    def _accept(
        self,
        key: str,
        data: bytes | None,
        schema: str,
        changes: int,
        generations: tuple[str, ...] | None,
    ) -> _Found:
        """Take what Redis returned; copy a hit into memory unless something was invalidated
        during the round trip (`changes` is the memory tier's count from before it)."""
        decoded = decode(data, schema=schema) if data is not None else None
        if decoded is not None and decoded.expires_at <= self._clock.now():
            decoded = None  # Redis has not dropped it yet; by the writer's clock it is over
        if decoded is None:
            self.counters.redis.misses += 1
            return _Found(_ABSENT, "redis", generations)
        self.counters.redis.hits += 1
        if self._link is not None and self._link.is_subscribed and self._memory.changes == changes:
            entry = MemoryEntry(decoded.packed, decoded.expires_at, schema, decoded.tags, True)
            self._put_memory(key, entry)
        return _Found(unpack(decoded.packed), "redis", generations)

    async def _store(
        self,
        key: str,
        packed: Packed,
        ttl: float,
        tags: frozenset[str],
        schema: str,
        generations: tuple[str, ...],
        stamp: tuple[int, ...],
    ) -> None:
        """Store a loaded value where it is still current (see the module docstring)."""
        link = self._link
        if link is not None and link.ready:
            expires_at = self._clock.now() + ttl
            data = encode(packed, expires_at=expires_at, schema=schema, tags=tags)
            try:
                stored = await link.redis.set(
                    key, data, ttl=ttl, tags=tags, generations=generations
                )
            except RedisUnavailable:
                link.failed()
            else:
                link.succeeded()
                if not stored:
                    self.counters.redis_sets_refused += 1
                    return
                self.counters.redis.sets += 1
                if link.is_subscribed and self._memory.stamp(tags) == stamp:
                    self._put_memory(key, MemoryEntry(packed, expires_at, schema, tags, True))
                return
        self._store_local(key, packed, ttl, tags, schema, stamp)

    def _store_local(
        self,
        key: str,
        packed: Packed,
        ttl: float,
        tags: frozenset[str],
        schema: str,
        stamp: tuple[int, ...] | None,
    ) -> None:
        """Keep a value in memory only (with Redis away: for `fallback_ttl` at most)."""
        if stamp is not None and self._memory.stamp(tags) != stamp:
            return  # an invalidation ran while it was loaded: it may already be stale
        if self._link is not None:
            ttl = min(ttl, self.fallback_ttl)
        entry = MemoryEntry(packed, self._clock.now() + ttl, schema, tags, False)
        self._put_memory(key, entry)

    def _put_memory(self, key: str, entry: MemoryEntry) -> None:
        self._memory.set(key, entry)
        self.counters.memory.sets += 1

    async def _wait_for_other_process(self, key: str, schema: str) -> Fetched[Any] | None:
        """Another process is loading `key`: wait for its value (None after `lock_ttl`)."""
        link = self._link
        if link is None or self.lock_ttl is None:
            return None
        self.counters.lock_waits += 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lock_ttl
        while loop.time() < deadline:
            await asyncio.sleep(_LOCK_POLL_SECONDS)
            changes = self._memory.changes
            try:
                data = await link.redis.get(key)
            except RedisUnavailable:
                link.failed()
                return None
            if data is not None:
                found = self._accept(key, data, schema, changes, None)
                if found.value is not _ABSENT:
                    return Fetched(found.value, "redis")
        return None

    async def _take_lock(self, key: str) -> str | None:
        """Our token, `_HELD` if another process holds the key's lock, None without locking."""
        link = self._link
        if link is None or self.lock_ttl is None or not link.ready:
            return None
        token = uuid.uuid4().hex
        try:
            return token if await link.redis.try_lock(key, token, self.lock_ttl) else _HELD
        except RedisUnavailable:
            link.failed()
            return None

    async def _release_lock(self, key: str, token: str) -> None:
        if self._link is None:
            return
        try:
            await self._link.redis.unlock(key, token)
        except RedisUnavailable:
            self._link.failed()


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


_ABSENT: Any = _Absent()
_HELD = "\x00held"  # not a token: tokens are hex


@dataclass(frozen=True, slots=True)
class _Found:
    value: Any
    source: str
    generations: tuple[str, ...] | None
