"""The OpenAPI document describes the errors the API really answers.

FastAPI documents a 422 as its own `HTTPValidationError` (`{"detail": [...]}`), while every error
here is `{"error": {"code", "message", "details"}}` (`leadflow.errors`), and it knows nothing of
the answers our middleware and handlers give to any route. The document is rewritten once, when
first asked for: each 422 points at `ErrorBody`, and each operation lists the errors it can get —
401 and 429 (the bearer token and its throttle) and 503 (database unavailable) on every /api
route, 404 where the path names a row, 409 (a conflict, or a concurrent change that won) and 413
(a body over the size limit) on writes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

_REF = "#/components/schemas/{model}"


class ErrorInfo(BaseModel):
    code: str = Field(description="Stable, machine-readable: validation_error, not_found, ...")
    message: str = Field(description="What went wrong, for a person.")
    details: list[dict[str, Any]] | dict[str, Any] | None = Field(
        None,
        description="A 422 lists the fields: `{field, message, type}` each; other errors may "
        "add what they are about (e.g. the booking in the way).",
    )


class ErrorBody(BaseModel):
    """Every error the API answers."""

    error: ErrorInfo


_WRITES = frozenset({"post", "put", "patch", "delete"})
_ON_EVERY_API_ROUTE = {
    "401": "No bearer token, or a wrong one.",
    "429": "Too many wrong tokens from this network: `Retry-After` says when to try again.",
    "503": "The database is unavailable; nothing was changed. Send the request again later.",
}
_ON_A_ROW = {"404": "No such row (the path's id)."}
_ON_WRITES = {
    "409": "The change conflicts with the data (the message says how), or a concurrent change "
    "to the same data won; nothing was saved.",
}
_ON_BODIES = {"413": "The body is over the size limit (1 MB)."}


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorBody")}}},
    }


def describe_errors(document: dict[str, Any]) -> dict[str, Any]:
    """`document` (FastAPI's) with the API's error shape and the errors every route can get."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    body = ErrorBody.model_json_schema(ref_template=_REF)
    schemas.update(body.pop("$defs", {}))
    schemas["ErrorBody"] = body
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in _WRITES | {"get", "head"}:
                continue
            responses = operation.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = _error_response(
                    "Invalid input: `error.details` names each field and what is wrong with it."
                )
            extra: dict[str, str] = {}
            if path.startswith("/api/"):
                extra |= _ON_EVERY_API_ROUTE
                if "{" in path:
                    extra |= _ON_A_ROW
                if method in _WRITES:
                    extra |= _ON_WRITES
                if "requestBody" in operation:
                    extra |= _ON_BODIES
            for status, description in extra.items():
                responses.setdefault(status, _error_response(description))
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve `describe_errors` of FastAPI's document (built once, on first request)."""
    build: Callable[[], dict[str, Any]] = app.openapi
    described: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        if not described:
            described.append(describe_errors(build()))
            app.openapi_schema = described[0]
        return described[0]

    app.openapi = openapi  # type: ignore[method-assign]
