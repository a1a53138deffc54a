"""Call the endpoints on a live server and judge each answer.

An answer passes when its status is 200, its content type is the one the OpenAPI document
names, its JSON validates against the documented schema, and it came within the latency
limit. Routes outside the schema (health, metrics, docs) are checked for status only; one that
answers 401 is protected by a token of its own and is skipped. The token is tried once first:
when the server refuses it, nothing else is called. One extra call without the token checks
that /api refuses it. Dashboard pages are fetched after logging in through the
login form with the same token (`pages.py`): 200 `text/html`, never the login page.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
from jsonschema import Draft202012Validator

from leadflow.errors import error_message
from leadflow.monitoring.frontend_check.pages import LOGIN_PATH, log_in
from leadflow.monitoring.frontend_check.routes import Endpoint, collection_for

OK, FAIL, SKIP = "ok", "FAIL", "skip"


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    outcome: str
    status: int | None = None
    millis: float | None = None
    problem: str = ""


@dataclass(frozen=True)
class Limits:
    max_latency_ms: float = 1000.0


def _first_id(body: Any) -> Any:
    items = body.get("items") if isinstance(body, dict) else body
    if isinstance(items, list) and items and isinstance(items[0], dict):
        return items[0].get("id")
    return None


def _plain_api_list(endpoints: list[Endpoint]) -> Endpoint | None:
    """The first /api GET without parameters (a list): where the token is tried."""
    return next(
        (e for e in endpoints if e.path.startswith("/api/") and not e.writes and not e.params),
        None,
    )


class Checker:
    def __init__(
        self, http: httpx.AsyncClient, openapi: dict[str, Any], limits: Limits | None = None
    ) -> None:
        self.http = http
        self.openapi = openapi
        self.limits = limits or Limits()
        self._ids: dict[str, Any] = {}
        self._login: Row | None = None

    def _problems(self, endpoint: Endpoint, response: httpx.Response, millis: float) -> list[str]:
        problems = []
        if response.status_code != 200:
            problems.append(f"status {response.status_code}, expected 200")
        content_type = response.headers.get("content-type", "").split(";")[0].strip()
        if endpoint.content_type and content_type != endpoint.content_type:
            problems.append(
                f"content type {content_type or 'none'}, expected {endpoint.content_type}"
            )
        elif endpoint.response_schema is not None and not problems:
            problems += self._schema_problems(endpoint.response_schema, response)
        if millis > self.limits.max_latency_ms:
            problems.append(f"took {millis:.0f} ms (limit {self.limits.max_latency_ms:.0f})")
        return problems

    def _schema_problems(self, schema: dict[str, Any], response: httpx.Response) -> list[str]:
        try:
            body = response.json()
        except ValueError:
            return ["the body is not JSON"]
        root = {**schema, "components": self.openapi.get("components", {})}
        errors = sorted(Draft202012Validator(root).iter_errors(body), key=lambda e: list(e.path))
        return [
            f"schema: {'/'.join(str(p) for p in error.path) or '(root)'}: {error.message[:120]}"
            for error in errors[:3]
        ]

    async def _resolve(self, endpoint: Endpoint) -> tuple[str | None, str]:
        path = endpoint.path
        for param in endpoint.params:
            collection = collection_for(endpoint.path, param)
            if collection not in self._ids:
                try:
                    listing = await self.http.get(collection)
                    self._ids[collection] = (
                        _first_id(listing.json()) if listing.is_success else None
                    )
                except (httpx.HTTPError, ValueError):
                    self._ids[collection] = None
            found = self._ids[collection]
            if found is None:
                return None, f"no id for {{{param}}}: {collection} listed nothing"
            path = path.replace("{" + param + "}", str(found), 1)
            path = path.replace("{" + param + ":path}", str(found), 1)
        return path, ""

    async def check(self, endpoint: Endpoint) -> Row:
        if endpoint.writes:
            return Row(endpoint.method, endpoint.path, SKIP, problem="writes: not called")
        if endpoint.required_query:
            needed = ", ".join(endpoint.required_query)
            return Row(endpoint.method, endpoint.path, SKIP, problem=f"needs query {needed}")
        path, why = await self._resolve(endpoint)
        if path is None:
            return Row(endpoint.method, endpoint.path, SKIP, problem=why)
        if endpoint.page and await self._logged_in() is not None:
            return Row(endpoint.method, path, FAIL, problem="not checked: the login failed")
        started = time.perf_counter()
        try:
            # A page may redirect (`/` to the overview), as a browser would follow it.
            response = await self.http.request(
                endpoint.method, path, follow_redirects=endpoint.page
            )
        except httpx.HTTPError as exc:
            return Row(endpoint.method, path, FAIL, problem=f"no answer: {type(exc).__name__}")
        millis = (time.perf_counter() - started) * 1000
        if endpoint.page and path != LOGIN_PATH and response.url.path == LOGIN_PATH:
            problem = "sent to the login page: the session was not accepted"
            return Row(endpoint.method, path, FAIL, response.status_code, millis, problem)
        if not endpoint.in_schema and response.status_code == 401:
            return Row(endpoint.method, path, SKIP, 401, millis, "protected by its own token")
        problems = self._problems(endpoint, response, millis)
        outcome = FAIL if problems else OK
        return Row(
            endpoint.method, path, outcome, response.status_code, millis, "; ".join(problems)
        )

    async def _logged_in(self) -> str | None:
        """Log in once, before the first page; None when logged in, else the problem."""
        if self._login is None:
            try:
                problem, status, millis = await log_in(self.http)
            except httpx.HTTPError as exc:
                problem, status, millis = f"no answer: {type(exc).__name__}", None, None
            outcome = FAIL if problem else OK
            self._login = Row("POST", f"{LOGIN_PATH} (log in)", outcome, status, millis, problem)
        return self._login.problem or None

    def login_row(self) -> Row | None:
        return self._login

    async def token_refused(self, endpoints: list[Endpoint]) -> Row | None:
        """GET the first plain /api list with the token; a row when the server refuses it.

        Checked once before anything else: every call with a wrong token counts against this
        address (`api.throttle`), so a check with a mistyped token must not send twenty.
        """
        target = _plain_api_list(endpoints)
        if target is None:
            return None
        try:
            response = await self.http.get(target.path)
        except httpx.HTTPError:
            return None  # nothing answers: every endpoint's row says so
        if response.status_code not in (401, 429):
            return None
        said = error_message(response.content) or response.text[:200]
        return Row(
            "GET",
            f"{target.path} (token)",
            FAIL,
            response.status_code,
            problem=f"the server refuses the token ({said}): check --token or "
            "LEADFLOW_API_TOKEN; nothing else was called",
        )

    async def check_auth(self, endpoints: list[Endpoint]) -> Row | None:
        """GET the first plain /api list without the token: it must answer 401."""
        target = _plain_api_list(endpoints)
        if target is None:
            return None
        started = time.perf_counter()
        try:
            response = await self.http.get(target.path, headers={"Authorization": ""})
        except httpx.HTTPError as exc:
            return Row("GET", target.path, FAIL, problem=f"no answer: {type(exc).__name__}")
        millis = (time.perf_counter() - started) * 1000
        ok = response.status_code == 401
        problem = "" if ok else f"answered {response.status_code} without a token (expected 401)"
        return Row(
            "GET",
            f"{target.path} (no token)",
            OK if ok else FAIL,
            response.status_code,
            millis,
            problem,
        )


async def run_check(
    http: httpx.AsyncClient, openapi: dict[str, Any], endpoints: list[Endpoint], limits: Limits
) -> list[Row]:
    """Check every endpoint in order (lists before their items), then the auth probe."""
    checker = Checker(http, openapi, limits)
    refused = await checker.token_refused(endpoints)
    if refused is not None:
        return [refused]
    rows = [await checker.check(endpoint) for endpoint in endpoints]
    login = checker.login_row()
    auth = await checker.check_auth(endpoints)
    return [*rows, *(row for row in (login, auth) if row is not None)]
