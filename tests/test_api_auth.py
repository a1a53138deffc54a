"""Every /api route refuses a request without the bearer token, or with a wrong one."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from leadflow.api.app import create_app
from leadflow.settings import Settings


def _api_operations() -> list[tuple[str, str]]:
    spec = create_app(Settings(_env_file=None)).openapi()  # type: ignore[call-arg]
    ops = []
    for path, methods in spec["paths"].items():
        if path.startswith("/api"):
            for method in methods:
                ops.append((method.upper(), re.sub(r"\{[^}]+\}", "1", path)))
    return ops


API_OPERATIONS = _api_operations()


def test_the_api_has_routes_to_check() -> None:
    assert len(API_OPERATIONS) >= 20


@pytest.mark.parametrize(("method", "path"), API_OPERATIONS)
async def test_it_answers_401_without_a_token(
    anon_client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await anon_client.request(method, path, json={})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path"), API_OPERATIONS)
async def test_it_answers_401_with_a_wrong_token(app: FastAPI, method: str, path: str) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://leadflow.test",
        headers={"Authorization": "Bearer wrong"},
    ) as client:
        response = await client.request(method, path, json={})
    assert response.status_code == 401


async def test_unknown_routes_answer_404_in_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
