"""The hybrid cache: Redis first, memory when Redis fails, back to Redis by itself.

Modules, by use case: `hybrid.py` (the one `Cache`: get, set, delete, get_or_set/fetch,
invalidation by tag or prefix), `memory.py` (bounded LRU with TTLs, also the near cache in front
of Redis), `redis_tier.py` (pool, timeouts, Lua scripts), `breaker.py` (circuit state),
`supervisor.py` (invalidation subscription, probes, replay), `envelope.py` (format/version
prefix), `singleflight.py`, `policy.py` (key families, TTLs, tags), `views.py` (what the API
caches), `invalidation.py` (write routes and syncs → tags), `warming.py`, `router.py`
(`GET /api/cache/stats`), `factory.py` (built from Settings in the app lifespan).

Stats — `Cache.stats()` returns a `CacheStats` snapshot (pydantic; `GET /api/cache/stats` serves
it as JSON) of the process's counters since start:

- `memory` / `redis`: `hits`, `misses`, `sets`, `errors`, `fallbacks` per tier (memory
  `fallbacks`: reads it answered because Redis was unavailable; redis `fallbacks`: operations that
  skipped Redis or failed on it and were served by memory), memory `size`, `max_items`,
  `evictions`, `expirations`; redis `configured`, `subscribed`, `sets_refused` (loaded values
  dropped because an invalidation ran meanwhile) and `latency` (round trips: `count` and
  `seconds_total` since start; `mean_ms`, `p50_ms`, `p99_ms`, `max_ms` over the last 2,048).
- `circuit`: `state` (closed, open, half_open), `seconds_in_state`, `seconds_unavailable`,
  `consecutive_failures`, `opened_total`.
- `loads`, `single_flight_joined`, `lock_waits`, `invalidations` (`local`, `remote`, `pending`).

/metrics exports these figures (`leadflow.monitoring.metrics.cache` copies them into
prometheus-client instruments, so that `serve --workers N` adds the workers up): counters
`leadflow_cache_{hits,misses,sets,errors,fallbacks}_total{tier="memory"|"redis"}`,
`leadflow_cache_circuit_opened_total`, `leadflow_cache_loads_total`,
`leadflow_cache_memory_evictions_total`, `leadflow_cache_invalidations_total{origin="local"|
"remote"}`, `leadflow_cache_redis_round_trips_total` and `..._round_trip_seconds_total`; gauges
`leadflow_cache_circuit_state{state=...}` (1 for the current state) and
`leadflow_cache_memory_items`.
"""
