"""A booking write that PostgreSQL breaks off as a deadlock is tried again, not lost to a 409.

Two concurrent inserts that collide on the exclusion constraint at the same instant each wait
for the other's row, and PostgreSQL fails one of them with 40P01 (about 1 in 125 colliding
pairs on the test machine; `bookings.service`). Here PostgreSQL itself raises that error,
from a trigger on `bookings`, for the first N writes: the error reaches the service through
the real driver, exactly as a detected deadlock does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from leadflow.models import Booking, Customer
from tests.factories_bookings import at, iso, make_customer

pytestmark = pytest.mark.postgres_only

_INSTALL = [
    "CREATE SEQUENCE test_deadlock_budget",
    "CREATE TABLE test_deadlock_limit (n integer NOT NULL)",
    "INSERT INTO test_deadlock_limit VALUES (0)",
    """
    CREATE FUNCTION test_deadlock_first_writes() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        -- nextval is not rolled back with the failed savepoint: each write uses one
        IF nextval('test_deadlock_budget') <= (SELECT n FROM test_deadlock_limit)
        THEN
            RAISE EXCEPTION 'deadlock detected (raised by the test)'
                USING ERRCODE = 'deadlock_detected';
        END IF;
        RETURN NEW;
    END $$
    """,
    "CREATE TRIGGER test_deadlock BEFORE INSERT OR UPDATE ON bookings "
    "FOR EACH ROW EXECUTE FUNCTION test_deadlock_first_writes()",
]
_REMOVE = [
    "DROP TRIGGER IF EXISTS test_deadlock ON bookings",
    "DROP FUNCTION IF EXISTS test_deadlock_first_writes()",
    "DROP SEQUENCE IF EXISTS test_deadlock_budget",
    "DROP TABLE IF EXISTS test_deadlock_limit",
]

Deadlocks = Callable[[int], Awaitable[None]]


@pytest.fixture
async def deadlocks(engine: AsyncEngine) -> AsyncIterator[Deadlocks]:
    """`await deadlocks(n)`: the next `n` writes to bookings fail with 40P01."""

    async def arm(n: int) -> None:
        async with engine.begin() as conn:
            await conn.execute(text("SELECT setval('test_deadlock_budget', 1, false)"))
            await conn.execute(text("UPDATE test_deadlock_limit SET n = :n"), {"n": n})

    async with engine.begin() as conn:
        for statement in _REMOVE + _INSTALL:
            await conn.execute(text(statement))
    try:
        yield arm
    finally:
        async with engine.begin() as conn:
            for statement in _REMOVE:
                await conn.execute(text(statement))


async def _customer(session: AsyncSession) -> Customer:
    customer = await make_customer(session)
    await session.commit()
    return customer


async def _bookings_of(session: AsyncSession, customer: Customer) -> tuple[int, int]:
    """(booking rows, the customer's total_bookings counter) as committed."""
    await session.rollback()
    rows = await session.scalar(
        select(func.count(Booking.id)).where(Booking.customer_id == customer.id)
    )
    counter = await session.scalar(
        select(Customer.total_bookings).where(Customer.id == customer.id)
    )
    await session.rollback()  # no read lock left on bookings for the trigger's removal
    return int(rows or 0), int(counter or 0)


def _body(customer: Customer, start: float, end: float) -> dict[str, object]:
    return {"customer_id": customer.id, "start_time": iso(start), "end_time": iso(end)}


async def test_a_create_broken_off_as_a_deadlock_is_tried_again_and_stored_once(
    client: httpx.AsyncClient, session: AsyncSession, deadlocks: Deadlocks
) -> None:
    customer = await _customer(session)
    await deadlocks(2)
    response = await client.post("/api/bookings", json=_body(customer, 0, 3))
    assert response.status_code == 201, response.text
    assert await _bookings_of(session, customer) == (1, 1)


async def test_a_reschedule_broken_off_as_a_deadlock_is_tried_again(
    client: httpx.AsyncClient, session: AsyncSession, deadlocks: Deadlocks
) -> None:
    customer = await _customer(session)
    booking = (await client.post("/api/bookings", json=_body(customer, 0, 3))).json()
    await deadlocks(1)
    moved = await client.patch(
        f"/api/bookings/{booking['id']}", json={"start_time": iso(4), "end_time": iso(6)}
    )
    assert moved.status_code == 200, moved.text
    again = (await client.get(f"/api/bookings/{booking['id']}")).json()
    for answer in (moved.json(), again):
        times = (answer["start_time"], answer["end_time"])
        assert tuple(map(datetime.fromisoformat, times)) == (at(4), at(6))


async def test_a_write_that_keeps_deadlocking_is_a_409_to_retry_and_stores_nothing(
    client: httpx.AsyncClient, session: AsyncSession, deadlocks: Deadlocks
) -> None:
    customer = await _customer(session)
    await deadlocks(1_000)
    response = await client.post("/api/bookings", json=_body(customer, 0, 3))
    assert response.status_code == 409, response.text
    assert "send the request again" in response.json()["error"]["message"]
    assert await _bookings_of(session, customer) == (0, 0)
