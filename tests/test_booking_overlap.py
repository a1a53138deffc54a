"""The overlap rule: two active bookings of one team never overlap, even under concurrent writes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow.db import sqlstate
from leadflow.models import Booking, BookingStatus, Customer
from tests.factories_bookings import at, iso, make_booking, make_customer


async def _customers(session: AsyncSession, n: int) -> list[Customer]:
    customers = [await make_customer(session) for _ in range(n)]
    await session.commit()
    return customers


def _booking(customer: Customer, start: float, end: float, **fields: Any) -> dict[str, Any]:
    return {"customer_id": customer.id, "start_time": iso(start), "end_time": iso(end)} | fields


async def _post_together(
    client: httpx.AsyncClient, *bodies: dict[str, Any]
) -> list[httpx.Response]:
    return list(await asyncio.gather(*(client.post("/api/bookings", json=b) for b in bodies)))


def _one_winner(responses: list[httpx.Response]) -> tuple[httpx.Response, httpx.Response]:
    """Return (winner, loser) after checking exactly one got 201 and the other 409."""
    assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
    winner = next(r for r in responses if r.status_code == 201)
    loser = next(r for r in responses if r.status_code == 409)
    return winner, loser


def _conflicting_id(response: httpx.Response) -> int:
    error = response.json()["error"]
    booking_id: int = error["details"]["conflicting_booking_id"]
    assert f"booking {booking_id}" in error["message"]
    return booking_id


async def test_it_names_the_booking_an_overlapping_create_collides_with(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    (customer,) = await _customers(session, 1)
    first = await client.post("/api/bookings", json=_booking(customer, 0, 3))
    second = await client.post("/api/bookings", json=_booking(customer, 2, 5))
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "conflict"
    assert _conflicting_id(second) == first.json()["id"]


async def test_only_one_of_two_concurrent_overlapping_creates_wins(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    (customer,) = await _customers(session, 1)
    responses = await _post_together(client, _booking(customer, 0, 3), _booking(customer, 1, 4))
    winner, loser = _one_winner(responses)
    assert _conflicting_id(loser) == winner.json()["id"]
    listed = await client.get("/api/bookings")
    assert [b["id"] for b in listed.json()["items"]] == [winner.json()["id"]]


async def test_only_one_of_two_concurrent_creates_for_different_customers_wins(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    alice, bob = await _customers(session, 2)
    responses = await _post_together(
        client, _booking(alice, 0, 3, team="øst"), _booking(bob, 2, 6, team="øst")
    )
    winner, loser = _one_winner(responses)
    assert _conflicting_id(loser) == winner.json()["id"]


async def test_concurrent_overlapping_creates_for_different_teams_both_succeed(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    alice, bob = await _customers(session, 2)
    responses = await _post_together(
        client, _booking(alice, 0, 3, team="nord"), _booking(bob, 0, 3, team="syd")
    )
    assert [r.status_code for r in responses] == [201, 201]


async def test_concurrent_back_to_back_creates_both_succeed(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    alice, bob = await _customers(session, 2)
    responses = await _post_together(client, _booking(alice, 0, 2), _booking(bob, 2, 4))
    assert [r.status_code for r in responses] == [201, 201]


async def test_a_cancelled_booking_frees_its_slot(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    (customer,) = await _customers(session, 1)
    first = (await client.post("/api/bookings", json=_booking(customer, 0, 3))).json()
    assert (await client.post("/api/bookings", json=_booking(customer, 0, 3))).status_code == 409
    await client.post(f"/api/bookings/{first['id']}/cancel")
    again = await client.post("/api/bookings", json=_booking(customer, 0, 3))
    assert again.status_code == 201, again.text


async def test_completed_and_cancelled_bookings_do_not_block_a_slot(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    await make_booking(session, customer=customer, start=0, end=3, status=BookingStatus.COMPLETED)
    await make_booking(session, customer=customer, start=0, end=3, status=BookingStatus.CANCELLED)
    await session.commit()
    response = await client.post("/api/bookings", json=_booking(customer, 1, 2))
    assert response.status_code == 201, response.text


async def test_rescheduling_into_an_occupied_slot_is_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    (customer,) = await _customers(session, 1)
    occupied = (await client.post("/api/bookings", json=_booking(customer, 0, 3))).json()
    moving = (await client.post("/api/bookings", json=_booking(customer, 5, 7))).json()
    response = await client.patch(
        f"/api/bookings/{moving['id']}", json={"start_time": iso(2), "end_time": iso(4)}
    )
    assert response.status_code == 409
    assert _conflicting_id(response) == occupied["id"]
    unchanged = (await client.get(f"/api/bookings/{moving['id']}")).json()
    assert unchanged["start_time"] == moving["start_time"]


async def test_moving_to_a_busy_team_is_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    (customer,) = await _customers(session, 1)
    busy = (await client.post("/api/bookings", json=_booking(customer, 0, 3, team="a"))).json()
    moving = (await client.post("/api/bookings", json=_booking(customer, 0, 3, team="b"))).json()
    response = await client.patch(f"/api/bookings/{moving['id']}", json={"team": "a"})
    assert response.status_code == 409
    assert _conflicting_id(response) == busy["id"]


async def test_a_booking_may_be_moved_over_its_own_old_slot(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    (customer,) = await _customers(session, 1)
    booking = (await client.post("/api/bookings", json=_booking(customer, 0, 3))).json()
    moved = await client.patch(
        f"/api/bookings/{booking['id']}", json={"start_time": iso(1), "end_time": iso(4)}
    )
    assert moved.status_code == 200, moved.text


async def test_concurrent_reschedules_into_one_free_slot_let_only_one_win(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    alice, bob = await _customers(session, 2)
    first = (await client.post("/api/bookings", json=_booking(alice, 0, 1))).json()
    second = (await client.post("/api/bookings", json=_booking(bob, 1, 2))).json()
    target = {"start_time": iso(5), "end_time": iso(7)}
    responses = await asyncio.gather(
        client.patch(f"/api/bookings/{first['id']}", json=target),
        client.patch(f"/api/bookings/{second['id']}", json=target),
    )
    assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]


@pytest.mark.postgres_only
async def test_the_database_itself_rejects_one_of_two_concurrent_overlapping_inserts(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    alice, bob = await _customers(session, 2)

    async def insert(customer: Customer, start: float, end: float) -> None:
        async with sessionmaker() as own, own.begin():
            own.add(Booking(customer_id=customer.id, start_time=at(start), end_time=at(end)))

    results = await asyncio.gather(insert(alice, 0, 3), insert(bob, 2, 5), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1, results
    (error,) = errors
    # Inserts that reach the constraint at the same instant wait for each other, and PostgreSQL
    # breaks that off as a deadlock instead (bookings.service tries such a write again).
    if isinstance(error, DBAPIError) and sqlstate(error) == "40P01":
        return
    assert isinstance(error, IntegrityError)
    assert "ex_bookings_team_no_overlap" in str(error)


@pytest.mark.postgres_only
async def test_a_create_blocked_by_a_concurrent_insert_gets_409_naming_it(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """The API's pre-check cannot see an uncommitted rival; the exclusion constraint catches it."""
    async with sessionmaker() as setup:
        alice, bob = await _customers(setup, 2)
    async with sessionmaker() as rival_session, rival_session.begin():
        rival = await make_booking(rival_session, customer=alice, start=0, end=3)
        request = asyncio.create_task(client.post("/api/bookings", json=_booking(bob, 1, 2)))
        await _wait_for_api_lock_wait(sessionmaker, request)
    response = await request
    assert response.status_code == 409, response.text
    assert _conflicting_id(response) == rival.id


async def _wait_for_api_lock_wait(
    sessionmaker: async_sessionmaker[AsyncSession], request: asyncio.Task[Any]
) -> None:
    """Return once the API's insert waits on our uncommitted row (polls pg_stat_activity)."""
    probe = text(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'leadflow-api' "
        "AND datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with sessionmaker() as watcher:
        for _ in range(500):
            assert not request.done(), request.result().text
            if (await watcher.execute(probe)).scalar_one():
                return
            await watcher.rollback()
            await asyncio.sleep(0.01)
    pytest.fail("the API request never waited on the rival's row")
