"""duplicate_of: only an open, earlier lead of the same customer; no chains, no cycles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow.models import Lead, LeadStatus
from tests.factories_bookings import make_customer, make_lead

T0 = datetime(2031, 3, 3, 8, 0, tzinfo=UTC)


async def _leads(session: AsyncSession, customer_id: int | None, hours: list[int]) -> list[int]:
    ids = []
    for hour in hours:
        lead = await make_lead(
            session, customer_id=customer_id, received_at=T0 + timedelta(hours=hour)
        )
        ids.append(lead.id)
    await session.commit()
    return ids


async def _mark(client: httpx.AsyncClient, lead_id: int, original: int | None) -> httpx.Response:
    return await client.patch(f"/api/leads/{lead_id}", json={"duplicate_of_id": original})


async def _original_of(client: httpx.AsyncClient, lead_id: int) -> int | None:
    original: int | None = (await client.get(f"/api/leads/{lead_id}")).json()["duplicate_of_id"]
    return original


async def _open_count(client: httpx.AsyncClient) -> int:
    stats = (await client.get("/api/dashboard/stats")).json()
    count: int = stats["leads"]["open"]
    return count


async def test_two_leads_cannot_be_duplicates_of_each_other(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    first, second = await _leads(session, customer.id, [0, 1])
    assert await _open_count(client) == 2
    assert (await _mark(client, second, first)).status_code == 200
    cycle = await _mark(client, first, second)
    assert cycle.status_code == 409, cycle.text
    assert cycle.json()["error"]["details"]["duplicate_of_id"] == second
    assert await _original_of(client, first) is None
    assert await _open_count(client) == 1  # one request, counted once


async def test_a_chain_collapses_to_its_root(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    root, middle, last = await _leads(session, customer.id, [0, 1, 2])
    assert (await _mark(client, middle, root)).status_code == 200
    marked = await _mark(client, last, middle)
    assert marked.status_code == 200, marked.text
    assert marked.json()["duplicate_of_id"] == root


async def test_duplicates_of_a_lead_that_becomes_a_duplicate_move_to_the_new_root(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    root, middle, last = await _leads(session, customer.id, [0, 1, 2])
    assert (await _mark(client, last, middle)).status_code == 200
    assert (await _mark(client, middle, root)).status_code == 200
    assert await _original_of(client, last) == root
    assert await _open_count(client) == 1


async def test_a_won_or_closed_lead_cannot_be_the_original(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    won, lost, later = await _leads(session, customer.id, [0, 1, 2])
    await client.patch(f"/api/leads/{won}", json={"status": "won"})
    await client.patch(f"/api/leads/{lost}", json={"status": "lost"})
    for closed in (won, lost):
        refused = await _mark(client, later, closed)
        assert refused.status_code == 409, refused.text
        assert "not open" in refused.json()["error"]["message"]


async def test_the_original_must_be_earlier_and_of_the_same_customer(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    mine, other = await make_customer(session), await make_customer(session)
    early, late = await _leads(session, mine.id, [0, 5])
    (elsewhere,) = await _leads(session, other.id, [1])
    assert (await _mark(client, early, late)).status_code == 409
    assert (await _mark(client, late, elsewhere)).status_code == 409
    assert await _original_of(client, early) is None
    assert await _original_of(client, late) is None


async def test_a_lead_with_duplicates_cannot_move_or_be_dated_after_them(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    mine, other = await make_customer(session), await make_customer(session)
    root, copy = await _leads(session, mine.id, [0, 1])
    assert (await _mark(client, copy, root)).status_code == 200
    moved = await client.patch(f"/api/leads/{root}", json={"customer_id": other.id})
    assert moved.status_code == 409
    assert moved.json()["error"]["details"]["duplicates"] == [copy]
    later = (T0 + timedelta(hours=2)).isoformat()
    assert (
        await client.patch(f"/api/leads/{root}", json={"received_at": later})
    ).status_code == 409
    # The duplicate itself can leave only by dropping the link in the same PATCH.
    stuck = await client.patch(f"/api/leads/{copy}", json={"customer_id": other.id})
    assert stuck.status_code == 409
    freed = await client.patch(
        f"/api/leads/{copy}", json={"customer_id": other.id, "duplicate_of_id": None}
    )
    assert freed.status_code == 200, freed.text
    assert freed.json()["duplicate_of_id"] is None


# Random edit sequences over a few leads of two customers: whatever is accepted, the stored
# links stay roots, same-customer and earlier, and every rejection is a 409 or 422.
_OPS = st.lists(
    st.tuples(
        st.integers(0, 4),
        st.sampled_from(["duplicate", "clear", "status", "move"]),
        st.integers(0, 4),
        st.sampled_from(list(LeadStatus)),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(hours=st.lists(st.integers(0, 3), min_size=5, max_size=5), ops=_OPS)
async def test_random_edits_never_leave_a_chain_a_cycle_or_a_cross_customer_link(
    client: httpx.AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    hours: list[int],
    ops: list[tuple[int, str, int, LeadStatus]],
) -> None:
    async with sessionmaker() as setup:
        customers = [(await make_customer(setup)).id for _ in range(2)]
        leads = []
        for index, hour in enumerate(hours):
            lead = await make_lead(
                setup, customer_id=customers[index % 2], received_at=T0 + timedelta(hours=hour)
            )
            leads.append(lead.id)
        await setup.commit()
    for who, kind, other, status in ops:
        body: dict[str, Any] = {
            "duplicate": {"duplicate_of_id": leads[other]},
            "clear": {"duplicate_of_id": None},
            "status": {"status": status.value},
            "move": {"customer_id": customers[other % 2]},
        }[kind]
        response = await client.patch(f"/api/leads/{leads[who]}", json=body)
        assert response.status_code in (200, 409, 422), response.text
        await _links_hold(sessionmaker, leads)


async def _links_hold(sessionmaker: async_sessionmaker[AsyncSession], ids: list[int]) -> None:
    async with sessionmaker() as check:
        rows = {
            lead.id: lead
            for lead in (await check.execute(select(Lead).where(Lead.id.in_(ids)))).scalars()
        }
    for lead in rows.values():
        if lead.duplicate_of_id is None:
            continue
        original = rows[lead.duplicate_of_id]
        assert original.duplicate_of_id is None, "a chain"
        assert original.customer_id == lead.customer_id, "a link across customers"
        assert (original.received_at, original.id) < (lead.received_at, lead.id), "not earlier"
