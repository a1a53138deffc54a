from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.models import Customer, LeadStatus
from tests.factories_mail import make_customer, make_lead

T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


def error_fields(response: httpx.Response) -> list[str]:
    return [item["field"] for item in response.json()["error"]["details"]]


async def test_it_creates_a_manual_lead_with_normalized_contact_details(
    client: httpx.AsyncClient,
) -> None:
    before = datetime.now(UTC)
    response = await client.post(
        "/api/leads",
        json={
            "name": "Birthe Østergaard",
            "email": " Birthe@Example.DK ",
            "phone": "22 33 44 55",
            "square_meters": 85.5,
            "rooms": 3,
            "preferred_date": "2025-04-01",
            "message": "Flytterengøring, tak",
        },
    )
    after = datetime.now(UTC)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["source"] == "manual"
    assert body["status"] == "new"
    assert body["email"] == "birthe@example.dk"
    assert body["phone"] == "+4522334455"
    assert body["needs_review"] is False
    assert body["duplicate_of_id"] is None
    assert body["preferred_date"] == "2025-04-01"
    assert before <= datetime.fromisoformat(body["received_at"]) <= after
    fetched = await client.get(f"/api/leads/{body['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == body


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"phone": "12"}, "body.phone"),
        ({"email": "not-an-email"}, "body.email"),
        ({"received_at": "2025-03-10T09:00:00"}, "body.received_at"),
        ({"source": ""}, "body.source"),
        ({"rooms": -1}, "body.rooms"),
        ({"customer_id": "abc"}, "body.customer_id"),
        # asyncpg stores date.max and date.min as infinity: refused, as every out-of-range day.
        ({"preferred_date": "9999-12-31"}, "body.preferred_date"),
        ({"preferred_date": "0001-01-01"}, "body.preferred_date"),
        ({"preferred_date": "2101-01-01"}, "body.preferred_date"),
    ],
)
async def test_it_rejects_a_lead_with_a_bad_field(
    client: httpx.AsyncClient, payload: dict[str, Any], field: str
) -> None:
    response = await client.post("/api/leads", json={"name": "Ulla", **payload})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    assert field in error_fields(response)


async def test_it_refuses_a_lead_for_a_customer_that_does_not_exist(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/leads", json={"name": "Ulla", "customer_id": 9999})
    assert response.status_code == 422  # a body naming a missing row; 404 is for the path
    assert "customer 9999" in response.json()["error"]["message"]
    assert error_fields(response) == ["body.customer_id"]
    listed = await client.get("/api/leads")
    assert listed.json()["total"] == 0


async def test_it_counts_a_new_lead_on_its_customer(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session, total_leads=2, last_contact_at=T0)
    for _ in range(2):
        await make_lead(session, customer_id=customer.id, received_at=T0)
    await session.commit()

    newer = await client.post(
        "/api/leads",
        json={"customer_id": customer.id, "received_at": (T0 + timedelta(days=1)).isoformat()},
    )
    older = await client.post(
        "/api/leads",
        json={"customer_id": customer.id, "received_at": (T0 - timedelta(days=5)).isoformat()},
    )
    assert newer.status_code == older.status_code == 201

    fetched = (await client.get(f"/api/customers/{customer.id}")).json()
    assert fetched["total_leads"] == 4
    # An older lead entered late must not move the last contact backwards.
    assert datetime.fromisoformat(fetched["last_contact_at"]) == T0 + timedelta(days=1)


async def test_it_sets_the_first_contact_of_a_customer_without_one(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    await session.commit()
    response = await client.post(
        "/api/leads", json={"customer_id": customer.id, "received_at": T0.isoformat()}
    )
    assert response.status_code == 201
    fetched = (await client.get(f"/api/customers/{customer.id}")).json()
    assert fetched["total_leads"] == 1
    assert datetime.fromisoformat(fetched["last_contact_at"]) == T0


async def test_it_answers_404_for_a_missing_lead(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/leads/4242")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_it_lists_leads_newest_first_with_total_and_next_link(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    ids = [(await make_lead(session, received_at=T0 + timedelta(hours=h))).id for h in range(5)]
    await make_lead(session, received_at=None)
    await session.commit()

    first = await client.get("/api/leads", params={"limit": 2})
    assert first.status_code == 200
    body = first.json()
    assert body["total"] == 6
    assert [item["id"] for item in body["items"]] == [ids[4], ids[3]]
    assert body["next"] is not None

    second = await client.get(body["next"])
    assert [item["id"] for item in second.json()["items"]] == [ids[2], ids[1]]
    last = await client.get("/api/leads", params={"limit": 2, "offset": 4})
    assert last.json()["next"] is None
    assert last.json()["items"][-1]["received_at"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 201}, "query.limit"),
        ({"offset": -1}, "query.offset"),
        ({"status": "maybe"}, "query.status.0"),
        ({"received_from": "2025-03-10T09:00:00"}, "query.received_from"),
        ({"received_to": "yesterday"}, "query.received_to"),
        (
            {"received_from": "2025-03-11T00:00:00Z", "received_to": "2025-03-10T00:00:00Z"},
            "query.received_to",
        ),
    ],
)
async def test_it_rejects_bad_list_parameters(
    client: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    response = await client.get("/api/leads", params=params)
    assert response.status_code == 422, response.text
    assert field in error_fields(response)


async def test_it_filters_leads_by_status_source_date_and_review_flag(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    new = await make_lead(session, status=LeadStatus.NEW, source="leadpoint", received_at=T0)
    won = await make_lead(
        session, status=LeadStatus.WON, source="manual", received_at=T0 + timedelta(days=1)
    )
    spam = await make_lead(
        session,
        status=LeadStatus.SPAM,
        source="leadpoint",
        received_at=T0 + timedelta(days=2),
        needs_review=True,
    )
    await session.commit()

    async def ids(**params: Any) -> list[int]:
        response = await client.get("/api/leads", params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await ids(status=["new", "spam"]) == [spam.id, new.id]
    assert await ids(status="won") == [won.id]
    assert await ids(source="leadpoint") == [spam.id, new.id]
    assert await ids(
        received_from=(T0 + timedelta(days=1)).isoformat(),
        received_to=(T0 + timedelta(days=2)).isoformat(),
    ) == [won.id]
    # 10:00 in Copenhagen is T0 in UTC; the lower bound is inclusive.
    assert await ids(received_from="2025-03-10T10:00:00+01:00") == [spam.id, won.id, new.id]
    assert await ids(received_from="2025-03-10T10:00:01+01:00") == [spam.id, won.id]
    assert await ids(needs_review="true") == [spam.id]
    assert await ids(source="leadpoint", status="new") == [new.id]


async def test_it_edits_a_lead(client: httpx.AsyncClient, session: AsyncSession) -> None:
    lead = await make_lead(session, name="Old Name", city="Aarhus")
    await session.commit()
    response = await client.patch(
        f"/api/leads/{lead.id}",
        json={"name": "Ny Navn", "phone": "+45 40 50 60 70", "needs_review": True, "city": None},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "Ny Navn"
    assert body["phone"] == "+4540506070"
    assert body["needs_review"] is True
    assert body["city"] is None
    assert body["email"] == lead.email


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (LeadStatus.NEW, LeadStatus.CONTACTED),
        (LeadStatus.CONTACTED, LeadStatus.QUOTED),
        (LeadStatus.QUOTED, LeadStatus.WON),
        (LeadStatus.QUOTED, LeadStatus.CONTACTED),
        (LeadStatus.LOST, LeadStatus.NEW),
        (LeadStatus.SPAM, LeadStatus.NEW),
        (LeadStatus.WON, LeadStatus.WON),
    ],
)
async def test_it_allows_a_listed_status_transition(
    client: httpx.AsyncClient, session: AsyncSession, current: LeadStatus, target: LeadStatus
) -> None:
    lead = await make_lead(session, status=current)
    await session.commit()
    response = await client.patch(f"/api/leads/{lead.id}", json={"status": target.value})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == target.value


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (LeadStatus.WON, LeadStatus.NEW),
        (LeadStatus.WON, LeadStatus.LOST),
        (LeadStatus.CONTACTED, LeadStatus.NEW),
        (LeadStatus.QUOTED, LeadStatus.SPAM),
        (LeadStatus.SPAM, LeadStatus.CONTACTED),
        (LeadStatus.LOST, LeadStatus.WON),
    ],
)
async def test_it_rejects_a_bad_transition(
    client: httpx.AsyncClient, session: AsyncSession, current: LeadStatus, target: LeadStatus
) -> None:
    lead = await make_lead(session, status=current)
    await session.commit()
    response = await client.patch(
        f"/api/leads/{lead.id}", json={"status": target.value, "name": "Changed"}
    )
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert f"from {current.value} to {target.value}" in error["message"]
    assert error["details"]["from"] == current.value
    assert error["details"]["to"] == target.value
    assert target.value not in error["details"]["allowed"]
    unchanged = (await client.get(f"/api/leads/{lead.id}")).json()
    assert unchanged["status"] == current.value
    assert unchanged["name"] == lead.name


async def test_it_names_no_targets_for_a_won_lead(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    lead = await make_lead(session, status=LeadStatus.WON)
    await session.commit()
    response = await client.patch(f"/api/leads/{lead.id}", json={"status": "lost"})
    assert response.status_code == 409
    assert response.json()["error"]["details"]["allowed"] == []
    assert "final" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"status": None}, "body.status"),
        ({"status": "archived"}, "body.status"),
        ({"source": None}, "body.source"),
        ({"needs_review": None}, "body.needs_review"),
        ({"phone": "not a phone"}, "body.phone"),
        ({"received_at": "2025-03-10 09:00"}, "body.received_at"),
    ],
)
async def test_it_rejects_a_bad_edit(
    client: httpx.AsyncClient, session: AsyncSession, payload: dict[str, Any], field: str
) -> None:
    lead = await make_lead(session)
    await session.commit()
    response = await client.patch(f"/api/leads/{lead.id}", json=payload)
    assert response.status_code == 422, response.text
    assert field in error_fields(response)


async def test_it_answers_404_when_editing_a_missing_lead(client: httpx.AsyncClient) -> None:
    response = await client.patch("/api/leads/4242", json={"name": "Nobody"})
    assert response.status_code == 404


async def test_it_moves_the_lead_count_when_the_customer_changes(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    old = await make_customer(session, total_leads=1, last_contact_at=T0)
    new = await make_customer(session)
    lead = await make_lead(session, customer_id=old.id, received_at=T0)
    await session.commit()

    moved = await client.patch(f"/api/leads/{lead.id}", json={"customer_id": new.id})
    assert moved.status_code == 200, moved.text
    assert moved.json()["customer_id"] == new.id
    old_after = (await client.get(f"/api/customers/{old.id}")).json()
    new_after = (await client.get(f"/api/customers/{new.id}")).json()
    assert old_after["total_leads"] == 0
    assert old_after["last_contact_at"] is None  # its only contact moved away with the lead
    assert new_after["total_leads"] == 1
    assert datetime.fromisoformat(new_after["last_contact_at"]) == T0

    detached = await client.patch(f"/api/leads/{lead.id}", json={"customer_id": None})
    assert detached.json()["customer_id"] is None
    assert (await client.get(f"/api/customers/{new.id}")).json()["total_leads"] == 0

    missing = await client.patch(f"/api/leads/{lead.id}", json={"customer_id": 9999})
    assert missing.status_code == 422
    assert error_fields(missing) == ["body.customer_id"]


async def test_it_marks_a_lead_as_a_duplicate_of_another(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    original = await make_lead(session)
    copy = await make_lead(session)
    await session.commit()

    marked = await client.patch(f"/api/leads/{copy.id}", json={"duplicate_of_id": original.id})
    assert marked.status_code == 200
    assert marked.json()["duplicate_of_id"] == original.id

    itself = await client.patch(f"/api/leads/{copy.id}", json={"duplicate_of_id": copy.id})
    assert itself.status_code == 422
    assert "body.duplicate_of_id" in error_fields(itself)
    missing = await client.patch(f"/api/leads/{copy.id}", json={"duplicate_of_id": 9999})
    assert missing.status_code == 422
    assert error_fields(missing) == ["body.duplicate_of_id"]


async def test_it_lists_the_leads_of_one_customer(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    other: Customer = await make_customer(session)
    older = await make_lead(session, customer_id=customer.id, received_at=T0)
    newer = await make_lead(session, customer_id=customer.id, received_at=T0 + timedelta(days=1))
    await make_lead(session, customer_id=other.id, received_at=T0)
    await make_lead(session, received_at=T0)
    await session.commit()

    response = await client.get(f"/api/customers/{customer.id}/leads", params={"limit": 1})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 2
    assert [item["id"] for item in body["items"]] == [newer.id]
    following = await client.get(body["next"])
    assert [item["id"] for item in following.json()["items"]] == [older.id]


async def test_it_answers_404_for_the_leads_of_a_missing_customer(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/customers/9999/leads")
    assert response.status_code == 404
    too_many = await client.get("/api/customers/9999/leads", params={"limit": 500})
    assert too_many.status_code == 422


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/leads"),
        ("POST", "/api/leads"),
        ("GET", "/api/leads/1"),
        ("PATCH", "/api/leads/1"),
        ("GET", "/api/customers/1/leads"),
    ],
)
async def test_it_requires_a_token_for_lead_routes(
    anon_client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await anon_client.request(method, path, json={})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
