"""Racing requests on one row: real parallel requests through the ASGI app.

`asyncio.gather` runs each request in its own task with its own session and database
connection, so on PostgreSQL the transactions interleave for real (READ COMMITTED). On SQLite
every transaction starts with BEGIN IMMEDIATE and writers queue; the same tests run there and
must give the same answers. Each race is run for several rounds: one lucky interleaving proves
little. Nothing here sleeps to provoke or avoid a race.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.models import Booking, Customer, EmailThread, Lead
from tests.factories_bookings import iso, make_customer, make_lead, make_mailbox, make_thread

ROUNDS = 8
T0 = datetime(2031, 3, 3, 8, 0, tzinfo=UTC)


async def _together(*requests: Awaitable[httpx.Response]) -> list[httpx.Response]:
    return list(await asyncio.gather(*requests))


def _statuses(responses: list[httpx.Response]) -> list[int]:
    return sorted(r.status_code for r in responses)


async def _counters_are_true(session: AsyncSession) -> None:
    """Every customer's total_leads, total_bookings and last_contact_at match the rows."""
    fresh = select(Customer).execution_options(populate_existing=True)
    for customer in (await session.execute(fresh)).scalars():
        leads = await session.scalar(select(func.count()).where(Lead.customer_id == customer.id))
        bookings = await session.scalar(
            select(func.count()).where(
                Booking.customer_id == customer.id, Booking.status != "cancelled"
            )
        )
        threads_last = await session.scalar(
            select(func.max(EmailThread.last_message_at)).where(
                EmailThread.customer_id == customer.id
            )
        )
        leads_last = await session.scalar(
            select(func.max(Lead.received_at)).where(Lead.customer_id == customer.id)
        )
        latest = max((d for d in (threads_last, leads_last) if d is not None), default=None)
        assert (customer.total_leads, customer.total_bookings) == (leads, bookings), customer.id
        assert customer.last_contact_at == latest, customer.id
    await session.commit()  # ends the read (SQLite: frees the write lock)


async def test_won_and_spam_at_once_leave_the_lead_in_the_status_that_answered_200(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    for _ in range(ROUNDS):
        lead = await make_lead(session)
        await session.commit()
        path = f"/api/leads/{lead.id}"
        responses = await _together(
            client.patch(path, json={"status": "won"}), client.patch(path, json={"status": "spam"})
        )
        # Neither won → spam nor spam → won is allowed: the second one in must be refused.
        assert _statuses(responses) == [200, 409], [r.text for r in responses]
        winner = next(r for r in responses if r.status_code == 200).json()["status"]
        assert (await client.get(path)).json()["status"] == winner


async def test_moving_one_lead_two_ways_at_once_keeps_every_total_right(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    for _ in range(ROUNDS):
        home, left, right = [await make_customer(session) for _ in range(3)]
        lead = await make_lead(session, customer_id=home.id, received_at=T0)
        await session.commit()
        path = f"/api/leads/{lead.id}"
        responses = await _together(
            client.patch(path, json={"customer_id": left.id}),
            client.patch(path, json={"customer_id": right.id}),
        )
        assert _statuses(responses) == [200, 200], [r.text for r in responses]
        await _counters_are_true(session)
        totals = [
            (await client.get(f"/api/customers/{c.id}")).json()["total_leads"]
            for c in (home, left, right)
        ]
        assert sorted(totals) == [0, 0, 1]


async def test_linking_one_thread_to_two_customers_at_once_gives_one_last_contact(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    mailbox = await make_mailbox(session)
    for _ in range(ROUNDS):
        first, second = await make_customer(session), await make_customer(session)
        thread = await make_thread(session, mailbox=mailbox, last_message_at=T0)
        await session.commit()
        path = f"/api/threads/{thread.id}/link"
        responses = await _together(
            client.post(path, json={"customer_id": first.id}),
            client.post(path, json={"customer_id": second.id}),
        )
        assert _statuses(responses) == [200, 200], [r.text for r in responses]
        owner = (await client.get(f"/api/threads/{thread.id}")).json()["customer_id"]
        contacts = {
            c.id: (await client.get(f"/api/customers/{c.id}")).json()["last_contact_at"]
            for c in (first, second)
        }
        assert contacts[owner] is not None
        assert [cid for cid, at in contacts.items() if at is not None] == [owner]
        await _counters_are_true(session)


async def test_a_link_and_an_unlink_of_one_thread_at_once_leave_one_of_them_whole(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    mailbox = await make_mailbox(session)
    for _ in range(ROUNDS):
        before, after = await make_customer(session), await make_customer(session)
        thread = await make_thread(session, mailbox=mailbox, last_message_at=T0)
        await session.commit()
        assert (
            await client.post(f"/api/threads/{thread.id}/link", json={"customer_id": before.id})
        ).status_code == 200
        responses = await _together(
            client.post(f"/api/threads/{thread.id}/link", json={"customer_id": after.id}),
            client.delete(f"/api/threads/{thread.id}/link"),
        )
        assert _statuses(responses) == [200, 200], [r.text for r in responses]
        state = (await client.get(f"/api/threads/{thread.id}")).json()
        # Either the link or the unlink came last, whole: never the old customer back.
        assert (state["customer_id"], state["is_matched"]) in ((after.id, True), (None, False))
        assert state["matched_by"] == "manual"
        contacts = {
            c.id: (await client.get(f"/api/customers/{c.id}")).json()["last_contact_at"]
            for c in (before, after)
        }
        assert contacts[before.id] is None
        assert (contacts[after.id] is not None) == (state["customer_id"] == after.id)
        await _counters_are_true(session)


async def test_deleting_a_customer_while_a_booking_is_made_never_loses_the_booking(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    promised = 0
    for round_ in range(ROUNDS):
        session.expunge_all()  # SQLite hands a deleted customer's id to the next one
        customer = await make_customer(session)
        await session.commit()
        body = {"customer_id": customer.id, "start_time": iso(round_), "end_time": iso(round_ + 1)}
        deleted, booked = await _together(
            client.delete(f"/api/customers/{customer.id}"), client.post("/api/bookings", json=body)
        )
        if booked.status_code == 201:
            # The booking was promised: the delete must have been refused, and it still exists.
            promised += 1
            assert deleted.status_code == 409, deleted.text
            assert (await client.get(f"/api/bookings/{booked.json()['id']}")).status_code == 200
        else:
            assert deleted.status_code == 204, deleted.text
            assert booked.status_code == 422, booked.text
            assert booked.json()["error"]["details"][0]["field"] == "body.customer_id"
        assert await session.scalar(select(func.count(Booking.id))) == promised
        await session.commit()  # ends the read (SQLite: frees the write lock)


async def test_marking_two_leads_duplicates_of_each_other_at_once_makes_no_cycle(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    for _ in range(ROUNDS):
        customer = await make_customer(session)
        first = await make_lead(session, customer_id=customer.id, received_at=T0)
        second = await make_lead(
            session, customer_id=customer.id, received_at=T0 + timedelta(hours=1)
        )
        await session.commit()
        responses = await _together(
            client.patch(f"/api/leads/{first.id}", json={"duplicate_of_id": second.id}),
            client.patch(f"/api/leads/{second.id}", json={"duplicate_of_id": first.id}),
        )
        # Only the later lead may be the duplicate; the other request is refused either way.
        assert _statuses(responses) == [200, 409], [r.text for r in responses]
        rows = await session.execute(
            select(Lead.id, Lead.duplicate_of_id).where(Lead.id.in_([first.id, second.id]))
        )
        marked = {lead_id: original for lead_id, original in rows.all()}
        await session.commit()  # ends the read (SQLite: frees the write lock)
        assert marked == {first.id: None, second.id: first.id}


async def test_a_lead_moved_while_a_booking_is_made_for_it_takes_the_booking_along(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    for round_ in range(ROUNDS):
        home, other = await make_customer(session), await make_customer(session)
        lead = await make_lead(session, customer_id=home.id, received_at=T0)
        await session.commit()
        body = {
            "customer_id": home.id,
            "lead_id": lead.id,
            "start_time": iso(round_),
            "end_time": iso(round_ + 1),
        }
        moved, booked = await _together(
            client.patch(f"/api/leads/{lead.id}", json={"customer_id": other.id}),
            client.post("/api/bookings", json=body),
        )
        assert moved.status_code == 200, moved.text
        # Booked first: the move takes it along. Moved first: the lead is another's now.
        assert booked.status_code in (201, 422), booked.text
        if booked.status_code == 201:
            fetched = (await client.get(f"/api/bookings/{booked.json()['id']}")).json()
            assert fetched["customer_id"] == other.id
        await _bookings_follow_their_leads(session)
        await _counters_are_true(session)


async def _bookings_follow_their_leads(session: AsyncSession) -> None:
    rows = await session.execute(
        select(Booking.id, Booking.customer_id, Lead.customer_id).join(
            Lead, Lead.id == Booking.lead_id
        )
    )
    await session.commit()  # ends the read (SQLite: frees the write lock)
    for booking_id, booking_customer, lead_customer in rows.all():
        assert lead_customer in (None, booking_customer), booking_id


async def test_two_spellings_of_one_team_never_double_book(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    first, second = await make_customer(session), await make_customer(session)
    await session.commit()
    for round_ in range(ROUNDS):
        start, end = iso(2 * round_), iso(2 * round_ + 1)
        responses = await _together(
            client.post(
                "/api/bookings",
                json={
                    "customer_id": first.id,
                    "team": "TZ-1",
                    "start_time": start,
                    "end_time": end,
                },
            ),
            client.post(
                "/api/bookings",
                json={
                    "customer_id": second.id,
                    "team": "tz-1",
                    "start_time": start,
                    "end_time": end,
                },
            ),
        )
        assert _statuses(responses) == [201, 409], [r.text for r in responses]


async def test_cancelling_and_completing_one_booking_at_once_lets_one_win(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    await session.commit()
    for round_ in range(ROUNDS):
        created = await client.post(
            "/api/bookings",
            json={
                "customer_id": customer.id,
                "start_time": iso(round_),
                "end_time": iso(round_ + 1),
            },
        )
        path = f"/api/bookings/{created.json()['id']}"
        responses = await _together(
            client.post(f"{path}/cancel"), client.patch(path, json={"status": "completed"})
        )
        assert _statuses(responses) == [200, 409], [r.text for r in responses]
        winner = next(r for r in responses if r.status_code == 200).json()["status"]
        assert (await client.get(path)).json()["status"] == winner
    await _counters_are_true(session)


async def test_two_new_customers_with_one_email_at_once_store_one_and_refuse_the_other(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    for n in range(ROUNDS):
        email = f"samtidig{n}@example.dk"
        body = {"name": f"Samtidig {n}", "email": email}
        responses = await _together(
            client.post("/api/customers", json=body), client.post("/api/customers", json=body)
        )
        assert _statuses(responses) == [201, 409], [r.text for r in responses]
        refused = next(r for r in responses if r.status_code == 409).json()
        assert "email" in str(refused).lower()
        stored = await session.scalar(select(func.count()).where(Customer.email == email))
        assert stored == 1
        await session.commit()


async def test_two_leads_with_one_new_email_at_once_are_both_stored_on_one_customer(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    for n in range(ROUNDS):
        email = f"ny-kunde{n}@example.dk"
        responses = await _together(
            *(
                client.post(
                    "/api/leads", json={"source": "website", "email": email, "name": f"Ny {i}"}
                )
                for i in range(2)
            )
        )
        assert _statuses(responses) == [201, 201], [r.text for r in responses]
        customers = (await session.execute(select(Customer).where(Customer.email == email))).all()
        assert len(customers) == 1
        leads = await session.scalar(select(func.count()).where(Lead.email == email))
        assert leads == 2
        await _counters_are_true(session)
