"""Helpers for dashboard tests: log in through the real form, read the CSRF token of a page."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from leadflow.dashboard.web.deps import LOGIN_PATH, page_paths
from leadflow.dashboard.web.session import COOKIE_NAME
from tests.conftest import API_TOKEN

_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "the page has no CSRF field"
    return found.group(1)


async def log_in(client: httpx.AsyncClient, token: str = API_TOKEN) -> httpx.Response:
    """Log in through the login form; return the answer to the POST."""
    form = await client.get(LOGIN_PATH)
    return await client.post(
        LOGIN_PATH, data={"csrf_token": csrf_of(form.text), "token": token, "next": "/dashboard"}
    )


async def logged_in_csrf(client: httpx.AsyncClient) -> str:
    """Log in and return the CSRF token of the logged-in session."""
    answer = await log_in(client)
    assert answer.status_code == 303
    assert COOKIE_NAME in client.cookies
    page = await client.get("/dashboard/system")
    return csrf_of(page.text)


def page_routes(app: FastAPI, method: str) -> list[str]:
    """Every dashboard route for `method` (from the route table), with path ids filled with 1."""
    return [re.sub(r"\{[^}]+\}", "1", path) for path in page_paths(app, method)]
