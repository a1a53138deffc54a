"""Errors on dashboard paths are HTML pages; the API keeps its JSON error body."""

from __future__ import annotations

import httpx
from fastapi import FastAPI


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
