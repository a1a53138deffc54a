"""Cached endpoints: X-Cache, the same bodies as uncached, read-your-writes after every write."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from leadflow.api.app import create_app
from leadflow.cache.invalidation import WRITE_TAGS
from leadflow.models import utcnow
from leadflow.settings import Settings
from tests.conftest import API_TOKEN
from tests.factories_bookings import (
    make_booking,
    make_customer,
    make_lead,
    make_mailbox,
    make_thread,
)
from tests.query_plans import capture

LISTS = ["/api/customers", "/api/leads", "/api/threads", "/api/bookings"]


@pytest.fixture
async def uncached_client(
    settings: Settings, engine: AsyncEngine
) -> AsyncIterator[httpx.AsyncClient]:
    """The same API on the same database with the cache off: the oracle for cached bodies."""
    app = create_app(settings.model_copy(update={"cache_enabled": False}))
    async with LifespanManager(app), _client(app) as client:
        yield client


def _client(app: FastAPI, **kwargs: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=kwargs.pop("base_url", "http://leadflow.test"),
        headers={"Authorization": f"Bearer {API_TOKEN}"},
        **kwargs,
    )


async def _world(session: AsyncSession) -> dict[str, int]:
    """Two customers; A has a lead, a booking made for it and a thread; an unlinked thread
    mentions B."""
    now = utcnow()
    a = await make_customer(session, name="Anna", email="anna@example.test")
    b = await make_customer(session, name="Bo", email="bo@example.test")
    mailbox = await make_mailbox(session)
    lead = await make_lead(session, customer_id=a.id, received_at=now - timedelta(hours=1))
    booking = await make_booking(
        session,
        customer=a,
        start=now + timedelta(days=2),
        end=now + timedelta(days=2, hours=3),
        lead_id=lead.id,
    )
    linked = await make_thread(
        session,
        mailbox=mailbox,
        customer_id=a.id,
        is_matched=True,
        matched_by="manual",
        last_message_at=now,
    )
    unlinked = await make_thread(
        session, mailbox=mailbox, participants=["bo@example.test"], last_message_at=now
    )
    await session.commit()
    return {
        "a": a.id,
        "b": b.id,
        "lead": lead.id,
        "booking": booking.id,
        "linked": linked.id,
        "unlinked": unlinked.id,
    }


def _cached_urls(ids: dict[str, int]) -> list[str]:
    return [
        "/api/dashboard/stats",
        "/api/matching/stats",
        *LISTS,
        f"/api/customers/{ids['a']}/overview",
        f"/api/customers/{ids['b']}/overview",
    ]


async def _read(client: httpx.AsyncClient, url: str) -> tuple[int, Any]:
    response = await client.get(url)
    body = response.json()
    if isinstance(body, dict):
        body.pop("generated_at", None)
    return response.status_code, body


def _future(days: float) -> str:
    return (utcnow() + timedelta(days=days)).isoformat()


# (method, route template, concrete URL from the world's ids, JSON body)
WRITES: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("POST", "/api/customers", "/api/customers", {"name": "Carl"}),
    ("PATCH", "/api/customers/{customer_id}", "/api/customers/{a}", {"name": "Anna B"}),
    ("DELETE", "/api/customers/{customer_id}", "/api/customers/{b}?force=true", None),
    ("POST", "/api/leads", "/api/leads", {"name": "Dan", "customer_id": "{a}"}),
    ("PATCH", "/api/leads/{lead_id}", "/api/leads/{lead}", {"status": "contacted"}),
    # The lead's booking moves with it: the bookings list must show the new customer.
    ("PATCH", "/api/leads/{lead_id}", "/api/leads/{lead}", {"customer_id": "{b}"}),
    (
        "POST",
        "/api/bookings",
        "/api/bookings",
        {"customer_id": "{a}", "start_time": "+5", "end_time": "+5.1"},
    ),
    ("PATCH", "/api/bookings/{booking_id}", "/api/bookings/{booking}", {"notes": "gate 1234"}),
    ("POST", "/api/bookings/{booking_id}/cancel", "/api/bookings/{booking}/cancel", None),
    (
        "POST",
        "/api/threads/{thread_id}/link",
        "/api/threads/{unlinked}/link",
        {"customer_id": "{a}"},
    ),
    ("DELETE", "/api/threads/{thread_id}/link", "/api/threads/{linked}/link", None),
    ("POST", "/api/threads/rematch", "/api/threads/rematch", {"all": True}),
]


def _fill(value: Any, ids: dict[str, int]) -> Any:
    if isinstance(value, dict):
        return {key: _fill(item, ids) for key, item in value.items()}
    if isinstance(value, str) and value.startswith("+"):
        return _future(float(value[1:]))
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return ids[value[1:-1]]
    if isinstance(value, str):
        return value.format(**ids)
    return value


@pytest.mark.parametrize(
    ("method", "template", "url", "body"), WRITES, ids=[f"{w[0]} {w[2]} {w[3]}" for w in WRITES]
)
async def test_after_a_write_every_cached_endpoint_reads_as_without_the_cache(
    client: httpx.AsyncClient,
    uncached_client: httpx.AsyncClient,
    session: AsyncSession,
    method: str,
    template: str,
    url: str,
    body: dict[str, Any] | None,
) -> None:
    ids = await _world(session)
    urls = _cached_urls(ids)
    before = {}
    for cached_url in urls:
        before[cached_url] = await _read(client, cached_url)
        response = await client.get(cached_url)
        assert response.headers["X-Cache"] == "hit", cached_url

    response = await client.request(method, _fill(url, ids), json=_fill(body, ids))
    assert response.status_code < 300, response.text

    changed = 0
    for cached_url in urls:
        after = await _read(client, cached_url)
        assert after == await _read(uncached_client, cached_url), cached_url
        changed += after != before[cached_url]
    assert changed > 0, "the write changed nothing a cached endpoint shows"


def test_every_write_route_of_the_api_has_its_cache_tags(app: FastAPI) -> None:
    writes = {
        (method, context.original_route.path.removeprefix("/api"))
        for context in iter_route_contexts(app.routes)
        if (context.path or "").startswith("/api/")
        for method in context.methods or ()
        if method not in {"GET", "HEAD", "OPTIONS"}
    }
    assert len(writes) >= 12
    assert writes == set(WRITE_TAGS)
    tested = {(m, t.removeprefix("/api")) for m, t, _, _ in WRITES}  # at least once each
    assert tested | {("POST", "/sync")} == set(WRITE_TAGS)


async def test_a_cached_endpoint_says_miss_then_hit_with_the_same_body(
    client: httpx.AsyncClient, uncached_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    ids = await _world(session)
    for url in _cached_urls(ids):
        first = await client.get(url)
        second = await client.get(url)
        assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("miss", "hit"), url
        assert first.headers["content-type"] == "application/json"
        assert first.json() == second.json()
        uncached = await uncached_client.get(url)
        assert uncached.headers["X-Cache"] == "miss"
        assert (await _read(client, url)) == (await _read(uncached_client, url))


async def test_filtered_and_later_pages_are_not_cached(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await _world(session)
    for url in [
        "/api/customers?q=anna",
        "/api/customers?sort=-name",
        "/api/leads?status=new",
        "/api/threads?matched=false",
        "/api/bookings?team=default",
        "/api/customers?offset=1",
        "/api/leads?limit=10",
    ]:
        response = await client.get(url)
        assert response.status_code == 200, url
        assert "X-Cache" not in response.headers, url
    explicit_defaults = await client.get("/api/customers?limit=50&offset=0&sort=name")
    assert explicit_defaults.headers["X-Cache"] == "miss"
    assert (await client.get("/api/customers")).headers["X-Cache"] == "hit"


async def test_a_cached_first_page_links_to_the_next_page_whatever_the_host(
    app: FastAPI, session: AsyncSession
) -> None:
    for n in range(51):
        await make_customer(session, name=f"K{n:02d}")
    await session.commit()
    async with _client(app, base_url="http://one.example") as one:
        first = (await one.get("/api/customers")).json()
        assert first["next"] == "/api/customers?offset=50&limit=50"
        assert (first["total"], len(first["items"])) == (51, 50)
        second = (await one.get(first["next"])).json()
        assert [c["name"] for c in second["items"]] == ["K50"]
        assert second["next"] is None
    async with _client(app, base_url="https://two.example:8443") as two:
        response = await two.get("/api/customers")
        assert response.headers["X-Cache"] == "hit"
        assert response.json()["next"] == "/api/customers?offset=50&limit=50"
    async with _client(app) as plain:
        leads = (await plain.get("/api/leads")).json()
        assert leads == {
            "items": [],
            "total": 0,
            "total_exact": True,
            "limit": 50,
            "offset": 0,
            "next": None,
        }


async def test_the_customer_overview_shows_the_customer_360(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    ids = await _world(session)
    customer = await session.get_one(__import__("leadflow.models").models.Customer, ids["a"])
    now = utcnow()
    await make_booking(
        session,
        customer=customer,
        start=now - timedelta(days=3),
        end=now - timedelta(days=3, hours=-2),
    )
    await session.commit()
    body = (await client.get(f"/api/customers/{ids['a']}/overview")).json()
    assert body["customer"]["id"] == ids["a"]
    assert [t["id"] for t in body["threads"]["items"]] == [ids["linked"]]
    assert [lead["id"] for lead in body["leads"]["items"]] == [ids["lead"]]
    assert [b["id"] for b in body["upcoming_bookings"]["items"]] == [ids["booking"]]
    assert body["recent_bookings"]["total"] == 1
    assert body["recent_bookings"]["items"][0]["id"] != ids["booking"]


async def test_an_unknown_customer_overview_is_404_and_not_cached(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    missing = await client.get("/api/customers/999/overview")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    await make_customer(session, id=999, name="Late")
    await session.commit()
    found = await client.get("/api/customers/999/overview")
    assert found.status_code == 200
    assert found.json()["customer"]["name"] == "Late"


async def test_cache_stats_need_the_token_and_count_what_happened(
    client: httpx.AsyncClient, anon_client: httpx.AsyncClient
) -> None:
    assert (await anon_client.get("/api/cache/stats")).status_code == 401
    await client.get("/api/dashboard/stats")
    await client.get("/api/dashboard/stats")
    stats = (await client.get("/api/cache/stats")).json()
    assert stats["memory"]["hits"] >= 1
    assert stats["memory"]["size"] >= 1
    assert stats["loads"] >= 1
    assert stats["redis"]["configured"] is False
    assert stats["circuit"]["state"] == "closed"
    assert set(stats) >= {"pid", "memory", "redis", "circuit", "invalidations", "enabled"}


async def test_warming_loads_exactly_what_the_endpoints_then_read(
    settings: Settings, engine: AsyncEngine, session: AsyncSession
) -> None:
    await _world(session)
    app = create_app(settings.model_copy(update={"cache_warm": True}))
    async with LifespanManager(app), _client(app) as client:
        await app.state.cache_warmer.wait()
        assert app.state.cache.stats().loads == 5
        for url in ["/api/dashboard/stats", *LISTS]:
            response = await client.get(url)
            assert response.headers["X-Cache"] == "hit", url
        assert app.state.cache.stats().loads == 5


async def test_with_the_cache_off_every_response_is_computed(
    uncached_client: httpx.AsyncClient,
) -> None:
    for _ in range(2):
        response = await uncached_client.get("/api/dashboard/stats")
        assert response.headers["X-Cache"] == "miss"
    stats = (await uncached_client.get("/api/cache/stats")).json()
    assert stats["enabled"] is False
    assert stats["loads"] == 0


# The query parameters each cached list knows; the route serves its cached first page only when
# all of them are at their defaults. A new filter must be added to that check and here.
LIST_PARAMETERS = {
    "/api/customers": {"limit", "offset", "q", "sort"},
    "/api/leads": {
        "limit",
        "offset",
        "status",
        "source",
        "received_from",
        "received_to",
        "needs_review",
        "awaiting_reply",
    },
    "/api/threads": {"limit", "offset", "matched", "customer_id"},
    "/api/bookings": {"limit", "offset", "from", "to", "customer_id", "status", "team"},
}


def test_the_cached_lists_have_no_filter_their_default_check_misses(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    for path, expected in LIST_PARAMETERS.items():
        names = {p["name"] for p in paths[path]["get"].get("parameters", []) if p["in"] == "query"}
        assert names == expected, path


async def test_the_overview_of_a_busy_customer_counts_each_section_in_its_own_statement(
    app: FastAPI, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    mailbox = await make_mailbox(session)
    now = utcnow()
    for n in range(12):
        await make_thread(
            session, mailbox=mailbox, customer_id=customer.id, last_message_at=now - timedelta(n)
        )
    for n in range(11):
        await make_lead(session, customer_id=customer.id, received_at=now - timedelta(n))
    for n in range(13):  # one a day, two hours each: 7 ahead, 6 behind
        start = now + timedelta(days=n - 6, hours=1)
        await make_booking(session, customer=customer, start=start, end=start + timedelta(hours=2))
    await session.commit()
    with capture(app.state.engine) as captured:
        body = (await client.get(f"/api/customers/{customer.id}/overview")).json()
    sections = ("threads", "leads", "upcoming_bookings", "recent_bookings")
    assert [body[s]["total"] for s in sections] == [12, 11, 7, 6]
    assert [len(body[s]["items"]) for s in sections] == [10, 10, 7, 6]
    # The customer, then one statement per section: no separate count or estimate.
    assert len(captured.selects) == 5, [sql[:80] for sql, _ in captured.selects]
