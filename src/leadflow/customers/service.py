"""Customer queries and writes. The caller (request or job) owns the transaction; we only flush.

Deleting a customer (`delete_customer`) keeps everything a client was told exists, or refuses:
its leads and email threads stay, detached from the customer (customer_id null; the threads
become unmatched, so automatic matching may place them again); its bookings make the delete a
409 unless `force`, which deletes them with the customer. The customer row is locked FOR
UPDATE (after its leads, bookings and threads: the one lock order) before the bookings are
counted, so nothing new can reference it: what was counted is exactly what is deleted, and a
booking made at the same moment either lands first (and the delete sees it) or finds the
customer gone (422).
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.api.page_json import Parent
from leadflow.customers.schemas import CustomerCreate, CustomerSort, CustomerUpdate
from leadflow.db import contains_folded, escape_like, fold_case
from leadflow.errors import Conflict, NotFound, Unprocessable
from leadflow.leads.responses import lock_responses, refresh_leads
from leadflow.models import Booking, Customer, EmailThread, Lead
from leadflow.models.locks import (
    lock_against_delete,
    lock_for_delete,
    lock_for_update,
    lock_rows,
)
from leadflow.phones import to_e164

# Customers without the value (no name, never contacted) come last in either direction, on
# PostgreSQL and SQLite alike (their defaults differ).
_SORTS: dict[CustomerSort, Any] = {
    CustomerSort.NAME: Customer.name.asc().nulls_last(),
    CustomerSort.NAME_DESC: Customer.name.desc().nulls_last(),
    CustomerSort.CREATED: Customer.created_at.asc(),
    CustomerSort.CREATED_DESC: Customer.created_at.desc(),
    CustomerSort.LAST_CONTACT: Customer.last_contact_at.asc().nulls_last(),
    CustomerSort.LAST_CONTACT_DESC: Customer.last_contact_at.desc().nulls_last(),
}


def list_query(*, search: str | None, sort: CustomerSort) -> Select[Customer]:
    """Customers whose name, email or phone contains `search` (case-insensitive, Ø = ø)."""
    stmt = select(Customer)
    if search and search.strip():
        term = fold_case(search.strip())
        like = f"%{escape_like(term)}%"
        # Case-folded on both databases; on PostgreSQL an ILIKE the trigram index serves.
        conditions: list[ColumnElement[bool]] = [
            contains_folded(Customer.name, literal(like)),
            Customer.email.like(like, escape="\\"),
            Customer.phone.like(like, escape="\\"),
        ]
        e164 = to_e164(term)
        if e164 is not None:
            conditions.append(Customer.phone == e164)
        stmt = stmt.where(or_(*conditions))
    return stmt.order_by(_SORTS[sort], Customer.id.asc())


def _not_found(customer_id: int) -> NotFound:
    return NotFound(f"customer {customer_id} not found", details={"customer_id": customer_id})


async def get(session: AsyncSession, *, customer_id: int) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise _not_found(customer_id)
    return customer


def as_parent(customer_id: int) -> Parent:
    """The customer a sub-list (its threads, leads, bookings) belongs to: 404 when unknown."""
    return Parent(Customer.id == customer_id, functools.partial(_not_found, customer_id))


async def require_customer(
    session: AsyncSession, *, customer_id: int, field: str = "body.customer_id"
) -> None:
    """Check a customer a request body names; it cannot be deleted until we commit.

    An unknown customer in a body is a 422 naming the field, on every resource (a path id that
    does not exist is a 404).
    """
    if not await lock_against_delete(session, Customer, customer_id):
        raise Unprocessable(
            f"customer {customer_id} not found",
            details=[{"field": field, "message": f"no customer with id {customer_id}"}],
        )


async def display_names(session: AsyncSession, *, customer_ids: set[int]) -> dict[int, str]:
    """Each customer's name (or email, or `#id`) by id, in one query: for lists that name them."""
    if not customer_ids:
        return {}
    rows = await session.execute(
        select(Customer.id, Customer.name, Customer.email).where(Customer.id.in_(customer_ids))
    )
    return {cid: name or email or f"#{cid}" for cid, name, email in rows}


async def get_by_email(session: AsyncSession, *, email: str) -> Customer | None:
    stmt = select(Customer).where(Customer.email == email.strip().lower())
    return (await session.execute(stmt)).scalar_one_or_none()


async def create(session: AsyncSession, *, data: CustomerCreate) -> Customer:
    if data.email is not None:
        await _ensure_email_free(session, email=data.email, customer_id=None)
    customer = Customer(**data.model_dump())
    session.add(customer)
    await _flush_unique(session, email=data.email)
    return customer


async def update_customer(
    session: AsyncSession, *, customer_id: int, data: CustomerUpdate
) -> Customer:
    customer = await lock_for_update(session, Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} not found", details={"customer_id": customer_id})
    changes = data.model_dump(exclude_unset=True)
    if changes.get("email") is not None:
        await _ensure_email_free(session, email=changes["email"], customer_id=customer_id)
    for field, value in changes.items():
        setattr(customer, field, value)
    await _flush_unique(session, email=changes.get("email"))
    await session.refresh(customer)
    return customer


async def delete_customer(session: AsyncSession, *, customer_id: int, force: bool) -> None:
    """Delete a customer; refuse while it has bookings unless `force` (see the module doc)."""
    # Children first, the customer last: the lock order of every writer (models.locks).
    await lock_responses(session)
    leads = await lock_rows(session, Lead, Lead.customer_id == customer_id)
    await lock_rows(session, Booking, Booking.customer_id == customer_id)
    await lock_rows(session, EmailThread, EmailThread.customer_id == customer_id)
    customer = await lock_for_delete(session, Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} not found", details={"customer_id": customer_id})
    # Under the lock no booking can be added any more: this count is what force deletes.
    bookings = (
        await session.execute(
            select(func.count()).select_from(Booking).where(Booking.customer_id == customer_id)
        )
    ).scalar_one()
    if bookings and not force:
        raise Conflict(
            f"customer {customer_id} has {bookings} booking(s); delete with ?force=true "
            "to remove them too",
            details={"customer_id": customer_id, "bookings": bookings},
        )
    await session.execute(delete(Booking).where(Booking.customer_id == customer_id))
    await session.execute(
        update(EmailThread)
        .where(EmailThread.customer_id == customer_id)
        .values(
            customer_id=None, is_matched=False, matched_at=None, matched_by=None, confidence=None
        )
    )
    await session.execute(
        update(Lead).where(Lead.customer_id == customer_id).values(customer_id=None)
    )
    await session.delete(customer)
    await session.flush()
    # Its threads no longer answer its (former) leads: only their own thread and address do.
    await refresh_leads(session, leads)


async def _ensure_email_free(session: AsyncSession, *, email: str, customer_id: int | None) -> None:
    existing = await get_by_email(session, email=email)
    if existing is not None and existing.id != customer_id:
        raise Conflict(
            f"a customer with email {email} already exists",
            details={"customer_id": existing.id, "email": email},
        )


async def _flush_unique(session: AsyncSession, *, email: str | None) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"a customer with email {email} already exists", details={"email": email}
        ) from exc
