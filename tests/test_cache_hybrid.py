"""The hybrid cache over a real Redis of the test's own: two `Cache`s play two processes."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from leadflow.cache.hybrid import Cache
from tests.cache_helpers import cache_settings, open_cache, wait_until
from tests.fakes.clock import FakeClock
from tests.redis_server import RedisServer


class CountingLoader:
    """A loader that counts its calls and can hold them until released."""

    def __init__(self, value: object = None, *, gate: asyncio.Event | None = None) -> None:
        self.calls = 0
        self.value = value
        self.gate = gate

    async def __call__(self) -> object:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        return self.value if self.value is not None else {"call": self.calls}


async def test_a_value_set_in_one_process_is_read_in_another_then_from_its_memory(
    redis_server: RedisServer,
) -> None:
    settings = cache_settings(redis_server.url)
    async with open_cache(settings) as a, open_cache(settings) as b:
        await a.set("k", {"x": 1}, 60, tags=["t"])
        # A set tells the other processes to drop their copy of the key; let it arrive.
        await wait_until(lambda: b.stats().invalidations.remote == 1)
        assert await b.get("k") == {"x": 1}
        assert await b.get("k") == {"x": 1}
        stats = b.stats()
        assert (stats.redis.hits, stats.memory.hits) == (1, 1)
        assert await b.get("missing") is None
        assert b.stats().redis.misses == 1


async def test_get_or_set_loads_once_and_stores_for_every_process(
    redis_server: RedisServer,
) -> None:
    settings = cache_settings(redis_server.url)
    loader = CountingLoader()
    async with open_cache(settings) as a, open_cache(settings) as b:
        first = await a.fetch("k", loader, 60)
        assert (first.value, first.source) == ({"call": 1}, "loader")
        assert (await a.fetch("k", loader, 60)).source == "memory"
        assert (await b.fetch("k", loader, 60)).source == "redis"
        assert (await b.fetch("k", loader, 60)).source == "memory"
        assert loader.calls == 1


async def test_invalidating_a_tag_reaches_redis_and_every_process_memory(
    redis_server: RedisServer,
) -> None:
    settings = cache_settings(redis_server.url)
    async with open_cache(settings) as a, open_cache(settings) as b:
        await a.get_or_set("leads-page", CountingLoader("old"), 60, tags=["leads"])
        await a.get_or_set("other", CountingLoader("kept"), 60, tags=["customers"])
        assert await b.get("leads-page") == "old"  # b now holds a near copy
        await a.invalidate_tags("leads")
        await wait_until(lambda: b.stats().invalidations.remote == 1)
        assert await b.get("leads-page") is None
        assert await a.get("leads-page") is None
        assert await b.get("other") == "kept"
        raw = Redis.from_url(redis_server.url)
        try:
            assert await raw.exists("test:v:leads-page") == 0
            assert await raw.exists("test:t:leads") == 0
        finally:
            await raw.aclose()


async def test_invalidating_a_prefix_and_deleting_a_key(redis_server: RedisServer) -> None:
    settings = cache_settings(redis_server.url)
    async with open_cache(settings) as a, open_cache(settings) as b:
        for key in ("list:a", "list:b", "lists", "dash"):
            await a.set(key, key, 60)
        await wait_until(lambda: b.stats().invalidations.remote == 4)
        for key in ("list:a", "list:b", "lists", "dash"):
            assert await b.get(key) == key
        assert b.stats().memory.size == 4
        await a.invalidate_prefix("list:")
        await a.delete("dash")
        await wait_until(lambda: b.stats().invalidations.remote == 6)
        assert [await b.get(k) for k in ("list:a", "list:b", "lists", "dash")] == [
            None,
            None,
            "lists",
            None,
        ]


async def test_set_replaces_the_near_copies_of_other_processes(redis_server: RedisServer) -> None:
    settings = cache_settings(redis_server.url)
    async with open_cache(settings) as a, open_cache(settings) as b:
        await a.set("k", 1, 60)
        await wait_until(lambda: b.stats().invalidations.remote == 1)
        assert await b.get("k") == 1
        assert await b.get("k") == 1
        assert b.stats().memory.hits == 1
        await a.set("k", 2, 60)
        await wait_until(lambda: b.stats().invalidations.remote == 2)
        assert await b.get("k") == 2


async def test_a_value_loaded_while_an_invalidation_ran_is_not_stored(
    redis_server: RedisServer,
) -> None:
    """The read raced a write: what it loaded may predate the write, so it is served, not kept."""
    settings = cache_settings(redis_server.url)
    async with open_cache(settings) as a, open_cache(settings) as writer:

        async def load_then_a_write_lands() -> str:
            await writer.invalidate_tags("leads")
            return "loaded before the write"

        value = await a.get_or_set("k", load_then_a_write_lands, 60, tags=["leads"])
        assert value == "loaded before the write"
        assert a.stats().redis.sets_refused == 1
        assert await a.get("k") is None
        assert await writer.get("k") is None
        fresh = CountingLoader("after the write")
        assert await a.get_or_set("k", fresh, 60, tags=["leads"]) == "after the write"
        assert await writer.get("k") == "after the write"


async def test_a_changed_schema_never_reads_old_bytes(redis_server: RedisServer) -> None:
    settings = cache_settings(redis_server.url)
    async with open_cache(settings) as a, open_cache(settings) as b:
        await a.set("k", {"shape": "old"}, 60, schema="v1")
        assert await b.get("k", schema="v2") is None
        loader = CountingLoader({"shape": "new"})
        assert await b.get_or_set("k", loader, 60, schema="v2") == {"shape": "new"}
        assert loader.calls == 1


async def test_bytes_without_the_format_prefix_are_a_miss(redis_server: RedisServer) -> None:
    raw = Redis.from_url(redis_server.url)
    try:
        await raw.set("test:v:k", b'{"written": "by an old deploy"}')
        async with open_cache(cache_settings(redis_server.url)) as cache:
            assert await cache.get("k") is None
            assert await cache.get_or_set("k", CountingLoader("fresh"), 60) == "fresh"
        assert (await raw.get("test:v:k") or b"").startswith(b"LFC")
    finally:
        await raw.aclose()


@pytest.mark.parametrize("with_redis", [True, False], ids=["redis", "memory-only"])
async def test_100_concurrent_misses_call_the_loader_once(
    redis_server: RedisServer, with_redis: bool
) -> None:
    settings = cache_settings(redis_server.url if with_redis else None)
    gate = asyncio.Event()
    loader = CountingLoader("v", gate=gate)
    async with open_cache(settings) as cache:
        tasks = [asyncio.create_task(cache.fetch("hot", loader, 60)) for _ in range(100)]
        await wait_until(lambda: loader.calls > 0)
        await asyncio.sleep(0)  # let every other task reach the flight
        gate.set()
        results = await asyncio.gather(*tasks)
        assert loader.calls == 1
        assert {r.value for r in results} == {"v"}
        assert sum(r.joined for r in results) == 99
        assert cache.stats().single_flight_joined == 99


async def test_two_processes_missing_at_once_load_once_through_the_redis_lock(
    redis_server: RedisServer,
) -> None:
    settings = cache_settings(redis_server.url, cache_lock_ttl_seconds=5)
    gate = asyncio.Event()
    loader = CountingLoader("v", gate=gate)
    async with open_cache(settings) as a, open_cache(settings) as b:
        first = [asyncio.create_task(a.fetch("hot", loader, 60)) for _ in range(50)]
        await wait_until(lambda: loader.calls == 1)
        second = [asyncio.create_task(b.fetch("hot", loader, 60)) for _ in range(50)]
        await wait_until(lambda: b.stats().lock_waits == 1)
        gate.set()
        results = await asyncio.gather(*first, *second)
        assert loader.calls == 1
        assert {r.value for r in results} == {"v"}
        assert {r.source for r in results[50:]} == {"redis"}


async def test_a_failing_loader_reaches_every_waiter_and_caches_nothing(
    redis_server: RedisServer,
) -> None:
    gate = asyncio.Event()

    async def broken() -> str:
        await gate.wait()
        raise LookupError("database said no")

    async with open_cache(cache_settings(redis_server.url)) as cache:
        tasks = [asyncio.create_task(cache.get_or_set("k", broken, 60)) for _ in range(10)]
        await asyncio.sleep(0)
        gate.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, LookupError) for r in results)
        assert await cache.get("k") is None


async def test_ttls_expire_by_the_clock_in_both_tiers(redis_server: RedisServer) -> None:
    clock = FakeClock(start=1_000_000.0)
    settings = cache_settings(redis_server.url)
    async with open_cache(settings, clock=clock) as a, open_cache(settings, clock=clock) as b:
        await a.set("k", "v", 30)
        await wait_until(lambda: b.stats().invalidations.remote == 1)
        assert await b.get("k") == "v"  # from Redis, now a near copy in b
        clock.advance(29.9)
        assert await a.get("k") == "v"
        assert await b.get("k") == "v"
        clock.advance(0.1)
        # Redis still holds it (its own clock has barely moved), but the envelope's expiry,
        # written by the writer's clock, is over: nobody serves it any more.
        assert await a.get("k") is None
        assert await b.get("k") is None


async def test_the_memory_only_cache_is_bounded_and_expires(redis_server: RedisServer) -> None:
    clock = FakeClock(start=0.0)
    settings = cache_settings(None, cache_memory_max_items=3)
    async with open_cache(settings, clock=clock) as cache:
        for n in range(10):
            await cache.set(f"k{n}", n, 10)
        assert cache.stats().memory.size == 3
        assert [await cache.get(f"k{n}") for n in range(7, 10)] == [7, 8, 9]
        assert cache.stats().memory.evictions == 7
        clock.advance(10)
        assert await cache.get("k9") is None
        assert cache.stats().redis.configured is False


async def test_one_named_pool_per_process_bounds_the_connections(
    redis_server: RedisServer,
) -> None:
    settings = cache_settings(redis_server.url, cache_redis_max_connections=4)
    raw = Redis.from_url(redis_server.url)
    try:
        async with open_cache(settings) as cache:
            await asyncio.gather(*(cache.get(f"k{n}") for n in range(100)))
            clients = await raw.client_list()
            ours = [c for c in clients if c["name"].startswith("leadflow-test-")]
            # Four pooled connections at most, one of them held by the subscription.
            assert 1 < len(ours) <= 4
            assert cache.stats().redis.misses == 100
    finally:
        await raw.aclose()


def test_a_cache_is_built_without_connecting(redis_server: RedisServer) -> None:
    """Building (what the lifespan does before start) opens no connection."""
    from leadflow.cache.factory import build_cache

    cache = build_cache(cache_settings("redis://127.0.0.1:1/0"), role="test")
    assert isinstance(cache, Cache)
    assert cache.stats().redis.subscribed is False
