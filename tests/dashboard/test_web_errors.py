"""Errors on dashboard paths are HTML pages; the API keeps its JSON error body."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from leadflow.api.app import create_app
from leadflow.settings import Settings
from tests.dashboard.web import csrf_of, log_in, page_routes


async def test_an_unknown_page_answers_the_html_404_page(browser: httpx.AsyncClient) -> None:
    answer = await browser.get("/dashboard/no-such-page")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "Siden findes ikke" in answer.text
    assert 'href="/dashboard"' in answer.text


async def test_an_unknown_page_is_a_404_before_the_login_too(app: FastAPI) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
    ) as anonymous:
        answer = await anonymous.get("/dashboard/no-such-page")
    assert answer.status_code == 404
    assert "Log ud" not in answer.text  # no menu for a visitor who is not logged in


async def test_a_wrong_method_answers_an_html_page(browser: httpx.AsyncClient) -> None:
    answer = await browser.delete("/dashboard")
    assert answer.status_code == 405
    assert answer.headers["content-type"].startswith("text/html")


async def test_the_api_keeps_its_json_errors(client: httpx.AsyncClient) -> None:
    answer = await client.get("/api/no-such-thing")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


@pytest.fixture
async def down(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app with its database unreachable, and a client logged in (no database needed)."""
    unreachable = settings.model_copy(
        update={
            "database_url": "postgresql://postgres@127.0.0.1:9/nowhere",
            "db_connect_timeout": 1,
        }
    )
    app = create_app(unreachable)
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
        ) as client,
    ):
        await log_in(client)
        yield app, client


def _says_the_database_is_down(answer: httpx.Response, what: str) -> None:
    assert answer.status_code == 503, (what, answer.status_code)
    assert answer.headers["content-type"].startswith("text/html")
    assert "Databasen er ikke tilgængelig lige nu" in answer.text, what
    assert "Traceback" not in answer.text


async def test_with_the_database_down_a_page_says_so(
    down: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = down
    for path in ("/dashboard", "/dashboard/leads", "/dashboard/system"):
        _says_the_database_is_down(await client.get(path), path)


async def test_with_the_database_down_every_form_post_says_so(
    down: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = down
    csrf = csrf_of((await client.get("/dashboard")).text)  # the error page keeps the header
    posts = [p for p in page_routes(app, "POST") if not p.endswith(("/login", "/logout"))]
    assert len(posts) >= 8
    for path in posts:
        answer = await client.post(path, data={"csrf_token": csrf, "status": "won"})
        _says_the_database_is_down(answer, path)
