"""`leadflow check-frontend` passes against a live app and fails against broken ones."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from starlette.types import ASGIApp, Receive, Scope, Send
from typer.testing import CliRunner, Result

from leadflow.api.app import create_app
from leadflow.cli.main import app as cli
from leadflow.monitoring.frontend_check.routes import collection_for, endpoints
from leadflow.monitoring.frontend_check.runner import FAIL, OK, SKIP, Limits, run_check
from leadflow.settings import Settings
from tests.conftest import API_TOKEN
from tests.factories_bookings import (
    make_booking,
    make_customer,
    make_lead,
    make_mailbox,
    make_thread,
)
from tests.monitoring.serve import serve_app

runner = CliRunner()


@pytest.fixture
async def data(session: AsyncSession) -> int:
    """A customer with a lead, a booking and a thread; its id."""
    customer = await make_customer(session)
    await make_lead(session, customer_id=customer.id)
    await make_booking(session, customer=customer, start=1, end=3)
    mailbox = await make_mailbox(session)
    await make_thread(session, mailbox=mailbox, customer_id=customer.id)
    await session.commit()
    return customer.id


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, settings: Settings) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", settings.database_url)
    monkeypatch.delenv("LEADFLOW_API_TOKEN", raising=False)


def test_the_route_table_is_the_source_of_the_endpoints(settings: Settings) -> None:
    app = create_app(settings)
    found = {(e.method, e.path) for e in endpoints(app)}
    assert ("GET", "/api/customers/{customer_id}/leads") in found
    assert ("POST", "/api/customers") in found
    assert ("GET", "/health/ready") in found
    # A route added to the app is checked without touching a list.
    app.get("/api/extra")(lambda: {"ok": True})
    assert ("GET", "/api/extra") in {(e.method, e.path) for e in endpoints(app)}


def test_a_parameter_takes_its_id_from_the_list_it_extends() -> None:
    assert collection_for("/api/customers/{customer_id}/leads", "customer_id") == "/api/customers"
    assert collection_for("/api/threads/{thread_id}", "thread_id") == "/api/threads"


def _check(base: str, *, max_latency_ms: float = 10_000, token: str = API_TOKEN) -> Result:
    """Run the command; the latency limit is generous unless a test is about latency (the
    first /openapi.json alone takes ~0.3 s here, more on a loaded machine)."""
    return runner.invoke(
        cli,
        [
            "check-frontend",
            "--base-url",
            base,
            "--token",
            token,
            "--max-latency-ms",
            str(max_latency_ms),
        ],
    )


def _failure_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("FAIL ")]


@pytest.mark.usefixtures("data", "cli_env")
def test_it_passes_against_the_live_app(settings: Settings, engine: AsyncEngine) -> None:
    with serve_app(create_app(settings)) as base:
        result = _check(base)
    assert result.exit_code == 0, result.output
    summary = result.output.strip().splitlines()[-1]
    checked = int(summary.split(" checked")[0])
    assert checked >= 15
    assert ", 0 failed" in summary
    assert _failure_lines(result.output) == []


@pytest.mark.usefixtures("data", "cli_env")
def test_an_answer_slower_than_the_limit_fails(settings: Settings, engine: AsyncEngine) -> None:
    with serve_app(create_app(settings)) as base:
        result = _check(base, max_latency_ms=1)
    assert result.exit_code == 1, result.output
    slow = [line for line in _failure_lines(result.output) if "(limit 1)" in line]
    assert slow, result.output


async def test_every_get_route_is_called_and_writes_are_skipped(
    settings: Settings, data: int
) -> None:
    app = create_app(settings)
    from asgi_lifespan import LifespanManager

    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://t",
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        ) as http:
            rows = await run_check(http, app.openapi(), endpoints(app), Limits(5000))
    by_outcome = {row.outcome for row in rows}
    assert FAIL not in by_outcome, [r for r in rows if r.outcome == FAIL]
    gets = [r for r in rows if r.method == "GET" and r.outcome == OK]
    assert any(r.path.startswith("/api/customers/") and r.path.endswith("/bookings") for r in gets)
    assert any(r.path == "/api/uptime" for r in gets)
    # The cache's endpoints: its stats, and the customer 360 view with an id from the list.
    assert {"/api/cache/stats", f"/api/customers/{data}/overview"} <= {r.path for r in gets}
    # The dashboard's pages, found in the same route table, are fetched logged in.
    login = next(r for r in rows if r.path.endswith("(log in)"))
    assert login.outcome == OK
    assert {"/dashboard", "/dashboard/system"} <= {r.path for r in gets}
    writes = [r for r in rows if r.method in {"POST", "PATCH", "DELETE"} and r is not login]
    assert writes
    assert all(r.outcome == SKIP for r in writes)
    assert rows[-1].path.endswith("(no token)")
    assert rows[-1].outcome == OK


class _Corrupting:
    """Answers /api/customers with a body that breaks the documented schema."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/api/customers":
            body = json.dumps({"items": "not a list", "total": "many"}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


class _Open:
    """Lets /api requests through without a token (auth switched off by mistake)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = [(k, v) for k, v in scope["headers"] if k != b"authorization"]
            headers.append((b"authorization", f"Bearer {API_TOKEN}".encode()))
            scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)


class _BrokenPage:
    """The system page fails (500) while everything else works."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/dashboard/system":
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"text/html; charset=utf-8")],
                }
            )
            await send({"type": "http.response.body", "body": b"<p>broken</p>"})
            return
        await self.app(scope, receive, send)


class _ForgetfulSessions:
    """Drops every cookie on the way in: the dashboard never sees a session."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = [(k, v) for k, v in scope["headers"] if k != b"cookie"]
            scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)


@pytest.fixture
def broken(request: pytest.FixtureRequest, settings: Settings) -> Iterator[str]:
    wrapper = request.param
    with serve_app(wrapper(create_app(settings))) as base:
        yield base


@pytest.mark.usefixtures("data", "cli_env", "engine")
@pytest.mark.parametrize(
    ("broken", "failure"),
    [
        (_Corrupting, "FAIL GET /api/customers: schema: "),
        (_Open, "FAIL GET /api/bookings (no token): answered 200 without a token (expected 401)"),
        (_BrokenPage, "FAIL GET /dashboard/system: status 500, expected 200"),
    ],
    indirect=["broken"],
)
def test_it_fails_against_a_broken_app(broken: str, failure: str) -> None:
    result = _check(broken)
    assert result.exit_code == 1, result.output
    # One line per failure, whole whatever the terminal's width (the table folds its cells).
    (line,) = _failure_lines(result.output)
    assert line.startswith(failure), result.output


@pytest.mark.usefixtures("data", "cli_env", "engine")
@pytest.mark.parametrize("broken", [_ForgetfulSessions], indirect=True)
def test_every_page_fails_when_the_login_does_not_hold(broken: str) -> None:
    result = _check(broken)
    assert result.exit_code == 1, result.output
    lines = _failure_lines(result.output)
    # The login form and its POST work; the session is never seen, so the CSRF check refuses.
    assert any(
        line.startswith("FAIL POST /dashboard/login (log in): login refused") for line in lines
    )
    pages = [line for line in lines if line.startswith("FAIL GET /dashboard")]
    assert {"FAIL GET /dashboard: not checked: the login failed"} <= set(pages)
    assert not [line for line in lines if line.startswith("FAIL GET /api")]


class _Counting:
    """The app, counting the requests that carry an Authorization header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.with_token = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and any(k == b"authorization" for k, _ in scope["headers"]):
            self.with_token += 1
        await self.app(scope, receive, send)


@pytest.mark.usefixtures("data", "cli_env")
def test_a_refused_token_stops_the_check_after_one_call(
    settings: Settings, engine: AsyncEngine
) -> None:
    # Each wrong token counts against the address (api.throttle): one call, not one per route.
    served = _Counting(create_app(settings))
    with serve_app(served) as base:
        result = _check(base, token="not-the-token")
    assert result.exit_code == 1, result.output
    (line,) = _failure_lines(result.output)
    assert line.startswith("FAIL GET /api/"), line
    assert "the server refuses the token (invalid bearer token)" in line
    assert "nothing else was called" in line
    assert served.with_token == 1
    assert "not-the-token" not in result.output


@pytest.mark.usefixtures("cli_env")
def test_it_fails_when_nothing_answers() -> None:
    result = runner.invoke(
        cli, ["check-frontend", "--base-url", "http://127.0.0.1:9", "--token", "x"]
    )
    assert result.exit_code == 1
    assert "no answer" in result.output
    assert "Traceback" not in result.output


@pytest.mark.usefixtures("cli_env")
def test_it_needs_a_token() -> None:
    result = runner.invoke(cli, ["check-frontend", "--base-url", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "--token" in result.output


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize("url", ["notaurl", "ftp://example.dk", "http://", "127.0.0.1:8000"])
def test_a_base_url_that_is_not_http_is_a_bad_option(url: str) -> None:
    result = runner.invoke(cli, ["check-frontend", "--base-url", url, "--token", "x"])
    assert result.exit_code == 2
    assert result.output.strip() == f"bad option: --base-url must be an http(s) URL, not {url!r}"
