"""A time-range list of bookings returns exactly the bookings overlapping the range, whatever
their lengths: on PostgreSQL the query adds a lower bound on start_time from the longest booking
(`bookings.service.starts_within_reach`), which must never leave one out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow.bookings.service import list_query
from leadflow.models import Booking, Customer

T0 = datetime(2026, 1, 1, tzinfo=UTC)
hours = st.integers(0, 24 * 120)
periods = st.lists(st.tuples(hours, st.integers(1, 24 * 60)), min_size=1, max_size=25)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(bookings=periods, start=hours, length=st.integers(1, 24 * 30))
async def test_a_range_returns_exactly_the_overlapping_bookings(
    sessionmaker: async_sessionmaker[AsyncSession],
    bookings: list[tuple[int, int]],
    start: int,
    length: int,
) -> None:
    async with sessionmaker() as session:
        customer = Customer(name="Range", email="range@example.org")
        session.add(customer)
        await session.flush()
        await session.execute(
            insert(Booking),
            [
                {
                    "customer_id": customer.id,
                    "team": "t",
                    "status": "cancelled",  # the no-overlap rule applies to active ones only
                    "start_time": T0 + timedelta(hours=at),
                    "end_time": T0 + timedelta(hours=at + hours_long),
                }
                for at, hours_long in bookings
            ],
        )
        low, high = T0 + timedelta(hours=start), T0 + timedelta(hours=start + length)
        found = (await session.execute(list_query(ends_after=low, starts_before=high))).scalars()
        got = sorted((b.start_time, b.end_time) for b in found)
        expected = sorted(
            (T0 + timedelta(hours=at), T0 + timedelta(hours=at + n))
            for at, n in bookings
            if T0 + timedelta(hours=at) < high and T0 + timedelta(hours=at + n) > low
        )
        await session.rollback()
    assert got == expected
