"""One format in every answer: times in UTC with `Z` (also in error messages), malformed JSON
named as such, a database-refused value as a 422 naming the column, relative next links, and
one log line per unexpected error."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.api.data_errors import column_of_argument
from leadflow.errors import unexpected_error_response
from leadflow.logs import RequestIdFilter
from leadflow.models import Customer
from tests.factories_mail import make_customer

EXTREME_TIMES = ["0001-01-01T00:30+01:00", "9999-12-31T23:30-01:00", "1969-12-31T23:59:59Z"]


def _fields(response: httpx.Response) -> list[str]:
    return [item["field"] for item in response.json()["error"]["details"]]


@pytest.mark.parametrize("when", EXTREME_TIMES)
async def test_an_extreme_booking_time_is_a_422(
    client: httpx.AsyncClient, session: AsyncSession, when: str
) -> None:
    customer = await make_customer(session)
    await session.commit()
    response = await client.post(
        "/api/bookings",
        json={"customer_id": customer.id, "start_time": when, "end_time": "2026-01-01T10:00Z"},
    )
    assert response.status_code == 422, response.text
    assert "body.start_time" in _fields(response)


@pytest.mark.parametrize("when", EXTREME_TIMES)
@pytest.mark.parametrize(
    ("method", "url", "field"),
    [
        ("POST", "/api/leads", "body.received_at"),
        ("GET", "/api/leads?received_from={}", "query.received_from"),
        ("GET", "/api/leads?received_to={}", "query.received_to"),
        ("GET", "/api/bookings?from={}", "query.from"),
        ("GET", "/api/bookings?to={}", "query.to"),
    ],
)
async def test_an_extreme_time_anywhere_is_a_422(
    client: httpx.AsyncClient, method: str, url: str, field: str, when: str
) -> None:
    if method == "POST":
        response = await client.post(url, json={"name": "Ulla", "received_at": when})
    else:
        response = await client.get(url.format(when.replace("+", "%2B")))
    assert response.status_code == 422, response.text
    assert field in _fields(response)


async def test_a_booking_answers_in_utc_on_post_get_and_in_the_overlap_409(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    await session.commit()
    body = {
        "customer_id": customer.id,
        "start_time": "2026-06-01T10:00:00+02:00",
        "end_time": "2026-06-01T12:00:00+02:00",
    }
    created = await client.post("/api/bookings", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["start_time"] == "2026-06-01T08:00:00Z"
    assert created.json()["end_time"] == "2026-06-01T10:00:00Z"
    fetched = await client.get(f"/api/bookings/{created.json()['id']}")
    assert fetched.json() == created.json()
    clash = await client.post(
        "/api/bookings", json={**body, "start_time": "2026-06-01T11:00:00+02:00"}
    )
    assert clash.status_code == 409
    error = clash.json()["error"]
    assert "+02:00" not in error["message"]
    assert "+00:00" not in error["message"]
    assert "2026-06-01T08:00:00Z to 2026-06-01T10:00:00Z" in error["message"]
    assert "overlaps 2026-06-01T09:00:00Z to 2026-06-01T10:00:00Z" in error["message"]
    assert error["details"]["start_time"] == "2026-06-01T08:00:00Z"


async def test_a_lead_answers_received_at_in_utc(client: httpx.AsyncClient) -> None:
    created = await client.post(
        "/api/leads", json={"name": "Ulla", "received_at": "2026-03-01T09:30:00-05:00"}
    )
    assert created.json()["received_at"] == "2026-03-01T14:30:00Z"
    assert (await client.get(f"/api/leads/{created.json()['id']}")).json() == created.json()


@pytest.mark.parametrize(
    ("raw", "position"), [(b'{"name": "Ulla",}', 16), (b'{"name": ', 9), (b"nonsense", 0)]
)
async def test_malformed_json_names_the_character(
    client: httpx.AsyncClient, raw: bytes, position: int
) -> None:
    response = await client.post(
        "/api/customers", content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["message"].startswith(f"malformed JSON at character {position}")
    assert _fields(response) == ["body"]


async def test_a_value_the_database_refuses_is_a_422_naming_the_column(
    session: AsyncSession,
) -> None:
    """The backstop, fed the database's own error (the schemas keep such values out)."""
    is_postgres = session.get_bind().dialect.name == "postgresql"
    values: dict[str, Any] = {"status": "active", "tags": [], "name": "Bo"}
    if is_postgres:
        values["name"] = "Bo\x00"
    else:
        values["id"] = 2**63  # SQLite's driver: OverflowError
    now = datetime.now(UTC)
    with pytest.raises((DBAPIError, OverflowError)) as raised:
        await session.execute(insert(Customer).values(created_at=now, updated_at=now, **values))
    await session.rollback()
    response = unexpected_error_response(raised.value)
    assert response.status_code == 422
    details = response.body.decode()
    if is_postgres:
        assert '"field":"customers.name"' in details


@pytest.mark.parametrize(
    ("statement", "number", "column"),
    [
        ("INSERT INTO leads (source, name) VALUES ($1::VARCHAR, $2::VARCHAR)", 2, "leads.name"),
        ("INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)", 3, "t.a"),
        ("SELECT * FROM customers WHERE customers.id = $1::INTEGER", 1, "customers.id"),
        ("UPDATE leads SET name=$1::VARCHAR WHERE leads.id = $2::INTEGER", 1, "name"),
        ("SELECT 1 WHERE lower(customers.name) LIKE lower($12)", 12, None),
        ("SELECT 1 WHERE customers.name ILIKE $1", 1, "customers.name"),
        ("SELECT 1", 1, None),
    ],
)
def test_the_backstop_finds_the_column_of_an_argument(
    statement: str, number: int, column: str | None
) -> None:
    assert column_of_argument(statement, number) == column


@pytest.mark.parametrize("path", ["/api/customers?limit=1", "/api/customers?limit=1&sort=-name"])
async def test_the_next_link_never_echoes_the_host_header(
    client: httpx.AsyncClient, session: AsyncSession, path: str
) -> None:
    for name in ("A", "B"):
        await make_customer(session, name=name)
    await session.commit()
    response = await client.get(path, headers={"Host": "evil.example"})
    link = response.json()["next"]
    assert link.startswith("/api/customers?")
    assert "evil" not in link
    assert (await client.get(link)).json()["items"]


async def test_an_unexpected_error_is_one_log_line_with_the_request_id(
    app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/api/test-broken", broken)
    caplog.set_level(logging.DEBUG)
    caplog.handler.addFilter(RequestIdFilter())
    response = await client.get("/api/test-broken")  # raised to the client before the fix
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    request_id = response.headers["X-Request-ID"]
    with_traceback = [r for r in caplog.records if r.exc_info]
    assert len(with_traceback) == 1
    assert with_traceback[0].request_id == request_id  # type: ignore[attr-defined]
    assert "RuntimeError: a bug" in caplog.text
    assert caplog.text.count("Traceback") == 1


async def test_health_checks_write_their_times_in_utc_with_z(client: httpx.AsyncClient) -> None:
    document = (await client.get("/health/ready")).json()
    times = [entry["time"] for entries in document["checks"].values() for entry in entries]
    assert times
    assert all(time.endswith("Z") for time in times), times


@pytest.mark.parametrize(("raw", "position"), [(b'{"name": "\xff"}', 10), (b"\xe9\x1cR", 0)])
async def test_a_body_that_is_not_utf8_is_malformed_json(
    client: httpx.AsyncClient, raw: bytes, position: int
) -> None:
    response = await client.patch(
        "/api/customers/1", content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["message"] == f"malformed JSON at byte {position}: not UTF-8 text"


async def test_an_unexpected_error_on_a_dashboard_page_is_its_html_page_logged_once(
    app: FastAPI, anon_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken() -> None:
        raise RuntimeError("a page bug")

    app.add_api_route("/dashboard/test-broken", broken)
    caplog.set_level(logging.DEBUG)
    response = await anon_client.get("/dashboard/test-broken")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "X-Request-ID" in response.headers
    assert len([r for r in caplog.records if r.exc_info]) == 1


async def test_a_body_nested_too_deeply_is_malformed_json(client: httpx.AsyncClient) -> None:
    deep = b'{"name": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"
    response = await client.post(
        "/api/customers", content=deep, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["message"] == "malformed JSON: nested too deeply to read"
    assert error["details"] == [
        {"field": "body", "message": error["message"], "type": "json_invalid"}
    ]
