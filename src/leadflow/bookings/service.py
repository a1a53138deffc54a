"""Booking queries and writes, including the no-overlap rule. The caller owns the transaction.

Overlap rule: two active (scheduled/confirmed) bookings of one team never overlap; intervals are
half-open [start, end), so back-to-back bookings are fine. Team names compare case-insensitively:
they are stored trimmed and lower-cased (`TZ-1` and `tz-1` are one team), by the API schema and
by the model for any other writer, so the database constraint compares them as they are.

We first look for a conflicting booking (to name it in the 409). That check alone is race-free
on SQLite, where every transaction starts with BEGIN IMMEDIATE. On PostgreSQL two transactions
can both pass it; the exclusion constraint `ex_bookings_team_no_overlap` then rejects the second
write, which we turn into the same 409. When the two inserts reach the constraint at the same
instant, each finds the other's uncommitted row and waits for it: PostgreSQL breaks that wait
with a deadlock error (40P01) for one of them (about 1 in 125 colliding pairs on the 2-core
test machine). The loser's savepoint is rolled back and its write tried again, which then waits
for the winner and ends in the named 409 (or succeeds, if the winner rolled back).

`customers.total_bookings` counts the customer's bookings that are not cancelled (completed ones
count). It is recomputed in SQL after every write that can change it, under a row lock on the
customer, so concurrent writes cannot lose an update.

Locks (order as in `models.locks`): a booking's lead FOR SHARE (its customer cannot change while
we check it), then the booking to change, then the customer. A booking can only be made for a
customer that still exists at commit: the customer is locked against deletion before the insert.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Select, literal, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from leadflow.api.bounds import utc_text
from leadflow.bookings.schemas import BookingCreate, BookingUpdate
from leadflow.customers import service as customer_service
from leadflow.customers.counters import refresh_counters
from leadflow.db import sqlstate
from leadflow.errors import Conflict, NotFound, Unprocessable
from leadflow.models import ACTIVE_BOOKING_STATUSES, Booking, BookingStatus, Lead, UTCDateTime
from leadflow.models.locks import lock_against_change, lock_for_update
from leadflow.models.tables import normalise_team

log = logging.getLogger(__name__)

EXCLUSION_VIOLATION = "23P01"
DEADLOCK_DETECTED = "40P01"
# Tries of one booking write after the first that PostgreSQL broke off as a deadlock.
_DEADLOCK_RETRIES = 3
_ACTIVE = tuple(ACTIVE_BOOKING_STATUSES)
_TRANSITIONS: dict[BookingStatus, frozenset[BookingStatus]] = {
    BookingStatus.SCHEDULED: frozenset(
        {BookingStatus.CONFIRMED, BookingStatus.COMPLETED, BookingStatus.CANCELLED}
    ),
    BookingStatus.CONFIRMED: frozenset(
        {BookingStatus.SCHEDULED, BookingStatus.COMPLETED, BookingStatus.CANCELLED}
    ),
    BookingStatus.COMPLETED: frozenset(),
    BookingStatus.CANCELLED: frozenset(),
}


def list_query(
    *,
    starts_before: datetime | None = None,
    ends_after: datetime | None = None,
    customer_id: int | None = None,
    statuses: Sequence[BookingStatus] = (),
    team: str | None = None,
) -> Select[Any]:
    """Bookings matching the filters, by start time; a time range keeps those overlapping it."""
    stmt = select(Booking)
    if starts_before is not None:
        stmt = stmt.where(Booking.start_time < starts_before)
    if ends_after is not None:
        stmt = stmt.where(Booking.end_time > ends_after)
        stmt = stmt.where(starts_within_reach(ends_after))
    if customer_id is not None:
        stmt = stmt.where(Booking.customer_id == customer_id)
    if statuses:
        stmt = stmt.where(Booking.status.in_(list(statuses)))
    if team is not None:
        stmt = stmt.where(Booking.team == normalise_team(team))
    return stmt.order_by(Booking.start_time.asc(), Booking.id.asc())


class starts_within_reach(FunctionElement[bool]):
    """A lower bound on start_time for bookings ending after `moment`: no booking starts earlier
    than `moment` minus the longest booking. On PostgreSQL this is
    `start_time >= moment - (SELECT max(end_time - start_time) FROM bookings)`, answered from
    the index `ix_bookings_duration`; it turns a time range into a short walk of the start_time
    index instead of one from the first booking ever. Elsewhere it compiles to TRUE; the plain
    comparisons beside it decide in either case (the bound never excludes a match)."""

    type = Boolean()
    inherit_cache = True
    name = "starts_within_reach"

    def __init__(self, moment: datetime) -> None:
        super().__init__(Booking.start_time, literal(moment, UTCDateTime()))


@compiles(starts_within_reach, "postgresql")
def _starts_within_reach_postgresql(element: starts_within_reach, compiler: Any, **kw: Any) -> str:
    start_time, moment = (compiler.process(c, **kw) for c in element.clauses)
    longest = "SELECT coalesce(max(end_time - start_time), interval '0') FROM bookings"
    return f"{start_time} >= CAST({moment} AS TIMESTAMP WITH TIME ZONE) - ({longest})"


@compiles(starts_within_reach)
def _starts_within_reach_default(element: starts_within_reach, compiler: Any, **kw: Any) -> str:
    return "1 = 1"


async def get(session: AsyncSession, *, booking_id: int) -> Booking:
    booking = await session.get(Booking, booking_id)
    if booking is None:
        raise NotFound(f"booking {booking_id} not found", details={"booking_id": booking_id})
    return booking


async def create(session: AsyncSession, *, data: BookingCreate) -> Booking:
    """Create an active booking; 422 for an unknown customer or lead, 409 on overlap."""
    if data.lead_id is not None:
        await _check_lead(session, lead_id=data.lead_id, customer_id=data.customer_id)
    await customer_service.require_customer(session, customer_id=data.customer_id)
    booking = Booking(**data.model_dump())
    booking.status = BookingStatus(data.status)
    slot = _Slot.of(booking)
    await _ensure_free(session, slot, booking.status)
    await _flush_checked(session, booking, slot, changes={}, add=True)
    await refresh_counters(session, [booking.customer_id])
    return booking


async def update_booking(session: AsyncSession, *, booking_id: int, data: BookingUpdate) -> Booking:
    """Change a booking; new times, team or an active status re-check the overlap rule."""
    changes = data.model_dump(exclude_unset=True)
    new_lead = changes.get("lead_id")
    lead = None if new_lead is None else await lock_against_change(session, Lead, new_lead)
    booking = await _get_locked(session, booking_id=booking_id)
    new_status = changes.pop("status", booking.status)
    _check_transition(booking, BookingStatus(new_status))
    reschedules = {"team", "start_time", "end_time"} & changes.keys()
    if reschedules and booking.status not in _ACTIVE:
        raise Conflict(
            f"booking {booking.id} is {booking.status}; only active bookings can be rescheduled",
            details={"booking_id": booking.id, "status": booking.status},
        )
    start = changes.get("start_time", booking.start_time)
    end = changes.get("end_time", booking.end_time)
    if end <= start:
        raise Unprocessable(
            "end_time must be after start_time",
            details=[{"field": "body.end_time", "message": "must be after start_time"}],
        )
    if new_lead is not None:
        _check_lead_row(lead, lead_id=new_lead, customer_id=booking.customer_id)
    changes["status"] = BookingStatus(new_status)
    slot = _Slot(booking.id, changes.get("team", booking.team), start, end)
    await _ensure_free(session, slot, changes["status"])
    await _flush_checked(session, booking, slot, changes=changes, add=False)
    await refresh_counters(session, [booking.customer_id])
    await session.refresh(booking)
    return booking


async def cancel(session: AsyncSession, *, booking_id: int) -> Booking:
    """Cancel a booking and free its slot; cancelling a cancelled booking changes nothing.

    Cancelling is idempotent (200 with the booking) so a retried request is harmless; a
    completed booking cannot be cancelled (409).
    """
    booking = await _get_locked(session, booking_id=booking_id)
    if booking.status == BookingStatus.CANCELLED:
        return booking
    _check_transition(booking, BookingStatus.CANCELLED)
    booking.status = BookingStatus.CANCELLED
    await session.flush()
    await refresh_counters(session, [booking.customer_id])
    await session.refresh(booking)
    return booking


async def _get_locked(session: AsyncSession, *, booking_id: int) -> Booking:
    """Re-read a booking under its row lock, so the change starts from its current state."""
    booking = await lock_for_update(session, Booking, booking_id)
    if booking is None:
        raise NotFound(f"booking {booking_id} not found", details={"booking_id": booking_id})
    return booking


def _check_transition(booking: Booking, new_status: BookingStatus) -> None:
    if new_status == booking.status or new_status in _TRANSITIONS[booking.status]:
        return
    allowed = sorted(_TRANSITIONS[booking.status])
    raise Conflict(
        f"booking {booking.id} cannot go from {booking.status} to {new_status}",
        details={"booking_id": booking.id, "status": booking.status, "allowed": allowed},
    )


async def _check_lead(session: AsyncSession, *, lead_id: int, customer_id: int) -> None:
    lead = await lock_against_change(session, Lead, lead_id)
    _check_lead_row(lead, lead_id=lead_id, customer_id=customer_id)


def _check_lead_row(lead: Lead | None, *, lead_id: int, customer_id: int) -> None:
    """A booking's lead must exist and belong to the booking's customer (or to no customer)."""
    if lead is None:
        raise Unprocessable(
            f"lead {lead_id} not found",
            details=[{"field": "body.lead_id", "message": "no such lead"}],
        )
    if lead.customer_id not in (None, customer_id):
        raise Unprocessable(
            f"lead {lead_id} belongs to customer {lead.customer_id}, not to customer {customer_id}",
            details=[{"field": "body.lead_id", "message": "lead of another customer"}],
        )


@dataclass(frozen=True)
class _Slot:
    """What the overlap rule looks at, apart from the ORM object (a failed savepoint expires it)."""

    booking_id: int | None
    team: str
    start_time: datetime
    end_time: datetime

    @classmethod
    def of(cls, booking: Booking) -> _Slot:
        return cls(booking.id, booking.team, booking.start_time, booking.end_time)


def _conflicts_with(slot: _Slot) -> Select[Any]:
    stmt = select(Booking).where(
        Booking.team == slot.team,
        Booking.status.in_(_ACTIVE),
        Booking.start_time < slot.end_time,
        Booking.end_time > slot.start_time,
    )
    if slot.booking_id is not None:
        stmt = stmt.where(Booking.id != slot.booking_id)
    return stmt.order_by(Booking.start_time.asc(), Booking.id.asc()).limit(1)


async def _ensure_free(session: AsyncSession, slot: _Slot, status: BookingStatus) -> None:
    """Raise 409 naming an active booking of the same team that overlaps `slot`."""
    if status not in _ACTIVE:
        return
    other = (await session.execute(_conflicts_with(slot))).scalar_one_or_none()
    if other is not None:
        raise _overlap(slot, other)


async def _flush_checked(
    session: AsyncSession, booking: Booking, slot: _Slot, *, changes: dict[str, Any], add: bool
) -> None:
    """Write `booking` (new, or with `changes`) inside a savepoint; an exclusion violation from a
    concurrent write becomes a 409, a deadlock with it is tried again (module docstring).

    The booking must be added or changed inside the savepoint: begin_nested() flushes pending
    changes first, and a violation there would doom the whole transaction.
    """
    for attempt in range(_DEADLOCK_RETRIES + 1):
        try:
            async with session.begin_nested():
                if add:
                    session.add(booking)
                for field, value in changes.items():
                    setattr(booking, field, value)
                await session.flush()
            return
        except IntegrityError as exc:
            if not _is_exclusion_violation(exc):
                raise
            # The savepoint is gone but the request's transaction lives on; by now the
            # concurrent winner has committed, so a fresh query can name it.
            other = (await session.execute(_conflicts_with(slot))).scalar_one_or_none()
            raise _overlap(slot, other) from exc
        except DBAPIError as exc:
            if sqlstate(exc) != DEADLOCK_DETECTED or attempt == _DEADLOCK_RETRIES:
                raise
            log.info("booking write broken off as a deadlock; trying again (%d)", attempt + 1)


def _is_exclusion_violation(exc: IntegrityError) -> bool:
    return sqlstate(exc) == EXCLUSION_VIOLATION


def _overlap(slot: _Slot, other: Booking | None) -> Conflict:
    window = f"{utc_text(slot.start_time)} to {utc_text(slot.end_time)}"
    if other is None:
        # The winner of the race was cancelled again before we could look it up.
        return Conflict(
            f"team {slot.team!r} already has a booking overlapping {window}",
            details={"conflicting_booking_id": None, "team": slot.team},
        )
    return Conflict(
        f"booking {other.id} of team {slot.team!r} ({utc_text(other.start_time)} to "
        f"{utc_text(other.end_time)}) overlaps {window}",
        details={
            "conflicting_booking_id": other.id,
            "team": slot.team,
            "start_time": utc_text(other.start_time),
            "end_time": utc_text(other.end_time),
        },
    )
