"""The Redis tier: one connection pool per process, short timeouts, a few Lua scripts.

Keys (all under the namespace `ns`): `ns:v:<key>` holds a value (envelope bytes, with a Redis
TTL), `ns:t:<tag>` the set of keys carrying a tag, `ns:g:<tag>` a counter every invalidation of
the tag increments, `ns:gen` one that invalidations of keys and prefixes increment,
`ns:lock:<key>` the short lock of a process loading a key. Invalidations are published on
`ns:invalidate` for the other processes' memory tiers.

The counters close the classic cache-aside race: a process that missed reads them with the miss
(one MGET), loads from the database, and stores only if none of the value's counters moved
meanwhile — a value loaded before a write commits can never land after that write's
invalidation. Every failure (error, timeout, no connection) surfaces as `RedisUnavailable`;
the hybrid cache turns it into a memory fallback.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from leadflow.cache.stats import LatencyRecorder

T = TypeVar("T")

log = logging.getLogger(__name__)

# Counters live a day past their last move. One that lapsed reads as "" — a load that began
# before would then need a day to finish for the lapse to let a stale value through.
_GENERATION_TTL_MS = 86_400_000

# KEYS: value key, n counters, tag sets. ARGV: value, ttl ms, n, n expected counter values,
# key name (the tag sets' member), message to publish ("" = none), channel. n = 0: store anyway.
_SET = """
local n = tonumber(ARGV[3])
for i = 1, n do
  if (redis.call('GET', KEYS[1 + i]) or '') ~= ARGV[3 + i] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
for i = 2 + n, #KEYS do
  redis.call('SADD', KEYS[i], ARGV[4 + n])
  if redis.call('PTTL', KEYS[i]) < tonumber(ARGV[2]) then
    redis.call('PEXPIRE', KEYS[i], ARGV[2])
  end
end
if ARGV[5 + n] ~= '' then redis.call('PUBLISH', ARGV[6 + n], ARGV[5 + n]) end
return 1
"""

# KEYS: the global counter. ARGV: value-key prefix, tag-set prefix, counter prefix, counter TTL
# ms, move the global counter (1/0), number of keys n, n keys, tags.
_INVALIDATE = """
if ARGV[5] == '1' then
  redis.call('INCR', KEYS[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
local n = tonumber(ARGV[6])
local dropped = 0
for i = 7, 6 + n do dropped = dropped + redis.call('DEL', ARGV[1] .. ARGV[i]) end
for i = 7 + n, #ARGV do
  local counter = ARGV[3] .. ARGV[i]
  redis.call('INCR', counter)
  redis.call('PEXPIRE', counter, ARGV[4])
  local tag_key = ARGV[2] .. ARGV[i]
  for _, member in ipairs(redis.call('SMEMBERS', tag_key)) do
    dropped = dropped + redis.call('DEL', ARGV[1] .. member)
  end
  redis.call('DEL', tag_key)
end
return dropped
"""

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisUnavailable(Exception):
    """A Redis operation failed or timed out."""


@dataclass(frozen=True, slots=True)
class Invalidation:
    """What to drop: keys, keys carrying a tag, keys starting with a prefix, or everything."""

    keys: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    prefixes: frozenset[str] = frozenset()
    everything: bool = False

    def __or__(self, other: Invalidation) -> Invalidation:
        if self.everything or other.everything:
            return Invalidation(everything=True)
        return Invalidation(
            self.keys | other.keys, self.tags | other.tags, self.prefixes | other.prefixes
        )

    def __len__(self) -> int:
        return len(self.keys) + len(self.tags) + len(self.prefixes) + int(self.everything)

    def message(self, origin: str) -> str:
        return json.dumps(
            {
                "o": origin,
                "k": sorted(self.keys),
                "t": sorted(self.tags),
                "p": sorted(self.prefixes),
                "a": self.everything,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_message(cls, data: bytes | str) -> tuple[str, Invalidation] | None:
        """(origin, invalidation) from a published message, or None if it is not one of ours."""
        try:
            body = json.loads(data)
            return str(body["o"]), cls(
                frozenset(map(str, body["k"])),
                frozenset(map(str, body["t"])),
                frozenset(map(str, body["p"])),
                bool(body["a"]),
            )
        except (ValueError, KeyError, TypeError):
            return None


def _as_bytes(value: object) -> bytes | None:
    # The client is built without decode_responses, so replies are bytes (or None).
    if value is None or isinstance(value, bytes):
        return value
    raise RedisUnavailable(f"unexpected reply type {type(value).__name__}")


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


class RedisTier:
    def __init__(
        self,
        url: str,
        *,
        namespace: str,
        timeout: float,
        max_connections: int,
        client_name: str,
        latency: LatencyRecorder,
        health_check_interval: int = 2,
    ) -> None:
        # Building the pool connects nothing; the first command does.
        self._pool = BlockingConnectionPool.from_url(
            url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            timeout=timeout,
            max_connections=max_connections,
            client_name=client_name,
            health_check_interval=health_check_interval,
            # No retries inside redis-py: a failure must reach the breaker at once, not after
            # several timeouts.
            retry=Retry(NoBackoff(), 0),
        )
        self._client = Redis(connection_pool=self._pool)
        self._latency = latency
        self._ns = namespace
        self._value_prefix = f"{namespace}:v:"
        self._tag_prefix = f"{namespace}:t:"
        self._counter_prefix = f"{namespace}:g:"
        self._gen_key = f"{namespace}:gen"
        self.channel = f"{namespace}:invalidate"
        self._set = self._client.register_script(_SET)
        self._invalidate = self._client.register_script(_INVALIDATE)
        self._unlock = self._client.register_script(_UNLOCK)

    def value_key(self, key: str) -> str:
        return self._value_prefix + key

    async def _run(self, operation: Awaitable[T]) -> T:
        started = time.perf_counter()
        try:
            result = await operation
        except (TimeoutError, RedisError, OSError) as exc:
            raise RedisUnavailable(f"{type(exc).__name__}: {exc}") from exc
        except Exception as exc:
            # Not a failure redis-py documents (e.g. a pool closed under us): still no caller
            # may see it, but it deserves a trace in the log.
            log.warning("unexpected error from Redis", exc_info=True)
            raise RedisUnavailable(f"{type(exc).__name__}: {exc}") from exc
        self._latency.observe(time.perf_counter() - started)
        return result

    async def get(self, key: str) -> bytes | None:
        return _as_bytes(await self._run(self._client.get(self.value_key(key))))

    def _counters(self, tags: frozenset[str]) -> list[str]:
        return [self._gen_key, *(self._counter_prefix + tag for tag in sorted(tags))]

    async def get_with_generations(
        self, key: str, tags: frozenset[str]
    ) -> tuple[bytes | None, tuple[str, ...]]:
        """The value under `key` and the counters a value with `tags` depends on, atomically."""
        replies = await self._run(self._client.mget(self.value_key(key), *self._counters(tags)))
        value, *counters = replies
        return _as_bytes(value), tuple((_as_bytes(c) or b"").decode() for c in counters)

    async def set(
        self,
        key: str,
        data: bytes,
        *,
        ttl: float,
        tags: frozenset[str],
        generations: tuple[str, ...] | None = None,
        publish: str = "",
    ) -> bool:
        """Store `data` for `ttl` seconds, unless a counter moved from `generations`."""
        counters = self._counters(tags) if generations is not None else []
        expected = list(generations or ())
        keys = [self.value_key(key), *counters, *(self._tag_prefix + tag for tag in tags)]
        ttl_ms = max(int(ttl * 1000), 1)
        args: list[Any] = [data, ttl_ms, len(expected), *expected, key, publish, self.channel]
        stored = await self._run(self._set(keys=keys, args=args))
        return bool(stored)

    async def invalidate(self, what: Invalidation, *, origin: str) -> None:
        """Move the counter, drop the affected keys, then tell the other processes."""
        if what.everything:
            await self._drop_namespace()
        else:
            keys, tags = sorted(what.keys), sorted(what.tags)
            args: list[Any] = [
                self._value_prefix,
                self._tag_prefix,
                self._counter_prefix,
                _GENERATION_TTL_MS,
                "1" if keys or what.prefixes else "0",
                len(keys),
                *keys,
                *tags,
            ]
            await self._run(self._invalidate(keys=[self._gen_key], args=args))
            for prefix in sorted(what.prefixes):
                # The global counter moved above, before the scan: a value stored after the
                # scan was loaded under the old counter and is refused.
                await self._drop_matching(_glob_escape(self._value_prefix + prefix) + "*")
        await self._run(self._client.publish(self.channel, what.message(origin)))

    async def _drop_namespace(self) -> None:
        await self._run(self._client.incr(self._gen_key))
        await self._run(self._client.pexpire(self._gen_key, _GENERATION_TTL_MS))
        await self._drop_matching(_glob_escape(self._value_prefix) + "*")
        await self._drop_matching(_glob_escape(self._tag_prefix) + "*")

    async def _drop_matching(self, pattern: str) -> None:
        cursor: int = 0
        while True:
            cursor, found = await self._run(self._client.scan(cursor, match=pattern, count=500))
            if found:
                await self._run(self._client.unlink(*found))
            if cursor == 0:
                return

    async def try_lock(self, key: str, token: str, ttl: float) -> bool:
        lock = f"{self._ns}:lock:{key}"
        acquired = await self._run(
            self._client.set(lock, token, px=max(int(ttl * 1000), 1), nx=True)
        )
        return bool(acquired)

    async def unlock(self, key: str, token: str) -> None:
        await self._run(self._unlock(keys=[f"{self._ns}:lock:{key}"], args=[token]))

    async def ping(self) -> None:
        await self._run(self._client.ping())

    def pubsub(self) -> PubSub:
        return self._client.pubsub(ignore_subscribe_messages=True)

    async def close(self) -> None:
        await self._client.aclose()
        await self._pool.aclose()
