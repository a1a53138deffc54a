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
from leadflow.cache.memory import MemoryEntry, MemoryTier
from leadflow.cache.redis_tier import Invalidation, RedisTier, RedisUnavailable
from leadflow.cache.singleflight import SingleFlight
from leadflow.cache.stats import (
    CacheStats,
    CircuitStats,
    Counters,
    InvalidationStats,
    MemoryTierStats,
    RedisTierStats,
)
from leadflow.cache.supervisor import Supervisor

log = logging.getLogger(__name__)

T = TypeVar("T")

_LOCK_POLL_SECONDS = 0.02
_PENDING_LIMIT = 1_000


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
        self._redis = redis
        self._breaker = breaker
        self._clock = clock
        self.counters = counters
        self.fallback_ttl = fallback_ttl
        self.probe_interval = probe_interval
        self.lock_ttl = lock_ttl
        self.enabled = enabled
        self._origin = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._flights: SingleFlight[Fetched[Any]] = SingleFlight()
        self._pending: Invalidation | None = None
        self._subscribed = False
        self._supervisor = (
            Supervisor(self, redis, probe_interval=probe_interval) if redis is not None else None
        )

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening to Redis (in the background: a Redis that is down delays nothing)."""
        if self._supervisor is not None:
            self._supervisor.start()

    async def close(self) -> None:
        if self._supervisor is not None:
            await self._supervisor.stop()
        if self._pending is not None:
            log.warning(
                "%d cache invalidation(s) never reached Redis; other processes keep those "
                "entries until they expire",
                len(self._pending),
            )
        if self._redis is not None:
            await self._redis.close()

    # -- reads ----------------------------------------------------------------------------

    async def get(self, key: str, *, schema: str = "") -> Any | None:
        """The value under `key`, or None."""
        trusted = self._memory_trusted()
        if trusted:
            value = self._memory_lookup(key, schema)
            if value is not _ABSENT:
                return value
            if self._redis is None:
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
        if self._redis is None:
            self._store_local(key, packed, ttl, tag_set, schema, None)
            return
        if self._redis_ready():
            expires_at = self._clock.now() + ttl
            data = encode(packed, expires_at=expires_at, schema=schema, tags=tag_set)
            notice = Invalidation(keys=frozenset({key})).message(self._origin)
            try:
                await self._redis.set(key, data, ttl=ttl, tags=tag_set, publish=notice)
            except RedisUnavailable:
                self._redis_failed()
            else:
                self._redis_succeeded()
                self.counters.redis.sets += 1
                if self._subscribed:
                    self._put_memory(key, MemoryEntry(packed, expires_at, schema, tag_set, True))
                else:
                    self._memory.delete(key)
                return
        self.counters.redis.fallbacks += 1
        self._store_local(key, packed, ttl, tag_set, schema, None)
        # Redis may still hold an older value under this key: drop it when Redis is back.
        self._queue(Invalidation(keys=frozenset({key})))

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
        self._drop_local(what)
        if self._redis is None:
            return
        if self._redis_ready() and self._pending is None:
            try:
                await self._redis.invalidate(what, origin=self._origin)
            except RedisUnavailable:
                self._redis_failed()
            else:
                self._redis_succeeded()
                return
        self.counters.redis.fallbacks += 1
        self._queue(what)

    # -- stats ----------------------------------------------------------------------------

    def stats(self) -> CacheStats:
        """A snapshot of the counters, sizes and circuit state (see the package docstring)."""
        c = self.counters
        return CacheStats(
            pid=os.getpid(),
            enabled=self.enabled,
            memory=MemoryTierStats(
                hits=c.memory.hits,
                misses=c.memory.misses,
                sets=c.memory.sets,
                errors=c.memory.errors,
                fallbacks=c.memory.fallbacks,
                size=len(self._memory),
                max_items=self._memory.max_items,
                evictions=self._memory.evictions,
                expirations=self._memory.expirations,
            ),
            redis=RedisTierStats(
                hits=c.redis.hits,
                misses=c.redis.misses,
                sets=c.redis.sets,
                errors=c.redis.errors,
                fallbacks=c.redis.fallbacks,
                configured=self._redis is not None,
                subscribed=self._subscribed,
                sets_refused=c.redis_sets_refused,
                latency=c.latency.snapshot(),
            ),
            circuit=CircuitStats(
                state=self._breaker.state,
                seconds_in_state=self._breaker.seconds_in_state(),
                seconds_unavailable=self._breaker.seconds_unavailable(),
                consecutive_failures=self._breaker.consecutive_failures,
                opened_total=self._breaker.opened_total,
            ),
            loads=c.loads,
            single_flight_joined=c.joined,
            lock_waits=c.lock_waits,
            invalidations=InvalidationStats(
                local=c.invalidations_local,
                remote=c.invalidations_remote,
                pending=len(self._pending) if self._pending is not None else 0,
            ),
        )

    # -- the supervisor's side (see supervisor.py) ----------------------------------------

    def subscribed(self) -> None:
        # Copies taken before this subscription may have missed an invalidation.
        self._memory.drop_near()
        self._subscribed = True

    def unsubscribed(self, reason: str) -> None:
        if self._subscribed:
            log.warning("cache lost its Redis subscription: %s", reason)
        self._subscribed = False
        self.counters.redis.errors += 1
        if self._breaker.record_failure():
            self._opened()

    def needs_recovery(self) -> bool:
        return not self._breaker.closed or self._pending is not None

    async def recover(self) -> None:
        if self._redis is None or not self.needs_recovery():
            return
        self._breaker.begin_probe()
        try:
            await self._redis.ping()
            while self._pending is not None:
                replay, self._pending = self._pending, None
                try:
                    await self._redis.invalidate(replay, origin=self._origin)
                except RedisUnavailable:
                    self._pending = replay | self._pending if self._pending else replay
                    raise
        except RedisUnavailable:
            self._breaker.probe_failed()
            raise
        was_open = self._breaker.opened_at is not None
        self._breaker.close()
        if was_open:
            log.info("cache is back on Redis")

    def apply_remote(self, data: bytes) -> None:
        parsed = Invalidation.from_message(data)
        if parsed is None:
            return
        origin, what = parsed
        if origin == self._origin:
            return
        self.counters.invalidations_remote += 1
        self._drop_local(what)

    # -- internals ------------------------------------------------------------------------

    def _redis_ready(self) -> bool:
        return self._redis is not None and self._breaker.closed

    def _memory_trusted(self) -> bool:
        return self._redis is None or self._subscribed or not self._breaker.closed

    def _memory_lookup(self, key: str, schema: str) -> Any:
        entry = self._memory.get(key)
        if entry is None or entry.schema != schema:
            self.counters.memory.misses += 1
            return _ABSENT
        self.counters.memory.hits += 1
        if self._redis is not None and not self._breaker.closed:
            self.counters.memory.fallbacks += 1
            self.counters.redis.fallbacks += 1
        return unpack(entry.packed)

    async def _redis_lookup(
        self, key: str, schema: str, tags: frozenset[str] | None, *, memory_checked: bool
    ) -> _Found:
        """Ask Redis (falling back to memory). With `tags` (a load may follow), read the
        counters of those tags too; `generations` is None unless Redis answered."""
        changes = self._memory.changes
        if self._redis is not None and self._redis_ready():
            generations: tuple[str, ...] | None = None
            try:
                if tags is None:
                    data = await self._redis.get(key)
                else:
                    data, generations = await self._redis.get_with_generations(key, tags)
            except RedisUnavailable:
                self._redis_failed()
            else:
                self._redis_succeeded()
                return self._accept(key, data, schema, changes, generations)
        elif self._redis is not None:
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
        if self._subscribed and self._memory.changes == changes:
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
        if self._redis is not None and self._redis_ready():
            expires_at = self._clock.now() + ttl
            data = encode(packed, expires_at=expires_at, schema=schema, tags=tags)
            try:
                stored = await self._redis.set(
                    key, data, ttl=ttl, tags=tags, generations=generations
                )
            except RedisUnavailable:
                self._redis_failed()
            else:
                self._redis_succeeded()
                if not stored:
                    self.counters.redis_sets_refused += 1
                    return
                self.counters.redis.sets += 1
                if self._subscribed and self._memory.stamp(tags) == stamp:
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
        if self._redis is not None:
            ttl = min(ttl, self.fallback_ttl)
        entry = MemoryEntry(packed, self._clock.now() + ttl, schema, tags, False)
        self._put_memory(key, entry)

    def _put_memory(self, key: str, entry: MemoryEntry) -> None:
        self._memory.set(key, entry)
        self.counters.memory.sets += 1

    async def _wait_for_other_process(self, key: str, schema: str) -> Fetched[Any] | None:
        """Another process is loading `key`: wait for its value (None after `lock_ttl`)."""
        if self._redis is None or self.lock_ttl is None:
            return None
        self.counters.lock_waits += 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lock_ttl
        while loop.time() < deadline:
            await asyncio.sleep(_LOCK_POLL_SECONDS)
            changes = self._memory.changes
            try:
                data = await self._redis.get(key)
            except RedisUnavailable:
                self._redis_failed()
                return None
            if data is not None:
                found = self._accept(key, data, schema, changes, None)
                if found.value is not _ABSENT:
                    return Fetched(found.value, "redis")
        return None

    async def _take_lock(self, key: str) -> str | None:
        """Our token, `_HELD` if another process holds the key's lock, None without locking."""
        if self._redis is None or self.lock_ttl is None or not self._redis_ready():
            return None
        token = uuid.uuid4().hex
        try:
            return token if await self._redis.try_lock(key, token, self.lock_ttl) else _HELD
        except RedisUnavailable:
            self._redis_failed()
            return None

    async def _release_lock(self, key: str, token: str) -> None:
        if self._redis is None:
            return
        try:
            await self._redis.unlock(key, token)
        except RedisUnavailable:
            self._redis_failed()

    def _drop_local(self, what: Invalidation) -> None:
        if what.everything:
            self._memory.clear()
        else:
            self._memory.invalidate(keys=what.keys, tags=what.tags, prefixes=what.prefixes)

    def _queue(self, what: Invalidation) -> None:
        pending = what if self._pending is None else self._pending | what
        if len(pending) > _PENDING_LIMIT:
            pending = Invalidation(everything=True)
        self._pending = pending
        # Until it is replayed, Redis may serve what this process has invalidated: stay off it.
        if self._breaker.trip():
            self._opened()

    def _redis_succeeded(self) -> None:
        self._breaker.record_success()

    def _redis_failed(self) -> None:
        self.counters.redis.errors += 1
        self.counters.redis.fallbacks += 1
        if self._breaker.record_failure():
            self._opened()

    def _opened(self) -> None:
        log.warning(
            "cache circuit open: serving from memory, probing Redis every %.1f s",
            self.probe_interval,
        )
        # Nothing keeps memory coherent with the other processes now: trust it only briefly.
        self._memory.clamp(self._clock.now() + self.fallback_ttl)


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
