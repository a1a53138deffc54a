"""Customer queries and writes. The caller (request or job) owns the transaction; we only flush."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.customers.schemas import CustomerCreate, CustomerSort, CustomerUpdate
from leadflow.errors import Conflict, NotFound
from leadflow.models import Booking, Customer, EmailThread, Lead
from leadflow.phones import to_e164

_SORTS: dict[CustomerSort, Any] = {
    CustomerSort.NAME: Customer.name.asc(),
    CustomerSort.NAME_DESC: Customer.name.desc(),
    CustomerSort.CREATED: Customer.created_at.asc(),
    CustomerSort.CREATED_DESC: Customer.created_at.desc(),
    CustomerSort.LAST_CONTACT: Customer.last_contact_at.asc(),
    CustomerSort.LAST_CONTACT_DESC: Customer.last_contact_at.desc(),
}


def list_query(*, search: str | None, sort: CustomerSort) -> Select[Customer]:
    """Customers whose name, email or phone contains `search` (case-insensitive)."""
    stmt = select(Customer)
    if search and search.strip():
        term = search.strip().lower()
        like = f"%{_escape_like(term)}%"
        # ILIKE on PostgreSQL (served by the trigram index), lower() LIKE on SQLite.
        conditions: list[ColumnElement[bool]] = [
            Customer.name.ilike(like, escape="\\"),
            Customer.email.like(like, escape="\\"),
            Customer.phone.like(like, escape="\\"),
        ]
        e164 = to_e164(term)
        if e164 is not None:
            conditions.append(Customer.phone == e164)
        stmt = stmt.where(or_(*conditions))
    return stmt.order_by(_SORTS[sort], Customer.id.asc())


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def get(session: AsyncSession, *, customer_id: int) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} not found", details={"customer_id": customer_id})
    return customer


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
    customer = await get(session, customer_id=customer_id)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("email") is not None:
        await _ensure_email_free(session, email=changes["email"], customer_id=customer_id)
    if "status" in changes and changes["status"] is None:
        del changes["status"]
    if "tags" in changes and changes["tags"] is None:
        changes["tags"] = []
    for field, value in changes.items():
        setattr(customer, field, value)
    await _flush_unique(session, email=changes.get("email"))
    await session.refresh(customer)
    return customer


async def delete_customer(session: AsyncSession, *, customer_id: int, force: bool) -> None:
    """Delete a customer; refuse while bookings exist unless `force` (which deletes them too)."""
    customer = await get(session, customer_id=customer_id)
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
