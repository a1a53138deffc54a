"""The bookings API: create, read, list with filters, update, cancel, and the customer counter."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.models import BookingStatus, Customer
from tests.factories_bookings import at, iso, make_booking, make_customer, make_lead


async def _customer(session: AsyncSession, **fields: Any) -> Customer:
    customer = await make_customer(session, **fields)
    await session.commit()
    return customer


async def _total_bookings(client: httpx.AsyncClient, customer_id: int) -> int:
    response = await client.get(f"/api/customers/{customer_id}")
    total: int = response.json()["total_bookings"]
    return total


def _booking(customer_id: int, start: float, end: float, **fields: Any) -> dict[str, Any]:
    return {"customer_id": customer_id, "start_time": iso(start), "end_time": iso(end)} | fields


async def test_it_creates_and_fetches_a_booking(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await _customer(session)
    lead = await make_lead(session, customer_id=customer.id)
    await session.commit()
    created = await client.post(
        "/api/bookings",
        json=_booking(
            customer.id,
            0,
            3,
            lead_id=lead.id,
            service_type="Flytterengøring",
            address="Testvej 1, 8000 Aarhus C",
            status="confirmed",
        ),
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["team"] == "default"
    assert body["status"] == "confirmed"
    assert body["lead_id"] == lead.id
    fetched = await client.get(f"/api/bookings/{body['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == body


async def test_it_stores_times_given_in_another_zone_as_the_same_instant(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await _customer(session)
    local_start = at(0).astimezone(ZoneInfo("Europe/Copenhagen"))
    created = await client.post(
        "/api/bookings",
        json={
            "customer_id": customer.id,
            "start_time": local_start.isoformat(),
            "end_time": iso(2),
        },
    )
    assert created.status_code == 201, created.text
    assert datetime.fromisoformat(created.json()["start_time"]) == at(0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"start_time": "2031-03-03T08:00:00"}, "body.start_time"),
        ({"end_time": "2031-03-03T10:00:00"}, "body.end_time"),
        ({"end_time": iso(0)}, "body"),
        ({"end_time": iso(-1)}, "body"),
        ({"status": "cancelled"}, "body.status"),
        ({"status": "completed"}, "body.status"),
        ({"team": "  "}, "body.team"),
        ({"customer_id": "abc"}, "body.customer_id"),
    ],
)
async def test_it_rejects_bad_input_with_field_errors(
    client: httpx.AsyncClient, session: AsyncSession, change: dict[str, Any], field: str
) -> None:
    customer = await _customer(session)
    response = await client.post("/api/bookings", json=_booking(customer.id, 0, 2) | change)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in [detail["field"] for detail in error["details"]]


async def test_it_rejects_an_unknown_customer(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/bookings", json=_booking(999_999, 0, 2))
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "body.customer_id"


async def test_it_rejects_an_unknown_lead(client: httpx.AsyncClient, session: AsyncSession) -> None:
    customer = await _customer(session)
    response = await client.post("/api/bookings", json=_booking(customer.id, 0, 2, lead_id=4242))
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "body.lead_id"


async def test_it_rejects_a_lead_of_another_customer(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    other = await make_customer(session)
    lead = await make_lead(session, customer_id=other.id)
    await session.commit()
    response = await client.post("/api/bookings", json=_booking(customer.id, 0, 2, lead_id=lead.id))
    assert response.status_code == 422
    assert str(other.id) in response.json()["error"]["message"]


async def test_it_answers_404_for_an_unknown_booking(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/api/bookings/31337"),
        await client.patch("/api/bookings/31337", json={"notes": "x"}),
        await client.post("/api/bookings/31337/cancel"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


async def test_it_requires_the_token(anon_client: httpx.AsyncClient) -> None:
    for response in (
        await anon_client.get("/api/bookings"),
        await anon_client.post("/api/bookings", json={}),
        await anon_client.get("/api/customers/1/bookings"),
    ):
        assert response.status_code == 401


async def test_it_lists_bookings_overlapping_a_range_in_start_order(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    late = await make_booking(session, customer=customer, start=10, end=12)
    early = await make_booking(session, customer=customer, start=0, end=2, team="a")
    straddling = await make_booking(session, customer=customer, start=3, end=6, team="b")
    await make_booking(session, customer=customer, start=20, end=22)
    await session.commit()
    # [4, 11): `straddling` ends inside, `late` starts inside; `early` ends before it.
    response = await client.get("/api/bookings", params={"from": iso(4), "to": iso(11)})
    assert response.status_code == 200, response.text
    assert [b["id"] for b in response.json()["items"]] == [straddling.id, late.id]
    everything = await client.get("/api/bookings")
    assert everything.json()["items"][0]["id"] == early.id
    assert everything.json()["total"] == 4


async def test_it_treats_the_range_as_half_open(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    await make_booking(session, customer=customer, start=0, end=2)
    await session.commit()
    ends_at_from = await client.get("/api/bookings", params={"from": iso(2)})
    starts_at_to = await client.get("/api/bookings", params={"to": iso(0)})
    assert ends_at_from.json()["total"] == 0
    assert starts_at_to.json()["total"] == 0


async def test_it_filters_by_customer_team_and_repeated_status(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    first = await make_customer(session)
    second = await make_customer(session)
    confirmed = await make_booking(
        session, customer=first, start=0, end=1, status=BookingStatus.CONFIRMED
    )
    cancelled = await make_booking(
        session, customer=first, start=2, end=3, status=BookingStatus.CANCELLED
    )
    await make_booking(session, customer=first, start=4, end=5, status=BookingStatus.COMPLETED)
    other_team = await make_booking(session, customer=second, start=0, end=1, team="nord")
    await session.commit()

    by_status = await client.get(
        "/api/bookings", params=[("status", "confirmed"), ("status", "cancelled")]
    )
    assert [b["id"] for b in by_status.json()["items"]] == [confirmed.id, cancelled.id]
    by_customer = await client.get("/api/bookings", params={"customer_id": second.id})
    assert [b["id"] for b in by_customer.json()["items"]] == [other_team.id]
    by_team = await client.get("/api/bookings", params={"team": "nord"})
    assert [b["id"] for b in by_team.json()["items"]] == [other_team.id]


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2031-03-03T08:00:00"},
        {"from": iso(5), "to": iso(1)},
        {"status": "done"},
        {"limit": 201},
    ],
)
async def test_it_rejects_bad_list_filters(
    client: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    response = await client.get("/api/bookings", params=params)
    assert response.status_code == 422, response.text


async def test_it_pages_through_bookings(client: httpx.AsyncClient, session: AsyncSession) -> None:
    customer = await make_customer(session)
    ids = [
        (await make_booking(session, customer=customer, start=h, end=h + 1)).id for h in range(5)
    ]
    await session.commit()
    first = (await client.get("/api/bookings", params={"limit": 2})).json()
    assert first["total"] == 5
    assert [b["id"] for b in first["items"]] == ids[:2]
    assert first["next"] is not None
    second = (await client.get(first["next"])).json()
    assert [b["id"] for b in second["items"]] == ids[2:4]
    last = (await client.get("/api/bookings", params={"limit": 2, "offset": 4})).json()
    assert [b["id"] for b in last["items"]] == ids[4:]
    assert last["next"] is None


async def test_it_lists_one_customers_bookings(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    other = await make_customer(session)
    later = await make_booking(session, customer=customer, start=5, end=6)
    sooner = await make_booking(session, customer=customer, start=1, end=2, team="syd")
    await make_booking(session, customer=other, start=1, end=2)
    await session.commit()
    response = await client.get(f"/api/customers/{customer.id}/bookings")
    assert response.status_code == 200
    assert [b["id"] for b in response.json()["items"]] == [sooner.id, later.id]
    missing = await client.get("/api/customers/999999/bookings")
    assert missing.status_code == 404


async def test_it_updates_fields_and_status(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await _customer(session)
    created = (await client.post("/api/bookings", json=_booking(customer.id, 0, 2))).json()
    response = await client.patch(
        f"/api/bookings/{created['id']}",
        json={"notes": "Nøgle under måtten", "status": "confirmed", "end_time": iso(3)},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["notes"], body["status"]) == ("Nøgle under måtten", "confirmed")
    assert (
        body["end_time"] == (await client.get(f"/api/bookings/{created['id']}")).json()["end_time"]
    )
    assert body["start_time"] == created["start_time"]


async def test_it_rejects_a_patch_that_ends_before_it_starts(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await _customer(session)
    created = (await client.post("/api/bookings", json=_booking(customer.id, 2, 4))).json()
    response = await client.patch(f"/api/bookings/{created['id']}", json={"end_time": iso(1)})
    assert response.status_code == 422


async def test_it_rejects_a_bad_status_transition(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await _customer(session)
    created = (await client.post("/api/bookings", json=_booking(customer.id, 0, 2))).json()
    done = await client.patch(f"/api/bookings/{created['id']}", json={"status": "completed"})
    assert done.status_code == 200
    back = await client.patch(f"/api/bookings/{created['id']}", json={"status": "scheduled"})
    assert back.status_code == 409
    assert "completed" in back.json()["error"]["message"]
    cancel = await client.post(f"/api/bookings/{created['id']}/cancel")
    assert cancel.status_code == 409
    moved = await client.patch(f"/api/bookings/{created['id']}", json={"start_time": iso(1)})
    assert moved.status_code == 409


async def test_it_cancels_idempotently(client: httpx.AsyncClient, session: AsyncSession) -> None:
    customer = await _customer(session)
    created = (await client.post("/api/bookings", json=_booking(customer.id, 0, 2))).json()
    first = await client.post(f"/api/bookings/{created['id']}/cancel")
    second = await client.post(f"/api/bookings/{created['id']}/cancel")
    assert first.status_code == second.status_code == 200
    assert second.json()["status"] == "cancelled"
    assert await _total_bookings(client, customer.id) == 0


async def test_it_keeps_the_customers_booking_count_to_the_non_cancelled_ones(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await _customer(session)
    ids = []
    for hour in (0, 2, 4):
        response = await client.post("/api/bookings", json=_booking(customer.id, hour, hour + 1))
        ids.append(response.json()["id"])
    assert await _total_bookings(client, customer.id) == 3
    await client.patch(f"/api/bookings/{ids[0]}", json={"status": "completed"})
    assert await _total_bookings(client, customer.id) == 3
    await client.post(f"/api/bookings/{ids[1]}/cancel")
    await client.patch(f"/api/bookings/{ids[2]}", json={"status": "cancelled"})
    assert await _total_bookings(client, customer.id) == 1


async def test_of_a_concurrent_cancel_and_completion_only_one_wins(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await _customer(session)
    created = (await client.post("/api/bookings", json=_booking(customer.id, 0, 2))).json()
    responses = await asyncio.gather(
        client.post(f"/api/bookings/{created['id']}/cancel"),
        client.patch(f"/api/bookings/{created['id']}", json={"status": "completed"}),
    )
    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    final = (await client.get(f"/api/bookings/{created['id']}")).json()["status"]
    winner = next(r for r in responses if r.status_code == 200).json()["status"]
    assert final == winner
    assert await _total_bookings(client, customer.id) == (0 if final == "cancelled" else 1)
