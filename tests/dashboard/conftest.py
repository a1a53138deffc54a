"""Clients for dashboard tests: `visitor` (no session, no API token) and `browser` (logged in)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.dashboard.web import log_in


@pytest.fixture
async def visitor(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client without the API token: only the session cookie can let it in."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000"
    ) as client:
        yield client


@pytest.fixture
async def browser(visitor: httpx.AsyncClient) -> httpx.AsyncClient:
    """The same client, logged in through the login form."""
    answer = await log_in(visitor)
    assert answer.status_code == 303
    return visitor
