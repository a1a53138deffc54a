"""Issue 8's "500s on bad input", each as a regression test: ids and offsets beyond the column
types, NUL characters and lone surrogates in every text field and query, extreme datetimes.

Every operation and every text field is taken from the app's own OpenAPI document, so a new
route or field is covered without editing this file.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from leadflow.api.app import create_app
from leadflow.settings import Settings

INT4_OVERFLOW = 2**31  # PostgreSQL `integer` holds up to 2**31 - 1
INT8_OVERFLOW = 2**63  # beyond SQLite's 64-bit integers
BAD_IDS = [0, INT4_OVERFLOW, INT8_OVERFLOW, 10**30]
BAD_TEXT = {"nul": "a\x00b", "surrogate": "a\ud800b"}


def _spec() -> dict[str, Any]:
    return create_app(Settings(_env_file=None)).openapi()  # type: ignore[call-arg]


SPEC = _spec()


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = SPEC["components"]["schemas"][name]
    return schema


def _variants(schema: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _resolve(schema)
    if "anyOf" in schema:
        return [v for option in schema["anyOf"] for v in _variants(option)]
    return [schema]


def _api_operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, methods in SPEC["paths"].items()
        if path.startswith("/api")
        for method, operation in methods.items()
    ]


def _path_id_cases() -> list[tuple[str, str, str]]:
    cases = []
    for method, path, operation in _api_operations():
        for param in operation.get("parameters", []):
            if param["in"] == "path":
                cases.append((method, path, param["name"]))
    return cases


def _query_cases(kind: str) -> list[tuple[str, str]]:
    cases = []
    for _method, path, operation in _api_operations():
        for param in operation.get("parameters", []):
            types = {v.get("type") for v in _variants(param["schema"])}
            if param["in"] == "query" and kind in types and "format" not in param["schema"]:
                cases.append((path, param["name"]))
    return cases


def _body_fields(kind: str) -> list[tuple[str, str, str]]:
    """(method, path, field) for every top-level body field of type `kind`."""
    cases = []
    for method, path, operation in _api_operations():
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            continue
        for body in _variants(content["application/json"]["schema"]):
            for field, schema in body.get("properties", {}).items():
                variants = _variants(schema)
                plain = [v for v in variants if v.get("type") == kind and "format" not in v]
                if plain:
                    cases.append((method, path, field))
    return cases


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def _fields(response: httpx.Response) -> list[str]:
    return [item["field"] for item in response.json()["error"]["details"]]


def test_the_cases_cover_the_api() -> None:
    assert len(_path_id_cases()) >= 15
    assert len(_body_fields("string")) >= 25
    assert {name for _, name in _query_cases("string")} >= {"q", "source", "team", "mailbox"}


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize(("method", "path", "name"), _path_id_cases())
async def test_a_path_id_out_of_range_is_a_422_naming_it(
    client: httpx.AsyncClient, method: str, path: str, name: str, bad: int
) -> None:
    url = path.replace("{" + name + "}", str(bad))
    response = await client.request(method, _concrete(url), json={})
    assert response.status_code == 422, response.text
    assert f"path.{name}" in _fields(response)


def _paged_paths() -> list[str]:
    return [
        path
        for _, path, operation in _api_operations()
        if any(param["name"] == "offset" for param in operation.get("parameters", []))
    ]


@pytest.mark.parametrize("path", _paged_paths())
@pytest.mark.parametrize("offset", [2**31, 2**63, -1])
async def test_an_offset_out_of_range_is_a_422(
    client: httpx.AsyncClient, path: str, offset: int
) -> None:
    response = await client.get(_concrete(path), params={"offset": offset})
    assert response.status_code == 422, response.text
    assert _fields(response) == ["query.offset"]


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/bookings?customer_id=2147483648", "query.customer_id"),
        ("/api/threads?customer_id=9223372036854775808", "query.customer_id"),
    ],
)
async def test_a_query_id_out_of_range_is_a_422(
    client: httpx.AsyncClient, url: str, field: str
) -> None:
    response = await client.get(url)
    assert response.status_code == 422, response.text
    assert _fields(response) == [field]


@pytest.mark.parametrize("bad", [INT4_OVERFLOW, INT8_OVERFLOW])
@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/leads", {"name": "Ulla", "customer_id": None}, "customer_id"),
        ("PATCH", "/api/leads/1", {"customer_id": None}, "customer_id"),
        ("PATCH", "/api/leads/1", {"duplicate_of_id": None}, "duplicate_of_id"),
        (
            "POST",
            "/api/bookings",
            {
                "customer_id": None,
                "start_time": "2026-01-01T10:00:00Z",
                "end_time": "2026-01-01T12:00:00Z",
            },
            "customer_id",
        ),
        ("PATCH", "/api/bookings/1", {"lead_id": None}, "lead_id"),
        ("POST", "/api/threads/1/link", {"customer_id": None}, "customer_id"),
    ],
)
async def test_an_id_out_of_range_in_a_body_is_a_422_naming_it(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    body: dict[str, Any],
    field: str,
    bad: int,
) -> None:
    sent = {key: (bad if value is None else value) for key, value in body.items()}
    response = await client.request(method, path, json=sent)
    assert response.status_code == 422, response.text
    assert f"body.{field}" in _fields(response)


async def test_thread_ids_out_of_range_in_a_rematch_are_a_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/threads/rematch", json={"thread_ids": [1, INT4_OVERFLOW]})
    assert response.status_code == 422, response.text
    assert _fields(response) == ["body.thread_ids.1"]


def _raw_json(payload: dict[str, Any]) -> bytes:
    # json.dumps escapes a lone surrogate as \ud800, which is how a client would send it.
    return json.dumps(payload).encode()


@pytest.mark.parametrize("kind", sorted(BAD_TEXT))
@pytest.mark.parametrize(("method", "path", "field"), _body_fields("string"))
async def test_every_text_field_refuses_nul_and_lone_surrogates(
    client: httpx.AsyncClient, method: str, path: str, field: str, kind: str
) -> None:
    response = await client.request(
        method,
        _concrete(path),
        content=_raw_json({field: BAD_TEXT[kind]}),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert f"body.{field}" in _fields(response)


@pytest.mark.parametrize("kind", sorted(BAD_TEXT))
async def test_every_text_field_in_a_list_refuses_nul(client: httpx.AsyncClient, kind: str) -> None:
    response = await client.post(
        "/api/customers",
        content=_raw_json({"name": "Ulla", "tags": ["ok", BAD_TEXT[kind]]}),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert _fields(response) == ["body.tags.1"]


@pytest.mark.parametrize(("path", "name"), _query_cases("string"))
async def test_every_text_query_refuses_nul(
    client: httpx.AsyncClient, path: str, name: str
) -> None:
    response = await client.get(_concrete(path), params={name: "Øster\x00gaard"})
    assert response.status_code == 422, response.text
    assert _fields(response) == [f"query.{name}"]


async def test_nothing_with_a_nul_is_stored(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/customers", json={"name": "Bo\x00"})
    assert response.status_code == 422
    listed = await client.get("/api/customers", params={"sort": "-name"})
    assert listed.json()["total"] == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("tags", ["x" * 101]),
        ("tags", [f"t{n}" for n in range(51)]),
        ("tags", [""]),
        ("name", "x" * 201),
        ("postal_code", "1" * 17),
        ("email", "a" * 300 + "@example.dk"),
        ("status", "deleted"),
    ],
)
async def test_lists_lengths_enums_and_emails_are_bounded(
    client: httpx.AsyncClient, field: str, value: Any
) -> None:
    response = await client.post("/api/customers", json={field: value})
    assert response.status_code == 422, response.text
    assert any(name.startswith(f"body.{field}") for name in _fields(response))


async def test_a_not_a_number_square_meters_is_a_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/leads",
        content=b'{"name": "Ulla", "square_meters": NaN}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert "body.square_meters" in _fields(response)
