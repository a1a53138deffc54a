"""The write-route table and the middleware that applies it; the redis-server requirement."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from leadflow.cache.invalidation import tags_for_write
from leadflow.cache.policy import ALL_DATA_TAGS
from tests.redis_server import RedisServer


def test_a_write_route_names_the_data_it_changes() -> None:
    assert tags_for_write("PATCH", "/customers/{customer_id}", {"customer_id": "7"}) == {
        "customers",
        "customer:7",
    }
    assert tags_for_write("POST", "/bookings/{booking_id}/cancel", {"booking_id": "3"}) == {
        "bookings",
        "customers",
    }
    assert tags_for_write("PUT", "/customers/{customer_id}", {"customer_id": "7"}) is None
    assert tags_for_write("POST", "/unknown", {}) is None


async def test_a_failed_write_invalidates_nothing(app: FastAPI, client: httpx.AsyncClient) -> None:
    assert (await client.patch("/api/customers/424242", json={"name": "x"})).status_code == 404
    assert (await client.post("/api/customers", json={"email": "not-an-email"})).status_code == 422
    assert app.state.cache.stats().invalidations.local == 0
    assert (await client.post("/api/customers", json={"name": "Ok"})).status_code == 201
    # Once when the answer starts (after the commit), once when the request is over.
    assert app.state.cache.stats().invalidations.local == 2


async def test_a_write_route_missing_from_the_table_invalidates_everything(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    from leadflow.api.routing import make_router

    extra = make_router(prefix="/experimental", tags=["x"])

    @extra.post("/thing")
    async def thing() -> dict[str, bool]:
        return {"ok": True}

    app.include_router(extra, prefix="/api")
    await app.state.cache.set("dashboard:stats", "cached", 60, tags=sorted(ALL_DATA_TAGS))
    await app.state.cache.set("other", "also cached", 60, tags=["leads"])
    assert (await client.post("/api/experimental/thing")).status_code == 200
    assert await app.state.cache.get("dashboard:stats") is None
    assert await app.state.cache.get("other") is None
    assert "has no cache tags" in caplog.text


def test_without_redis_server_the_tests_fail_under_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI requires it"):
        RedisServer(tmp_path)  # type: ignore[arg-type]


def test_every_dashboard_form_names_the_api_write_it_performs(app: FastAPI) -> None:
    from fastapi.routing import iter_route_contexts

    from leadflow.cache.invalidation import PAGE_PREFIX, PAGE_WRITES, WRITE_TAGS

    posts = {
        (method, context.path)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.path, str) and context.path.startswith(PAGE_PREFIX)
        for method in context.methods or ()
        if method not in {"GET", "HEAD", "OPTIONS"}
    }
    assert posts == set(PAGE_WRITES)
    assert all(write is None or write in WRITE_TAGS for write in PAGE_WRITES.values())
