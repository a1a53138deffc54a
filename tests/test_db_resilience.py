"""The API survives a database that is down, goes away mid-request, and comes back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from leadflow.api.app import create_app
from leadflow.db import async_url, install_idle_ping
from leadflow.settings import Settings
from tests.conftest import API_TOKEN
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.postgres_only


@pytest.fixture
async def proxy(database_url: str) -> AsyncIterator[TcpProxy]:
    url = make_url(database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    yield proxy
    await proxy.stop()


@pytest.fixture
async def proxied_app(
    proxy: TcpProxy, database_url: str, settings: Settings, engine: object
) -> AsyncIterator[FastAPI]:
    url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    proxied = settings.model_copy(
        update={"database_url": url.render_as_string(hide_password=False), "db_connect_timeout": 2}
    )
    app = create_app(proxied)
    async with LifespanManager(app):
        yield app


def _client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://leadflow.test",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )


@pytest.fixture
async def proxied_client(proxied_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with _client_of(proxied_app) as client:
        yield client


async def _get(client: httpx.AsyncClient, path: str) -> httpx.Response:
    # A bound, not a benchmark: the request must answer instead of hanging.
    return await asyncio.wait_for(client.get(path), timeout=15)


async def test_it_answers_503_while_the_database_is_down_and_recovers_when_it_returns(
    proxy: TcpProxy, proxied_client: httpx.AsyncClient
) -> None:
    await proxy.stop()
    down = await _get(proxied_client, "/api/customers")
    assert down.status_code == 503
    assert down.json()["error"]["code"] == "service_unavailable"
    assert "Traceback" not in down.text
    await proxy.start()
    up = await _get(proxied_client, "/api/customers")
    assert up.status_code == 200


async def test_it_starts_while_the_database_is_down(
    proxy: TcpProxy, database_url: str, settings: Settings, engine: object
) -> None:
    await proxy.stop()
    url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    app = create_app(settings.model_copy(update={"database_url": url.render_as_string(False)}))
    async with LifespanManager(app), _client_of(app) as client:
        assert (await _get(client, "/api/customers")).status_code == 503
        await proxy.start()
        assert (await _get(client, "/api/customers")).status_code == 200


async def test_a_read_whose_connection_drops_mid_request_is_retried_once(
    proxy: TcpProxy, proxied_app: FastAPI, proxied_client: httpx.AsyncClient
) -> None:
    # A filtered list: the default first page may be served from the cache, without SQL.
    listing = "/api/customers?sort=-name"
    assert (await _get(proxied_client, listing)).status_code == 200
    drops = 0

    def drop_before_the_first_listing(
        _conn: Any, _cursor: Any, statement: str, *_args: Any
    ) -> None:
        nonlocal drops
        sql = statement.lstrip().upper()
        if drops == 0 and sql.startswith("SELECT") and "FROM CUSTOMERS" in sql:
            drops += 1
            proxy.drop_connections()

    sync_engine = proxied_app.state.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", drop_before_the_first_listing)
    try:
        response = await _get(proxied_client, listing)
    finally:
        event.remove(sync_engine, "before_cursor_execute", drop_before_the_first_listing)
    assert drops == 1
    assert response.status_code == 200


async def test_a_write_whose_connection_drops_is_not_retried_but_answers_503(
    proxy: TcpProxy, proxied_app: FastAPI, proxied_client: httpx.AsyncClient
) -> None:
    assert (await _get(proxied_client, "/api/customers")).status_code == 200

    def drop_on_insert(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            proxy.drop_connections()

    sync_engine = proxied_app.state.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", drop_on_insert)
    try:
        response = await asyncio.wait_for(
            proxied_client.post("/api/customers", json={"name": "Ida Holm"}), timeout=15
        )
    finally:
        event.remove(sync_engine, "before_cursor_execute", drop_on_insert)
    assert response.status_code == 503
    listing = await _get(proxied_client, "/api/customers")
    assert listing.json()["total"] == 0


async def test_a_write_whose_connection_drops_at_commit_answers_503_and_stores_nothing(
    proxy: TcpProxy, proxied_app: FastAPI, proxied_client: httpx.AsyncClient
) -> None:
    """The COMMIT never reaches the server: the client must not be told 201."""
    assert (await _get(proxied_client, "/api/customers")).status_code == 200

    def drop_before_commit(_conn: Any) -> None:
        proxy.drop_connections()

    sync_engine = proxied_app.state.engine.sync_engine
    event.listen(sync_engine, "commit", drop_before_commit)
    try:
        response = await asyncio.wait_for(
            proxied_client.post("/api/customers", json={"name": "Ida Holm"}), timeout=15
        )
    finally:
        event.remove(sync_engine, "commit", drop_before_commit)
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "service_unavailable"
    listing = await _get(proxied_client, "/api/customers")
    assert listing.json()["total"] == 0


async def test_a_connection_idle_past_the_threshold_is_pinged_and_replaced_before_use(
    proxy: TcpProxy, database_url: str
) -> None:
    """A connection in steady use is trusted (no ping round trips); one that sat idle longer
    than the threshold is pinged first, and a dead one is replaced before the query runs."""
    now = [0.0]
    url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    engine = create_async_engine(async_url(url.render_as_string(hide_password=False)))
    install_idle_ping(engine, idle_seconds=10, clock=lambda: now[0])
    try:
        async with engine.connect() as conn:  # opened at t=0, back in the pool at t=0
            await conn.execute(text("SELECT 1"))
        proxy.drop_connections()
        now[0] = 5.0  # in steady use: not pinged, so the dead connection fails the query
        with pytest.raises(DBAPIError) as failed:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        assert failed.value.connection_invalidated
        async with engine.connect() as conn:  # a fresh connection, back in the pool at t=5
            await conn.execute(text("SELECT 1"))
        proxy.drop_connections()
        now[0] = 15.1  # idle for 10.1 s: pinged, found dead, replaced
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT 2"))).scalar_one() == 2
    finally:
        await engine.dispose()


async def test_a_request_that_finds_no_free_connection_in_time_answers_503(
    database_url: str, settings: Settings, engine: object
) -> None:
    busy = settings.model_copy(update={"db_pool_size": 1, "db_connect_timeout": 0.3})
    app = create_app(busy)
    async with LifespanManager(app), _client_of(app) as client:
        async with app.state.engine.connect() as held:  # the pool's only connection
            await held.execute(text("SELECT 1"))
            response = await _get(client, "/api/customers?sort=-name")
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert response.json()["error"]["code"] == "service_unavailable"
        assert (await _get(client, "/api/customers?sort=-name")).status_code == 200
