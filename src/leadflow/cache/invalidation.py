"""Invalidation of what a write changed: API writes (one table, one middleware) and syncs.

`WRITE_TAGS` maps every write route of the API to the data tags it changes (`policy.py`); a
test fails when a write route is missing from it. `InvalidateOnWrite` applies it to every
successful write (status < 400):

1. when the response starts — after the request's commit (the session commits before the
   answer is sent, issue #7), before the client can read the answer: the client's next read
   sees its write (read-your-writes), in this process and, through Redis, in every other;
2. once more when the request has finished, after any dependency teardown: should a commit
   ever run after the response started, a read racing it cannot leave the old value cached.

A write route missing from the table invalidates every data tag (and logs it), so a new route
is slow, never stale. The dashboard's form POSTs go through the same table: `PAGE_WRITES`
names the API write each one performs. Syncs invalidate through `CacheSyncObserver` after each
committed batch that stored or changed mail, and warm the cache after a run that changed data.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadflow.cache.factory import build_cache
from leadflow.cache.hybrid import Cache
from leadflow.cache.policy import ALL_DATA_TAGS, Tag, customer_tag
from leadflow.cache.redis_tier import Invalidation
from leadflow.cache.views import ViewContext
from leadflow.cache.warming import Warmer
from leadflow.settings import Settings

log = logging.getLogger(__name__)

_C, _L, _T, _B, _M = Tag.CUSTOMERS, Tag.LEADS, Tag.THREADS, Tag.BOOKINGS, Tag.MAILBOXES
_ONE_CUSTOMER = "customer:{customer_id}"

# (method, route template as its router declares it; the app serves them under /api) → tags;
# `customer:{customer_id}` is filled from the route's path parameters.
WRITE_TAGS: dict[tuple[str, str], tuple[str, ...]] = {
    ("POST", "/customers"): (_C,),
    ("PATCH", "/customers/{customer_id}"): (_C, _ONE_CUSTOMER),
    # A delete unlinks the customer's leads and threads and (with force) deletes its bookings.
    ("DELETE", "/customers/{customer_id}"): (_C, _ONE_CUSTOMER, _L, _T, _B),
    # Leads, bookings and threads move customers' counters (customers list, 360 views).
    ("POST", "/leads"): (_L, _C),
    # Moving a lead to another customer moves the bookings made for it (issue #7).
    ("PATCH", "/leads/{lead_id}"): (_L, _C, _B),
    ("POST", "/bookings"): (_B, _C),
    ("PATCH", "/bookings/{booking_id}"): (_B, _C),
    ("POST", "/bookings/{booking_id}/cancel"): (_B, _C),
    # A thread linked to a customer answers (or no longer) its leads: first_response_at moves.
    ("POST", "/threads/{thread_id}/link"): (_T, _C, _L),
    ("DELETE", "/threads/{thread_id}/link"): (_T, _C, _L),
    ("POST", "/threads/rematch"): (_T, _C, _L),
    # Starting a sync changes the mailbox's sync status; its data comes with the sync's batches.
    ("POST", "/sync"): (_M,),
}

# The dashboard's form POSTs (issue #13; full route templates): each names the API write it
# performs through the same service, whose tags then apply; None for a form that changes no data
# (log in, log out). A dashboard POST missing here invalidates every data tag, like an API one.
PAGE_WRITES: dict[tuple[str, str], tuple[str, str] | None] = {
    ("POST", "/dashboard/login"): None,
    ("POST", "/dashboard/logout"): None,
    ("POST", "/dashboard/leads/{lead_id}/status"): ("PATCH", "/leads/{lead_id}"),
    ("POST", "/dashboard/customers/{customer_id}/edit"): ("PATCH", "/customers/{customer_id}"),
    ("POST", "/dashboard/threads/{thread_id}/link"): ("POST", "/threads/{thread_id}/link"),
    ("POST", "/dashboard/threads/{thread_id}/unlink"): ("DELETE", "/threads/{thread_id}/link"),
    ("POST", "/dashboard/bookings/new"): ("POST", "/bookings"),
    ("POST", "/dashboard/bookings/{booking_id}/edit"): ("PATCH", "/bookings/{booking_id}"),
    ("POST", "/dashboard/bookings/{booking_id}/status"): ("PATCH", "/bookings/{booking_id}"),
    ("POST", "/dashboard/bookings/{booking_id}/cancel"): ("POST", "/bookings/{booking_id}/cancel"),
}
PAGE_PREFIX = "/dashboard/"

SYNC_BATCH_TAGS = frozenset({_T, _L, _C, _M})
# What `leadflow match` and `leadflow leads rescan` change (links move first_response_at).
MATCH_TAGS = frozenset({_T, _C, _L})
RESCAN_TAGS = frozenset({_L, _T, _C})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
API_PREFIX = "/api"


def tags_for_write(
    method: str, route_path: str, path_params: Mapping[str, Any]
) -> frozenset[str] | None:
    """The tags a successful write changes; None for a route the table does not know."""
    template = WRITE_TAGS.get((method, route_path))
    if template is None:
        return None
    tags = set()
    for tag in template:
        if tag == _ONE_CUSTOMER:
            tags.add(customer_tag(path_params["customer_id"]))
        else:
            tags.add(str(tag))
    return frozenset(tags)


class InvalidateOnWrite:
    """ASGI middleware: invalidate the cache for each successful write under /api."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        succeeded = False

        async def send_then_invalidate(message: Message) -> None:
            nonlocal succeeded
            if message["type"] == "http.response.start" and message["status"] < 400:
                succeeded = True
                await self._invalidate(scope)
            await send(message)

        await self.app(scope, receive, send_then_invalidate)
        if succeeded:
            await self._invalidate(scope)

    async def _invalidate(self, scope: Scope) -> None:
        path = scope["path"]
        if not path.startswith((API_PREFIX + "/", PAGE_PREFIX)):
            return
        template = getattr(scope.get("route"), "path", None)
        if not isinstance(template, str):
            return
        method = scope["method"]
        if path.startswith(PAGE_PREFIX) and (method, template) in PAGE_WRITES:
            performs = PAGE_WRITES[(method, template)]
            if performs is None:
                return
            method, template = performs[0], API_PREFIX + performs[1]
        tags = tags_for_write(
            method, template.removeprefix(API_PREFIX), scope.get("path_params", {})
        )
        if tags is None:
            log.warning("write route %s %s has no cache tags: invalidating all", method, template)
            tags = ALL_DATA_TAGS
        cache: Cache = scope["app"].state.cache
        await cache.invalidate(Invalidation(tags=tags))


class CacheSyncObserver:
    """What a sync tells the cache: a batch changed data; a run finished."""

    def __init__(self, cache: Cache, warmer: Warmer | None) -> None:
        self._cache = cache
        self._warmer = warmer

    @property
    def cache(self) -> Cache:
        return self._cache

    async def data_changed(self) -> None:
        await self._cache.invalidate(Invalidation(tags=SYNC_BATCH_TAGS))

    async def run_finished(self, *, changed: bool) -> None:
        # The dashboard shows each mailbox's last run, whatever it did; a run that stored mail
        # also ran the processors' finishing step (matching) after its last batch.
        tags = SYNC_BATCH_TAGS if changed else frozenset({_M})
        await self._cache.invalidate(Invalidation(tags=tags))
        if changed and self._warmer is not None:
            self._warmer.schedule()


@asynccontextmanager
async def cli_sync_observer(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], *, role: str
) -> AsyncIterator[CacheSyncObserver | None]:
    """The observer for a sync run outside `serve` (`leadflow sync`, `leadflow worker`).

    It invalidates through Redis, where the serving processes hear it, and warms Redis after a
    run that changed data (waiting for that before it returns). None without Redis: no other
    process's memory can be reached, and their entries expire by TTL.
    """
    if settings.redis_url is None:
        yield None
        return
    cache = build_cache(settings, role=role)
    await cache.start()
    warmer = None
    if settings.cache_enabled and settings.cache_warm:
        warmer = Warmer(cache, ViewContext(sessionmaker, settings))
    try:
        yield CacheSyncObserver(cache, warmer)
    finally:
        if warmer is not None:
            await warmer.wait()
        await cache.close()


async def invalidate_from_cli(settings: Settings, tags: frozenset[str], *, role: str) -> None:
    """After a CLI job changed data (`leadflow match`, `leads rescan`): invalidate via Redis."""
    if settings.redis_url is None:
        return
    cache = build_cache(settings, role=role)
    try:
        await cache.invalidate(Invalidation(tags=tags))
    finally:
        await cache.close()
