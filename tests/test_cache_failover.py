"""Redis goes away and comes back: no caller sees an error, the circuit opens and closes itself."""

from __future__ import annotations

import asyncio
import time

from asgi_lifespan import LifespanManager
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from leadflow.api.app import create_app
from leadflow.cache.breaker import CircuitState
from leadflow.settings import Settings
from tests.cache_helpers import cache_settings, open_cache, wait_until
from tests.fakes.clock import FakeClock
from tests.redis_server import RedisServer
from tests.tcp_proxy import TcpProxy
from tests.test_cache_api import _client, _world


async def _load(value: object) -> object:
    return value


async def test_no_caller_sees_a_redis_failure_and_the_open_circuit_spares_redis(
    redis_server: RedisServer,
) -> None:
    # A long probe interval: nothing but the requests themselves touches Redis in this test.
    settings = cache_settings(
        redis_server.url, cache_breaker_failures=3, cache_probe_interval_seconds=60
    )
    async with open_cache(settings) as cache:
        await cache.set("kept", "from before", 300)
        redis_server.kill()
        for n in range(30):
            assert await cache.get("kept") == "from before"
            assert await cache.get_or_set(f"new{n}", lambda n=n: _load(n), 300) == n
            await cache.set(f"set{n}", n, 300)
            await cache.invalidate_tags("leads")
            await cache.delete(f"set{n}")
        stats = cache.stats()
        assert stats.circuit.state is CircuitState.OPEN
        # The failures that opened the circuit (requests, the broken subscription), then none:
        # 150 operations later Redis has been asked nothing more.
        assert stats.redis.errors <= 3
        assert stats.memory.hits == 30
        assert stats.memory.fallbacks >= 29  # the first may still be a near hit
        assert stats.redis.fallbacks >= 150
        assert stats.invalidations.pending >= 1


async def test_it_returns_to_redis_by_itself_within_the_probe_interval(
    redis_server: RedisServer,
) -> None:
    probe = 0.5
    settings = cache_settings(redis_server.url, cache_probe_interval_seconds=probe)
    async with open_cache(settings) as cache:
        redis_server.kill()
        for n in range(5):
            await cache.get(f"k{n}")
        await wait_until(lambda: cache.stats().circuit.state is not CircuitState.CLOSED)
        redis_server.start()
        restarted = time.monotonic()
        await wait_until(lambda: cache.stats().circuit.state is CircuitState.CLOSED)
        back_after = time.monotonic() - restarted
        hits = cache.stats().redis.hits
        await cache.set("k", "v", 60)
        other_settings = cache_settings(redis_server.url)
        async with open_cache(other_settings) as other:
            assert await other.get("k") == "v"  # written to Redis, not only to memory
            assert other.stats().redis.hits == 1
        assert cache.stats().redis.sets >= 1
        assert cache.stats().redis.hits >= hits
        # Probes run every `probe` seconds; allow one interval plus scheduling slack.
        assert back_after < probe + 1.5, back_after


async def test_memory_entries_are_trusted_only_briefly_while_redis_is_away(
    redis_server: RedisServer,
) -> None:
    clock = FakeClock(start=1_000_000.0)
    settings = cache_settings(
        redis_server.url, cache_fallback_ttl_seconds=10, cache_probe_interval_seconds=0.3
    )
    async with open_cache(settings, clock=clock) as cache:
        await cache.get_or_set("before", lambda: _load("near copy"), 300)
        redis_server.kill()
        await wait_until(lambda: cache.stats().circuit.state is not CircuitState.CLOSED)
        calls = []

        async def load() -> str:
            calls.append(1)
            return f"during #{len(calls)}"

        assert await cache.get_or_set("during", load, 300) == "during #1"
        clock.advance(9.9)
        assert await cache.get_or_set("during", load, 300) == "during #1"  # memory, fallback
        assert await cache.get("before") == "near copy"
        clock.advance(0.1)
        # Written with a TTL of 300 s, kept 10 s: nothing kept it coherent with other processes.
        assert await cache.get_or_set("during", load, 300) == "during #2"
        assert await cache.get("before") is None
        redis_server.start()
        await wait_until(lambda: cache.stats().circuit.state is CircuitState.CLOSED)
        # Written during the outage, still within its 10 s; not beyond them once Redis is back.
        assert await cache.get_or_set("during", load, 300) == "during #2"
        clock.advance(10)
        assert await cache.get_or_set("during", load, 300) == "during #3"


async def test_invalidations_made_while_redis_was_away_are_replayed_before_it_is_read(
    redis_server: RedisServer,
) -> None:
    """Process A loses Redis (a network cut, Redis keeps its data); B does not."""
    proxy = TcpProxy("127.0.0.1", redis_server.port)
    await proxy.start()
    try:
        a_settings = cache_settings(f"redis://127.0.0.1:{proxy.port}/0")
        b_settings = cache_settings(redis_server.url)
        async with open_cache(a_settings) as a, open_cache(b_settings) as b:
            await a.get_or_set("page", lambda: _load("old"), 300, tags=["leads"])
            assert await b.get("page") == "old"
            await proxy.stop()
            await a.invalidate_tags("leads")  # a write in A: Redis cannot hear it now
            assert a.stats().circuit.state is CircuitState.OPEN
            assert a.stats().invalidations.pending == 1
            assert await a.get("page") is None  # A does not serve what it invalidated
            await proxy.start()
            await wait_until(lambda: a.stats().circuit.state is CircuitState.CLOSED)
            assert a.stats().invalidations.pending == 0
            await wait_until(lambda: b.stats().invalidations.remote >= 1)
            assert await b.get("page") is None
            assert await a.get("page") is None
            raw = Redis.from_url(redis_server.url)
            try:
                assert await raw.exists("test:v:page") == 0
            finally:
                await raw.aclose()
    finally:
        await proxy.stop()


async def test_a_broken_subscription_stops_near_hits_until_it_is_back(
    redis_server: RedisServer,
) -> None:
    """Invalidations may be missed while unsubscribed: copies from before are not served after."""
    settings = cache_settings(redis_server.url, cache_probe_interval_seconds=0.3)
    async with open_cache(settings) as a, open_cache(settings) as b:
        await a.get_or_set("k", lambda: _load("v1"), 300)
        assert await b.get("k") == "v1"
        redis_server.kill()
        await wait_until(lambda: not b.stats().redis.subscribed)
        redis_server.start()  # empty: the restart lost every key
        await wait_until(lambda: b.stats().redis.subscribed)
        await wait_until(lambda: b.stats().circuit.state is CircuitState.CLOSED)
        # b's near copy came from before the break: dropped, and Redis no longer has it.
        assert await b.get("k") is None


async def test_redis_killed_and_restarted_under_api_traffic_fails_no_request(
    settings: Settings, engine: AsyncEngine, session: AsyncSession, redis_server: RedisServer
) -> None:
    ids = await _world(session)
    app = create_app(
        settings.model_copy(
            update={
                "redis_url": redis_server.url,
                "cache_probe_interval_seconds": 0.3,
                "cache_namespace": "api",
            }
        )
    )
    urls = [
        "/api/dashboard/stats",
        "/api/customers",
        "/api/leads",
        "/api/threads",
        "/api/bookings",
        f"/api/customers/{ids['a']}/overview",
    ]
    answers: list[tuple[str, str, int]] = []
    phase = "before"
    stop = asyncio.Event()

    async with LifespanManager(app), _client(app) as client:
        cache = app.state.cache
        await wait_until(lambda: cache.stats().redis.subscribed)

        async def read() -> None:
            while not stop.is_set():
                for url in urls:
                    answers.append((phase, url, (await client.get(url)).status_code))

        async def write() -> None:
            n = 0
            while not stop.is_set():
                n += 1
                response = await client.patch(f"/api/customers/{ids['a']}", json={"name": f"A{n}"})
                answers.append((phase, "PATCH", response.status_code))

        def in_phase(name: str) -> int:
            return sum(1 for p, _, _ in answers if p == name)

        traffic = [asyncio.create_task(read()) for _ in range(6)] + [asyncio.create_task(write())]
        await wait_until(lambda: in_phase("before") >= 100, within=60)
        redis_server.kill()
        phase = "outage"
        await wait_until(lambda: cache.stats().circuit.state is CircuitState.OPEN, within=30)
        await wait_until(lambda: in_phase("outage") >= 200, within=60)
        redis_server.start()
        phase = "after"
        await wait_until(lambda: cache.stats().circuit.state is CircuitState.CLOSED, within=30)
        sets = cache.stats().redis.sets
        await wait_until(lambda: cache.stats().redis.sets > sets, within=30)  # back on Redis
        await wait_until(lambda: in_phase("after") >= 100, within=60)
        stop.set()
        await asyncio.gather(*traffic)

        failed = [a for a in answers if a[2] >= 400]
        assert failed == []
        assert cache.stats().memory.fallbacks > 0
        # Coherent at the end: the cached views show the last write.
        last = (await client.get(f"/api/customers/{ids['a']}")).json()["name"]
        overview = (await client.get(f"/api/customers/{ids['a']}/overview")).json()
        assert overview["customer"]["name"] == last
