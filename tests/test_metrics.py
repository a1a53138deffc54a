"""/metrics: figures after traffic, database-derived sync and lead families, token, promtool."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from leadflow.cache.breaker import CircuitState
from leadflow.cache.stats import CacheStats
from leadflow.models import (
    EmailIngestRun,
    IngestMode,
    IngestStatus,
    Lead,
    Mailbox,
    MailProvider,
)
from leadflow.monitoring.metrics.database import DatabaseFigures
from leadflow.monitoring.metrics.gmail import (
    gmail_method,
    instrument_gmail_http,
    record_gmail_counters,
)
from leadflow.monitoring.metrics.router import render
from leadflow.settings import Settings
from leadflow.sync.gmail import GmailClient, GmailNotFound, GmailStats
from tests.cache_helpers import wait_until
from tests.fakes.clock import EPOCH, FakeClock
from tests.fakes.fixtures import FAKE_GMAIL_BASE
from tests.fakes.gmail import FakeMailbox
from tests.fakes.gmail_tokens import IssuerTokens
from tests.monitoring.cached_app import cached_app
from tests.monitoring.promtool import check_metrics
from tests.monitoring.scrape import Samples, parse, value
from tests.redis_server import RedisServer


async def _scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


async def test_requests_are_counted_by_route_template_method_and_status(
    client: httpx.AsyncClient,
) -> None:
    before = await _scrape(client)
    for missing in (987654, 987655, 987656):
        assert (await client.get(f"/api/customers/{missing}")).status_code == 404
    assert (await client.get("/api/customers")).status_code == 200
    assert (await client.get("/no/such/path")).status_code == 404
    after = await _scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "leadflow_http_requests_total"
    route = "/api/customers/{customer_id}"
    assert delta(requests, route=route, method="GET", status="404") == 3
    assert delta(requests, route="/api/customers", method="GET", status="200") == 1
    assert delta(requests, route="<unmatched>", method="GET", status="404") == 1
    count = "leadflow_http_request_duration_seconds_count"
    assert delta(count, route=route, method="GET") == 3
    inf = "leadflow_http_request_duration_seconds_bucket"
    assert delta(inf, route=route, method="GET", le="+Inf") == 3
    # No series per customer id: the template is the only route label.
    assert not [key for key in after if "987654" in str(key)]


async def test_the_request_id_is_echoed_or_made(anon_client: httpx.AsyncClient) -> None:
    given = await anon_client.get("/health/live", headers={"X-Request-ID": "probe-42"})
    assert given.headers["x-request-id"] == "probe-42"
    made = await anon_client.get("/health/live", headers={"X-Request-ID": "bad id; drop"})
    assert made.headers["x-request-id"] != "bad id; drop"
    assert len(made.headers["x-request-id"]) == 32


async def test_sync_and_lead_figures_come_from_the_database(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    mailbox = Mailbox(
        email="info@rendetalje.dk",
        provider=MailProvider.GMAIL,
        last_sync_succeeded_at=EPOCH,
    )
    session.add(mailbox)
    await session.flush()
    rows = [
        (IngestStatus.COMPLETED, 10, 4, 1, 0, 3, 30, -30),
        (IngestStatus.PARTIAL, 5, 2, 0, 1, 1, 12, -20),
        (IngestStatus.FAILED, 0, 0, 0, 0, 6, 6, 10),
        (IngestStatus.FAILED, 0, 0, 0, 0, 0, 1, 20),
        (IngestStatus.RUNNING, 3, 3, 0, 0, 0, 4, 30),
    ]
    for status, seen, new, updated, errors, retries, calls, minutes in rows:
        session.add(
            EmailIngestRun(
                mailbox_id=mailbox.id,
                mode=IngestMode.INCREMENTAL,
                status=status,
                started_at=EPOCH + timedelta(minutes=minutes),
                total_emails=seen,
                new_emails=new,
                updated_emails=updated,
                errors=errors,
                retries=retries,
                api_calls=calls,
            )
        )
    for source in ("leadpoint", "leadpoint", "adhelp"):
        session.add(Lead(source=source))
    await session.commit()

    s = await _scrape(client)
    box = {"mailbox": "info@rendetalje.dk"}
    inc = {**box, "mode": "incremental"}
    assert value(s, "leadflow_sync_runs_total", **inc, status="completed") == 1
    assert value(s, "leadflow_sync_runs_total", **inc, status="partial") == 1
    assert value(s, "leadflow_sync_runs_total", **inc, status="failed") == 2
    assert value(s, "leadflow_sync_runs_in_progress", **box) == 1
    assert value(s, "leadflow_sync_messages_total", **box, kind="seen") == 18
    assert value(s, "leadflow_sync_messages_total", **box, kind="new") == 9
    assert value(s, "leadflow_sync_messages_total", **box, kind="updated") == 1
    assert value(s, "leadflow_sync_message_errors_total", **box) == 1
    assert value(s, "leadflow_sync_retries_total", **box) == 10
    assert value(s, "leadflow_sync_api_calls_total", **box) == 53
    assert value(s, "leadflow_sync_consecutive_failures", **box) == 2
    assert value(s, "leadflow_sync_last_success_timestamp_seconds", **box) == EPOCH.timestamp()
    assert value(s, "leadflow_leads_created_total", source="leadpoint") == 2
    assert value(s, "leadflow_leads_created_total", source="adhelp") == 1
    assert value(s, "leadflow_metrics_database_up") == 1


_TIER_COUNTERS = ("hits", "misses", "sets", "errors", "fallbacks")


def _cache_counts(stats: CacheStats) -> dict[str, float]:
    """The cumulative figures /metrics exports, from a real `Cache.stats()`."""
    counts: dict[str, float] = {}
    for tier, figures in (("memory", stats.memory), ("redis", stats.redis)):
        for name in _TIER_COUNTERS:
            counts[f"leadflow_cache_{name}_total:{tier}"] = getattr(figures, name)
    counts["leadflow_cache_loads_total"] = stats.loads
    counts["leadflow_cache_circuit_opened_total"] = stats.circuit.opened_total
    counts["leadflow_cache_redis_round_trips_total"] = stats.redis.latency.count
    return counts


def _scraped_counts(samples: Samples, keys: Iterable[str]) -> dict[str, float]:
    counts: dict[str, float] = {}
    for key in keys:
        name, _, tier = key.partition(":")
        counts[key] = value(samples, name, **({"tier": tier} if tier else {}))
    return counts


def _growth(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {key: after[key] - before[key] for key in after}


async def test_cache_figures_are_the_real_caches_figures_per_tier(
    settings: Settings, engine: AsyncEngine, redis_server: RedisServer
) -> None:
    async with (
        cached_app(settings, redis_server.url) as (app_a, client_a),
        cached_app(settings, redis_server.url) as (app_b, client_b),
    ):
        caches = (app_a.state.cache, app_b.state.cache)
        # A scrape samples the app it reaches; both apps share this process's counters.
        await _scrape(client_b)
        before = await _scrape(client_a)
        before_stats = [c.stats() for c in caches]
        served = [
            (await client_a.get("/api/leads")).headers["X-Cache"],  # A loads: Redis miss
            (await client_a.get("/api/leads")).headers["X-Cache"],  # A's near copy
            (await client_b.get("/api/leads")).headers["X-Cache"],  # B finds A's value in Redis
            (await client_b.get("/api/leads")).headers["X-Cache"],  # B's near copy
        ]
        await _scrape(client_b)
        after = await _scrape(client_a)
        after_stats = [c.stats() for c in caches]
    assert served == ["miss", "hit", "hit", "hit"]
    expected = {key: 0.0 for key in _cache_counts(before_stats[0])}
    for old, new in zip(before_stats, after_stats, strict=True):
        for key, grown in _growth(_cache_counts(new), _cache_counts(old)).items():
            expected[key] += grown
    scraped = _growth(_scraped_counts(after, expected), _scraped_counts(before, expected))
    assert scraped == expected
    assert expected["leadflow_cache_hits_total:memory"] == 2
    assert expected["leadflow_cache_hits_total:redis"] == 1
    assert expected["leadflow_cache_loads_total"] == 1
    assert expected["leadflow_cache_redis_round_trips_total"] >= 3
    round_trip_seconds = "leadflow_cache_redis_round_trip_seconds_total"
    assert value(after, round_trip_seconds) > value(before, round_trip_seconds)


async def test_the_circuit_state_is_the_real_breakers(
    settings: Settings, engine: AsyncEngine, redis_server: RedisServer
) -> None:
    async with cached_app(settings, redis_server.url) as (app, client):
        cache = app.state.cache
        closed = await _scrape(client)
        redis_server.kill()
        await wait_until(lambda: cache.stats().circuit.state is not CircuitState.CLOSED)
        assert (await client.get("/api/leads")).status_code == 200
        opened = await _scrape(client)
        state = cache.stats().circuit.state
        redis_server.start()
        await wait_until(lambda: cache.stats().circuit.state is CircuitState.CLOSED)
        back = await _scrape(client)
    circuit = "leadflow_cache_circuit_state"
    assert value(closed, circuit, state="closed") == 1
    assert value(closed, circuit, state="open") == 0
    assert value(opened, circuit, state=state.value) == 1
    assert value(opened, circuit, state="closed") == 0
    assert value(back, circuit, state="closed") == 1
    assert value(back, circuit, state="open") == value(back, circuit, state="half_open") == 0
    opened_total = "leadflow_cache_circuit_opened_total"
    assert value(opened, opened_total) - value(closed, opened_total) == 1
    fallbacks = "leadflow_cache_fallbacks_total"
    assert value(opened, fallbacks, tier="memory") + value(opened, fallbacks, tier="redis") > (
        value(closed, fallbacks, tier="memory") + value(closed, fallbacks, tier="redis")
    )
    assert value(back, "leadflow_cache_memory_items") == cache.stats().memory.size


async def test_process_and_pool_figures_are_present(client: httpx.AsyncClient) -> None:
    s = await _scrape(client)
    assert value(s, "process_resident_memory_bytes") > 0
    assert value(s, "process_cpu_seconds_total") > 0
    assert ("leadflow_db_pool_connections_in_use", frozenset()) in s


async def test_the_metrics_token_guards_metrics(
    app: FastAPI, anon_client: httpx.AsyncClient
) -> None:
    app.state.settings = app.state.settings.model_copy(
        update={"metrics_token": SecretStr("scrape-me-123")}
    )
    missing = await anon_client.get("/metrics")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthorized"
    wrong = await anon_client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = await anon_client.get("/metrics", headers={"Authorization": "Bearer scrape-me-123"})
    assert right.status_code == 200


async def test_the_output_passes_promtool_after_traffic(
    settings: Settings, engine: AsyncEngine, session: AsyncSession, redis_server: RedisServer
) -> None:
    mailbox = Mailbox(email="info@rendetalje.dk", provider=MailProvider.GMAIL)
    session.add(mailbox)
    await session.flush()
    session.add(
        EmailIngestRun(mailbox_id=mailbox.id, mode=IngestMode.FULL, status=IngestStatus.FAILED)
    )
    session.add(Lead(source="website"))
    await session.commit()
    record_gmail_counters(GmailStats(api_calls=3, units_used=15, throttled=1))
    async with cached_app(settings, redis_server.url) as (_, client):
        for _ in range(2):  # a miss, then a hit: every cache family has samples
            await client.get("/api/leads")
        created = await client.post("/api/customers", json={"name": "Promtool"})
        assert created.status_code == 201, created.text
        await client.get("/health/ready")
        response = await client.get("/metrics")
    result = check_metrics(response.text)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "leadflow_gmail_quota_units_total" in response.text
    samples = parse(response.text)
    assert value(samples, "leadflow_cache_hits_total", tier="memory") >= 1
    assert value(samples, "leadflow_cache_redis_round_trips_total") >= 1
    assert value(samples, "leadflow_cache_invalidations_total", origin="local") >= 1


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/gmail/v1/users/me/messages", "messages.list"),
        ("/gmail/v1/users/info%40rendetalje.dk/messages/18c2a", "messages.get"),
        ("/gmail/v1/users/me/messages/18c2a/attachments/ANGj", "messages.attachments.get"),
        ("/gmail/v1/users/me/history", "history.list"),
        ("/gmail/v1/users/me/profile", "getProfile"),
        ("/gmail/v1/users/me/threads/abc", "threads.get"),
        ("/batch/gmail/v1", "batch"),
        ("/token", "oauth.token"),
        ("/gmail/v1/users/me/drafts/x/y/z", "other"),
    ],
)
def test_gmail_paths_name_their_api_method(path: str, method: str) -> None:
    assert gmail_method(path) == method


def _own_figures() -> Samples:
    return parse(render(DatabaseFigures(up=False)).decode())


async def test_gmail_calls_are_counted_by_method_and_status(
    mailbox: FakeMailbox, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    mailbox.add_synthetic_messages(3)
    instrument_gmail_http(http)
    gmail = GmailClient(
        base_url=FAKE_GMAIL_BASE,
        user=mailbox.email,
        http=http,
        credentials=IssuerTokens(mailbox.tokens),
        clock=clock,
        wall_clock=clock.wall,
    )
    calls = "leadflow_gmail_api_calls_total"
    before = _own_figures()
    listed = await gmail.list_messages()
    await gmail.get_message(listed["messages"][0]["id"])
    with pytest.raises(GmailNotFound):
        await gmail.get_message("0000000000000bad")
    record_gmail_counters(gmail.stats)
    after = _own_figures()

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta(calls, method="messages.list", status="200") == 1
    assert delta(calls, method="messages.get", status="200") == 1
    assert delta(calls, method="messages.get", status="404") == 1
    assert delta("leadflow_gmail_quota_units_total") == gmail.stats.units_used == 15
