"""Which endpoints to check, read from the app's own route table and OpenAPI document.

The dashboard's pages are in the same table (see `pages.py`).
Only GET routes are called: the check is meant for a live server, and a check that writes
would create customers or start syncs there. Write routes are listed as skipped, so the table
shows every route. A path parameter is filled from the list endpoint the path extends
(`/api/customers/{customer_id}/leads` takes an id from `GET /api/customers`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from leadflow.monitoring.frontend_check.pages import PAGE_CONTENT_TYPE, api_collection_for, is_page

_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
_CALLED = frozenset({"GET"})


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # template, e.g. /api/customers/{customer_id}
    in_schema: bool
    response_schema: dict[str, Any] | None = None
    content_type: str | None = None
    required_query: tuple[str, ...] = ()
    page: bool = False  # a dashboard page: fetched logged in, answers HTML

    @property
    def writes(self) -> bool:
        return self.method not in _CALLED

    @property
    def params(self) -> list[str]:
        return _PARAM.findall(self.path)


def _operation(openapi: dict[str, Any], path: str, method: str) -> dict[str, Any] | None:
    operation = openapi.get("paths", {}).get(path, {}).get(method.lower())
    return operation if isinstance(operation, dict) else None


def _success(operation: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    for status in ("200", "201", "202"):
        content = operation.get("responses", {}).get(status, {}).get("content", {})
        for media_type, body in content.items():
            return body.get("schema"), media_type
    return None, None


def endpoints(app: FastAPI) -> list[Endpoint]:
    """Every (method, path) the app serves, with its OpenAPI response schema when it has one."""
    openapi = app.openapi()
    found: dict[tuple[str, str], Endpoint] = {}
    for context in iter_route_contexts(app.routes):
        path = context.path
        if not isinstance(path, str):
            continue
        is_api = isinstance(context.original_route, APIRoute)
        for method in sorted(context.methods or ()):
            if method == "HEAD":
                continue
            operation = _operation(openapi, path, method) if is_api else None
            schema, media_type = _success(operation) if operation else (None, None)
            required = tuple(
                p["name"]
                for p in (operation or {}).get("parameters", [])
                if p.get("in") == "query" and p.get("required")
            )
            page = is_page(path)
            found[(method, path)] = Endpoint(
                method=method,
                path=path,
                in_schema=operation is not None,
                response_schema=schema,
                content_type=PAGE_CONTENT_TYPE if page else media_type,
                required_query=required,
                page=page,
            )
    return sorted(found.values(), key=lambda e: (e.path, e.method))


def collection_for(path: str, param: str) -> str:
    """The list path a parameter's id comes from: the path up to `{param}`, without the slash;
    for a dashboard page, the API list of the same name (`/dashboard/leads/{lead_id}` takes an
    id from `GET /api/leads`)."""
    head = path.split("{" + param, 1)[0].rstrip("/")
    return api_collection_for(head) if is_page(path) else head
