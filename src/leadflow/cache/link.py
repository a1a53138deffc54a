"""This process's link to Redis: may Redis be used now, how the cache leaves it and rejoins it.

The link holds the circuit breaker, whether the invalidation subscription is live, and the
invalidations Redis has not heard yet. Requests report each Redis success or failure here; the
supervisor (`supervisor.py`) reports the subscription and calls `recover` to probe Redis,
replay what is pending and close the circuit. Memory can answer reads when the subscription is
live (a coherent near cache) or the circuit is not closed (the fallback); while the circuit is
not closed, no memory entry lives longer than `fallback_ttl`.
"""

from __future__ import annotations

import logging

from leadflow.cache.breaker import CircuitBreaker
from leadflow.cache.clock import Clock
from leadflow.cache.memory import MemoryTier
from leadflow.cache.redis_tier import Invalidation, RedisTier, RedisUnavailable
from leadflow.cache.stats import Counters

log = logging.getLogger(__name__)

_PENDING_LIMIT = 1_000


def drop_local(memory: MemoryTier, what: Invalidation) -> None:
    if what.everything:
        memory.clear()
    else:
        memory.invalidate(keys=what.keys, tags=what.tags, prefixes=what.prefixes)


class RedisLink:
    def __init__(
        self,
        *,
        redis: RedisTier,
        memory: MemoryTier,
        breaker: CircuitBreaker,
        counters: Counters,
        clock: Clock,
        fallback_ttl: float,
        probe_interval: float,
        origin: str,
    ) -> None:
        self.redis = redis
        self.breaker = breaker
        self._memory = memory
        self._counters = counters
        self._clock = clock
        self._fallback_ttl = fallback_ttl
        self._probe_interval = probe_interval
        self.origin = origin
        self.is_subscribed = False
        self.pending: Invalidation | None = None

    @property
    def ready(self) -> bool:
        """Requests may use Redis (the circuit is closed)."""
        return self.breaker.closed

    def memory_trusted(self) -> bool:
        return self.is_subscribed or not self.breaker.closed

    def succeeded(self) -> None:
        self.breaker.record_success()

    def failed(self) -> None:
        self._counters.redis.errors += 1
        self._counters.redis.fallbacks += 1
        if self.breaker.record_failure():
            self._opened()

    def queue(self, what: Invalidation) -> None:
        """Keep an invalidation Redis did not get, and stay off Redis until it is replayed
        (Redis may still serve what this process has invalidated)."""
        pending = what if self.pending is None else self.pending | what
        if len(pending) > _PENDING_LIMIT:
            pending = Invalidation(everything=True)
        self.pending = pending
        if self.breaker.trip():
            self._opened()

    def _opened(self) -> None:
        log.warning(
            "cache circuit open: serving from memory, probing Redis every %.1f s",
            self._probe_interval,
        )
        # Nothing keeps memory coherent with the other processes now: trust it only briefly.
        self._memory.clamp(self._clock.now() + self._fallback_ttl)

    # -- what the supervisor calls ----------------------------------------------------------

    def subscribed(self) -> None:
        # Copies taken before this subscription may have missed an invalidation.
        self._memory.drop_near()
        self.is_subscribed = True

    def unsubscribed(self, reason: str) -> None:
        if self.is_subscribed:
            log.warning("cache lost its Redis subscription: %s", reason)
        self.is_subscribed = False
        self._counters.redis.errors += 1
        if self.breaker.record_failure():
            self._opened()

    def needs_recovery(self) -> bool:
        return not self.breaker.closed or self.pending is not None

    async def recover(self) -> None:
        """Probe Redis, replay pending invalidations, close the circuit; raise if Redis fails."""
        if not self.needs_recovery():
            return
        self.breaker.begin_probe()
        try:
            await self.redis.ping()
            while self.pending is not None:
                replay, self.pending = self.pending, None
                try:
                    await self.redis.invalidate(replay, origin=self.origin)
                except RedisUnavailable:
                    self.pending = replay | self.pending if self.pending else replay
                    raise
        except RedisUnavailable:
            self.breaker.probe_failed()
            raise
        was_open = self.breaker.opened_at is not None
        self.breaker.close()
        if was_open:
            log.info("cache is back on Redis")

    def apply_remote(self, data: bytes) -> None:
        """Another process's invalidation (or set): drop the entries it names from memory."""
        parsed = Invalidation.from_message(data)
        if parsed is None:
            return
        origin, what = parsed
        if origin == self.origin:
            return
        self._counters.invalidations_remote += 1
        drop_local(self._memory, what)
