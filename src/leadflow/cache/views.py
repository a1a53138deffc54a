"""What the API caches, in one place: each cached view's key, tags, TTL family and loader.

- `dashboard:stats` — `GET /api/dashboard/stats`; family `dashboard`; tags leads, customers,
  bookings, threads, mailboxes.
- `list:<name>` — the first page (offset 0, limit 50, no filters, default sort) of
  `GET /api/customers`, `/api/leads`, `/api/threads` and `/api/bookings`; family `lists`; tagged
  with the table listed (customers also with leads/bookings/threads: their counters move).
- `customer360:<id>` — `GET /api/customers/{id}/overview`; family `customer360`; tags
  `customer:<id>`, leads, threads, bookings.
- `matching:stats` — `GET /api/matching/stats` (an aggregate over every thread); family
  `dashboard`; tag threads.

A loader renders the response body (JSON bytes) in its own read-only session, so a hit costs no
database connection and no model validation. A list page is cached without its `next` link
(that depends on the URL the client used) and gets it when served. Responses carry
`X-Cache: hit` or `X-Cache: miss`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow.api.page_json import JsonFields, page_body, render_page
from leadflow.api.pagination import (
    DEFAULT_LIMIT,
    Page,
    PageParams,
    Total,
    next_link,
)
from leadflow.bookings import service as booking_service
from leadflow.bookings.schemas import BOOKING_FIELDS
from leadflow.cache.hybrid import Cache, Fetched
from leadflow.cache.policy import (
    ALL_DATA_TAGS,
    Family,
    Tag,
    customer_tag,
    schema_version,
    ttl,
)
from leadflow.customers import service as customer_service
from leadflow.customers.overview import CustomerOverview, customer_overview
from leadflow.customers.schemas import CUSTOMER_FIELDS, CustomerSort
from leadflow.dashboard.schemas import DashboardStats
from leadflow.dashboard.service import compute_stats
from leadflow.leads import service as lead_service
from leadflow.leads.schemas import LEAD_FIELDS
from leadflow.mail import service as thread_service
from leadflow.mail.schemas import THREAD_FIELDS
from leadflow.matching.schemas import MatchingStats
from leadflow.matching.service import matching_stats as matching_stats_of
from leadflow.models import utcnow
from leadflow.settings import Settings

CACHE_HEADER = "X-Cache"
CACHED_RESPONSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            CACHE_HEADER: {
                "description": "`hit` when served from the cache, `miss` when computed now.",
                "schema": {"type": "string", "enum": ["hit", "miss"]},
            }
        }
    }
}


@dataclass(frozen=True, slots=True)
class ViewContext:
    """What a loader needs: a session factory for its own read, and the settings."""

    sessionmaker: async_sessionmaker[AsyncSession]
    settings: Settings


Loader = Callable[[ViewContext], Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class CachedView:
    key: str
    family: Family
    tags: frozenset[str]
    schema: str
    load: Loader
    # Turns the cached bytes into the body for one request (the list pages' `next` link).
    finish: Callable[[bytes, Request], bytes] | None = None


async def fetch_view(cache: Cache, view: CachedView, ctx: ViewContext) -> Fetched[bytes]:
    """The view's body from the cache, loaded on a miss (the endpoints and warming share it)."""

    async def load() -> bytes:
        return await view.load(ctx)

    return await cache.fetch(
        view.key, load, ttl(ctx.settings, view.family), tags=view.tags, schema=view.schema
    )


async def read_view(request: Request, cache: Cache, view: CachedView) -> tuple[bytes, bool]:
    """The view's body and whether the cache had it (the API and the dashboard pages read it)."""
    app = request.app
    ctx = ViewContext(app.state.sessionmaker, app.state.settings)
    if cache.enabled:
        fetched = await fetch_view(cache, view, ctx)
        return fetched.value, fetched.hit
    return await view.load(ctx), False


async def serve_view(request: Request, cache: Cache, view: CachedView) -> Response:
    """The response of a cached endpoint, with `X-Cache` saying where it came from."""
    body, hit = await read_view(request, cache, view)
    if view.finish is not None:
        body = view.finish(body, request)
    return Response(
        content=body,
        media_type="application/json",
        headers={CACHE_HEADER: "hit" if hit else "miss"},
    )


# -- the dashboard ------------------------------------------------------------------------


async def _load_dashboard(ctx: ViewContext) -> bytes:
    async with ctx.sessionmaker() as session:
        stats = await compute_stats(
            session,
            now=utcnow(),
            timezone=ctx.settings.timezone,
            response_target_minutes=ctx.settings.response_target_minutes,
        )
    return stats.model_dump_json().encode()


async def read_dashboard_stats(request: Request, cache: Cache) -> DashboardStats:
    """The dashboard stats as the API serves them (cached), parsed for the dashboard's pages."""
    body, _hit = await read_view(request, cache, dashboard_stats())
    return DashboardStats.model_validate_json(body)


@functools.cache
def dashboard_stats() -> CachedView:
    return CachedView(
        key="dashboard:stats",
        family=Family.DASHBOARD,
        tags=ALL_DATA_TAGS,
        schema=schema_version(DashboardStats),
        load=_load_dashboard,
    )


async def _load_matching(ctx: ViewContext) -> bytes:
    async with ctx.sessionmaker() as session:
        stats = await matching_stats_of(session)
    return stats.model_dump_json().encode()


@functools.cache
def matching_stats() -> CachedView:
    """Totals over every thread: only threads' matching moves them."""
    return CachedView(
        key="matching:stats",
        family=Family.DASHBOARD,
        tags=frozenset({Tag.THREADS}),
        schema=schema_version(MatchingStats),
        load=_load_matching,
    )


# -- first pages of the lists -------------------------------------------------------------

_FIRST_PAGE = PageParams(limit=DEFAULT_LIMIT, offset=0)
_NEXT_NULL = b'"next":null}'


def _page_loader(query: Callable[[], Select[Any]], fields: JsonFields) -> Loader:
    async def load(ctx: ViewContext) -> bytes:
        engine = ctx.sessionmaker.kw["bind"]
        rendered = await render_page(engine, query(), fields, _FIRST_PAGE)
        body = page_body(rendered, _FIRST_PAGE, None)
        total = rendered.total
        # The total travels in front of the body: `next` is decided when the page is served.
        head = b"%d %d %d" % (total.value, total.exact, total.has_more)
        return b"%s\n%s" % (head, body)

    return load


def _split_page(value: bytes) -> tuple[bytes, Total]:
    head, _, body = value.partition(b"\n")
    count, exact, more = (int(part) for part in head.split())
    return body, Total(count, exact=bool(exact), has_more=bool(more))


def _finish_page(value: bytes, request: Request) -> bytes:
    body, total = _split_page(value)
    link = next_link(request, _FIRST_PAGE, total)
    if link is None:
        return body
    return body[: -len(_NEXT_NULL)] + b'"next":' + json.dumps(link).encode() + b"}"


_LISTS: dict[str, tuple[Callable[[], Select[Any]], JsonFields, frozenset[str]]] = {
    "customers": (
        lambda: customer_service.list_query(search=None, sort=CustomerSort.NAME),
        CUSTOMER_FIELDS,
        # A customer's counters (total_leads, total_bookings, last_contact_at) move with these.
        frozenset({Tag.CUSTOMERS, Tag.LEADS, Tag.BOOKINGS, Tag.THREADS}),
    ),
    "leads": (lambda: lead_service.list_query(), LEAD_FIELDS, frozenset({Tag.LEADS})),
    "threads": (lambda: thread_service.list_query(), THREAD_FIELDS, frozenset({Tag.THREADS})),
    "bookings": (lambda: booking_service.list_query(), BOOKING_FIELDS, frozenset({Tag.BOOKINGS})),
}
LIST_NAMES = tuple(_LISTS)


@functools.cache
def first_page(name: str) -> CachedView:
    """The first page of list `name` (customers, leads, threads, bookings) with default filters."""
    query, fields, tags = _LISTS[name]
    return CachedView(
        key=f"list:{name}",
        family=Family.LISTS,
        tags=tags,
        schema=schema_version(Page[fields.model]),  # type: ignore[name-defined]
        load=_page_loader(query, fields),
        finish=_finish_page,
    )


async def read_first_page(request: Request, cache: Cache, name: str) -> tuple[bytes, Total]:
    """The cached first page of list `name` (its JSON, `next` left null) and its total."""
    value, _hit = await read_view(request, cache, first_page(name))
    return _split_page(value)


# -- the customer 360 view ----------------------------------------------------------------


def customer_360(customer_id: int) -> CachedView:
    async def load(ctx: ViewContext) -> bytes:
        async with ctx.sessionmaker() as session:
            view = await customer_overview(session, customer_id=customer_id, now=utcnow())
        return view.model_dump_json().encode()

    return CachedView(
        key=f"customer360:{customer_id}",
        family=Family.CUSTOMER360,
        tags=frozenset({customer_tag(customer_id), Tag.LEADS, Tag.THREADS, Tag.BOOKINGS}),
        schema=schema_version(CustomerOverview),
        load=load,
    )


def warm_views() -> list[CachedView]:
    """What warming loads: the dashboard stats and the first page of every list."""
    return [dashboard_stats(), *(first_page(name) for name in LIST_NAMES)]
