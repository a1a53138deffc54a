"""Rules that hold across resources: PATCH null, unknown references, teams, leads and customers.

- PATCH `null` clears an optional field and is a 422 on a field every row has (leads,
  customers, bookings alike; customers are covered in test_customers_api).
- A customer named in a body that does not exist is a 422 naming the field (path ids: 404).
- Team names compare case-insensitively.
- A lead entered through the API finds or creates its customer by email, like a mailed lead.
- A lead's bookings follow it to another customer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.models import Customer
from tests.factories_bookings import iso, make_booking, make_customer, make_lead
from tests.factories_mail import make_thread

T0 = datetime(2031, 3, 3, 8, 0, tzinfo=UTC)


def _fields(response: httpx.Response) -> list[str]:
    return [d["field"] for d in response.json()["error"]["details"]]


@pytest.mark.parametrize("field", ["source", "status", "needs_review", "received_at"])
async def test_patch_null_on_a_field_every_lead_has_is_422(
    client: httpx.AsyncClient, session: AsyncSession, field: str
) -> None:
    lead = await make_lead(session, received_at=T0)
    await session.commit()
    response = await client.patch(f"/api/leads/{lead.id}", json={field: None})
    assert response.status_code == 422, response.text
    assert _fields(response) == [f"body.{field}"]


async def test_a_lead_keeps_its_place_in_the_date_filters(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    lead = await make_lead(session, received_at=T0)
    await session.commit()
    await client.patch(f"/api/leads/{lead.id}", json={"received_at": None})
    window = {"received_from": "2031-03-01T00:00:00Z", "received_to": "2031-03-05T00:00:00Z"}
    listed = await client.get("/api/leads", params=window)
    assert [item["id"] for item in listed.json()["items"]] == [lead.id]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("team", None),
        ("start_time", None),
        ("end_time", None),
        ("status", None),
    ],
)
async def test_patch_null_on_a_field_every_booking_has_is_422(
    client: httpx.AsyncClient, session: AsyncSession, field: str, value: Any
) -> None:
    customer = await make_customer(session)
    booking = await make_booking(session, customer=customer, start=0, end=1)
    await session.commit()
    before = (await client.get(f"/api/bookings/{booking.id}")).json()
    response = await client.patch(f"/api/bookings/{booking.id}", json={field: value})
    assert response.status_code == 422, response.text
    assert _fields(response) == [f"body.{field}"]
    assert (await client.get(f"/api/bookings/{booking.id}")).json() == before


async def test_patch_null_clears_an_optional_booking_field(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    lead = await make_lead(session, customer_id=customer.id)
    booking = await make_booking(
        session, customer=customer, start=0, end=1, lead_id=lead.id, notes="Nøgle under måtten"
    )
    await session.commit()
    response = await client.patch(
        f"/api/bookings/{booking.id}", json={"lead_id": None, "notes": None}
    )
    assert response.status_code == 200, response.text
    assert (response.json()["lead_id"], response.json()["notes"]) == (None, None)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/leads", {"name": "Ulla", "customer_id": 9999}),
        ("POST", "/api/bookings", {"customer_id": 9999, "start_time": iso(0), "end_time": iso(1)}),
        ("PATCH", "/api/leads/{lead}", {"customer_id": 9999}),
        ("POST", "/api/threads/{thread}/link", {"customer_id": 9999}),
    ],
)
async def test_an_unknown_customer_in_a_body_is_422_everywhere(
    client: httpx.AsyncClient, session: AsyncSession, method: str, path: str, body: Any
) -> None:
    lead = await make_lead(session)
    thread = await make_thread(session)
    await session.commit()
    url = path.format(lead=lead.id, thread=thread.id)
    response = await client.request(method, url, json=body)
    assert response.status_code == 422, response.text
    assert _fields(response) == ["body.customer_id"]
    assert "customer 9999 not found" in response.json()["error"]["message"]


async def test_team_names_are_one_team_whatever_the_case(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    await session.commit()
    body = {"customer_id": customer.id, "start_time": iso(0), "end_time": iso(2)}
    created = await client.post("/api/bookings", json=body | {"team": " TZ-1 "})
    assert created.status_code == 201, created.text
    assert created.json()["team"] == "tz-1"
    clash = await client.post(
        "/api/bookings", json=body | {"team": "tz-1", "start_time": iso(1), "end_time": iso(3)}
    )
    assert clash.status_code == 409
    assert clash.json()["error"]["details"]["conflicting_booking_id"] == created.json()["id"]
    listed = await client.get("/api/bookings", params={"team": "Tz-1"})
    assert [b["id"] for b in listed.json()["items"]] == [created.json()["id"]]
    other = await client.post(
        "/api/bookings", json=body | {"team": "TZ-2", "start_time": iso(4), "end_time": iso(5)}
    )
    moved = await client.patch(
        f"/api/bookings/{other.json()['id']}",
        json={"team": "TZ-1", "start_time": iso(1), "end_time": iso(2)},
    )
    assert moved.status_code == 409


async def test_an_api_lead_with_an_email_joins_the_customer_with_that_email(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    known = await make_customer(session, email="ida@example.dk", name=None, phone=None)
    await session.commit()
    lead = await client.post(
        "/api/leads",
        json={"name": "Ida Holm", "email": "IDA@example.dk", "phone": "22 33 44 55"},
    )
    assert lead.status_code == 201, lead.text
    assert lead.json()["customer_id"] == known.id
    customer = (await client.get(f"/api/customers/{known.id}")).json()
    # As for a mailed lead: empty fields are filled, the lead counts.
    assert (customer["name"], customer["phone"]) == ("Ida Holm", "+4522334455")
    assert customer["total_leads"] == 1


async def test_an_api_lead_with_a_new_email_creates_its_customer_once(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    first = await client.post("/api/leads", json={"name": "Bo Bæk", "email": "bo@example.dk"})
    second = await client.post("/api/leads", json={"email": "bo@example.dk", "city": "Aarhus"})
    assert first.status_code == second.status_code == 201
    customer_id = first.json()["customer_id"]
    assert customer_id is not None
    assert second.json()["customer_id"] == customer_id
    customer = (await client.get(f"/api/customers/{customer_id}")).json()
    assert (customer["email"], customer["name"], customer["total_leads"]) == (
        "bo@example.dk",
        "Bo Bæk",
        2,
    )
    anonymous = await client.post("/api/leads", json={"name": "Uden mail", "phone": "22000000"})
    assert anonymous.json()["customer_id"] is None
    count = len((await session.execute(select(Customer.id))).all())
    await session.commit()
    assert count == 1


async def test_a_named_customer_wins_over_the_email(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    named = await make_customer(session)
    await make_customer(session, email="ida@example.dk")
    await session.commit()
    lead = await client.post(
        "/api/leads", json={"email": "ida@example.dk", "customer_id": named.id}
    )
    assert lead.json()["customer_id"] == named.id


async def test_a_moved_lead_takes_its_bookings_along_and_a_detached_one_leaves_them(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    home, other = await make_customer(session), await make_customer(session)
    lead = await make_lead(session, customer_id=home.id, received_at=T0)
    await session.commit()
    booking = await client.post(
        "/api/bookings",
        json={"customer_id": home.id, "lead_id": lead.id, "start_time": iso(0), "end_time": iso(1)},
    )
    assert booking.status_code == 201
    moved = await client.patch(f"/api/leads/{lead.id}", json={"customer_id": other.id})
    assert moved.status_code == 200, moved.text
    path = f"/api/bookings/{booking.json()['id']}"
    assert (await client.get(path)).json()["customer_id"] == other.id
    totals = [
        (await client.get(f"/api/customers/{c.id}")).json()["total_bookings"] for c in (home, other)
    ]
    assert totals == [0, 1]
    detached = await client.patch(f"/api/leads/{lead.id}", json={"customer_id": None})
    assert detached.status_code == 200
    kept = (await client.get(path)).json()
    assert (kept["customer_id"], kept["lead_id"]) == (other.id, lead.id)


async def test_moving_a_lead_with_bookings_to_an_unknown_customer_is_422_and_moves_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    home = await make_customer(session)
    lead = await make_lead(session, customer_id=home.id, received_at=T0)
    booking = await make_booking(session, customer=home, start=0, end=1, lead_id=lead.id)
    await session.commit()
    response = await client.patch(f"/api/leads/{lead.id}", json={"customer_id": 9999})
    assert response.status_code == 422, response.text
    assert _fields(response) == ["body.customer_id"]
    assert (await client.get(f"/api/bookings/{booking.id}")).json()["customer_id"] == home.id


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        # Bookings stay on their customer (a lead moves them): a customer_id here did nothing.
        ("PATCH", "/api/bookings/{booking}", {"customer_id": 1}, "body.customer_id"),
        ("POST", "/api/customers", {"name": "Ulla", "mobile": "22334455"}, "body.mobile"),
        ("PATCH", "/api/customers/{customer}", {"id": 5}, "body.id"),
        ("POST", "/api/leads", {"name": "Ulla", "created_at": iso(0)}, "body.created_at"),
        ("PATCH", "/api/leads/{lead}", {"stauts": "won"}, "body.stauts"),
        ("POST", "/api/threads/{thread}/link", {"customer": 1}, "body.customer"),
        ("POST", "/api/sync", {"fulll": True}, "body.fulll"),
    ],
)
async def test_an_unknown_field_in_a_body_is_a_422_naming_it_and_changes_nothing(
    client: httpx.AsyncClient,
    session: AsyncSession,
    method: str,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    customer = await make_customer(session)
    lead = await make_lead(session, customer_id=customer.id)
    booking = await make_booking(session, customer=customer, start=0, end=1)
    thread = await make_thread(session)
    await session.commit()
    url = path.format(booking=booking.id, customer=customer.id, lead=lead.id, thread=thread.id)
    before = {
        name: (await client.get(f"/api/{name}")).json()["total"]
        for name in ("customers", "leads", "bookings")
    }
    response = await client.request(method, url, json=body)
    assert response.status_code == 422, response.text
    assert field in _fields(response)
    after = {
        name: (await client.get(f"/api/{name}")).json()["total"]
        for name in ("customers", "leads", "bookings")
    }
    assert after == before
    assert (await client.get(f"/api/bookings/{booking.id}")).json()["customer_id"] == customer.id
