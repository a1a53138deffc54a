"""Benchmark (d) of issue #11: `Cache.get` over Redis against a raw redis-py GET of the same key.

Both run in one process against one redis-server of their own (free port, no persistence), on
connections configured alike (same pool class, timeouts, no retries). The value is a rendered
dashboard-stats body (~1.6 KB). `Cache.get` here goes to Redis: the cache is not subscribed, so
its memory tier is not trusted as a near cache and every call is a Redis round trip (an MGET of
the value and the invalidation counter) plus the envelope check and decode. Rounds alternate
call by call (raw, cache, raw, cache, ...) so drift in machine load hits both alike; each call is
timed, and the medians (and means) of the per-call times are compared. For reference, the time
of a `Cache.get` served by the near cache is printed too.

    uv run python -m bench.cache_get --calls 20000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from tests.redis_server import RedisServer

from leadflow.cache.factory import build_cache
from leadflow.settings import Settings

VALUE = json.dumps(
    {
        "generated_at": "2026-11-30T12:00:00Z",
        "timezone": "Europe/Copenhagen",
        "leads": {"total": 100000, "by_status": {s: 16000 for s in "abcdef"}},
        "padding": "x" * 1400,
    }
).encode()


async def run(calls: int, url: str) -> dict[str, object]:
    settings = Settings(_env_file=None, redis_url=url, cache_namespace="bench")  # type: ignore[call-arg]
    cache = build_cache(settings, role="bench")  # not started: no subscription, no near cache
    await cache.set("dashboard:stats", VALUE, 3600)
    pool = BlockingConnectionPool.from_url(
        url,
        socket_connect_timeout=settings.cache_redis_timeout,
        socket_timeout=settings.cache_redis_timeout,
        timeout=settings.cache_redis_timeout,
        max_connections=settings.cache_redis_max_connections,
        retry=Retry(NoBackoff(), 0),
    )
    raw = Redis(connection_pool=pool)
    await raw.set("dashboard:stats", VALUE)
    assert await cache.get("dashboard:stats") == VALUE
    raw_times, cache_times = [], []
    clock = time.perf_counter
    for _ in range(calls):
        started = clock()
        await raw.get("dashboard:stats")
        middle = clock()
        await cache.get("dashboard:stats")
        raw_times.append(middle - started)
        cache_times.append(clock() - middle)
    assert cache.stats().redis.hits == calls + 1  # every call went to Redis
    near = build_cache(settings, role="bench-near")
    await near.start()
    for _ in range(500):
        if near.stats().redis.subscribed:
            break
        await asyncio.sleep(0.01)
    await near.get("dashboard:stats")
    started = clock()
    for _ in range(calls):
        await near.get("dashboard:stats")
    near_us = (clock() - started) / calls * 1e6
    await near.close()
    await cache.close()
    await raw.aclose()
    await pool.aclose()

    def us(values: list[float], fn: object) -> float:
        return round(fn(values) * 1e6, 1)  # type: ignore[operator]

    return {
        "calls": calls,
        "raw_get_us": {
            "median": us(raw_times, statistics.median),
            "mean": us(raw_times, statistics.fmean),
        },
        "cache_get_us": {
            "median": us(cache_times, statistics.median),
            "mean": us(cache_times, statistics.fmean),
        },
        "ratio_of_medians": round(statistics.median(cache_times) / statistics.median(raw_times), 3),
        "ratio_of_means": round(statistics.fmean(cache_times) / statistics.fmean(raw_times), 3),
        "near_cache_get_us": round(near_us, 2),
        "target": "<= 1.3",
        "load": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="leadflow-cache-get-") as tmp:
        server = RedisServer(Path(tmp))
        server.start()
        try:
            print(json.dumps(asyncio.run(run(args.calls, server.url))))
        finally:
            server.kill()


if __name__ == "__main__":
    main()
