"""/openapi.json describes the errors the API answers: one shape (`ErrorBody`) for every error
status, and on every /api operation the errors any route can give. Real answers are checked
against the document's own schemas."""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories_mail import make_customer

ERROR_REF = "#/components/schemas/ErrorBody"


async def _document(client: httpx.AsyncClient) -> dict[str, Any]:
    answer = await client.get("/openapi.json")
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


async def test_every_error_status_in_the_document_is_the_error_body(
    client: httpx.AsyncClient,
) -> None:
    document = await _document(client)
    assert "HTTPValidationError" not in str(document)
    checked = 0
    for path, method, operation in _operations(document):
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")) and "content" in response:
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": ERROR_REF}, (method, path, status)
                checked += 1
        if path.startswith("/api/"):
            assert {"401", "429", "503"} <= set(operation["responses"]), (method, path)
            if "{" in path:
                assert "404" in operation["responses"], (method, path)
            if method in {"post", "patch", "put", "delete"}:
                assert "409" in operation["responses"], (method, path)
    assert checked > 100


async def test_real_error_answers_match_the_documented_schema(
    client: httpx.AsyncClient, anon_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    document = await _document(client)
    taken = await make_customer(session, email="optaget@example.dk")
    await session.commit()
    answers = {
        "401": await anon_client.get("/api/customers"),
        "404": await client.get("/api/customers/999999"),
        "422": await client.post("/api/customers", json={"email": "not-an-email"}),
        "409": await client.post("/api/customers", json={"name": "Igen", "email": taken.email}),
        "422 (not JSON)": await client.post(
            "/api/customers", content=b"{", headers={"Content-Type": "application/json"}
        ),
    }
    root = {"$ref": ERROR_REF, "components": document["components"]}
    for label, answer in answers.items():
        assert answer.status_code == int(label[:3]), (label, answer.text)
        jsonschema.validate(answer.json(), root)
    # The schema can fail: FastAPI's own shape does not pass it.
    try:
        jsonschema.validate({"detail": [{"loc": ["body"], "msg": "x", "type": "y"}]}, root)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("FastAPI's error shape passed the documented schema")
