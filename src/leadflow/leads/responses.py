"""Keep `leads.first_response_at` true: recompute it from the stored mail after every change.

Every write that can change the answer calls in here, inside its own transaction (the caller
owns it; we only execute): storing or deleting messages (`sync.store`, so the full and the
incremental sync and the mbox import alike), creating leads (`leads.ingest`, the API), linking
a thread to a customer (matching, by hand), and editing a lead's email, customer or arrival.
Each recomputes the affected leads from the database's current state with the pure rule in
`leads.response_time`, so the result does not depend on the order mail arrives in.

Concurrency: a reply stored while the lead it answers is being created. Neither transaction
sees the other's uncommitted row, so both could miss it. On PostgreSQL every such transaction
takes one transaction-scoped advisory lock (`lock_responses`) before it reads: the second one
waits for the first to commit and then, under READ COMMITTED, reads its rows. Writers take it
first, before any row lock (see `models.locks`), so it cannot close a cycle of waits. SQLite
runs one writer at a time (BEGIN IMMEDIATE) and needs nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    bindparam,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, array
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from leadflow.leads.response_time import (
    AWAITING_STATUS,
    LeadFacts,
    MessageFacts,
    changed,
    first_response_at,
    first_responses,
)
from leadflow.models import Direction, EmailMessage, EmailThread, Lead

# pg_advisory_xact_lock key: "leadresp" as an int64, so no other lock in the database collides.
_ADVISORY_KEY = int.from_bytes(b"leadresp", "big") >> 1
CHUNK = 500
# The lead fields the rule reads: a change to one of them recomputes first_response_at.
ANSWER_FIELDS = frozenset({"email", "customer_id", "received_at", "gmail_thread_id", "mailbox_id"})
_SOURCE = aliased(Lead)
_LEADS: Table = Lead.__table__  # type: ignore[assignment]


async def lock_responses(session: AsyncSession) -> None:
    """Serialise the writers of first_response_at until commit (PostgreSQL; re-entrant)."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


_IS_SOURCE = exists().where(
    _SOURCE.mailbox_id == EmailMessage.mailbox_id,
    _SOURCE.gmail_message_id == EmailMessage.gmail_message_id,
)
# Stored, dated outbound messages with their thread, and whether a lead was made from them.
_FACTS = (
    select(
        EmailMessage.mailbox_id,
        EmailMessage.gmail_message_id,
        EmailThread.gmail_thread_id,
        EmailMessage.direction,
        EmailMessage.sent_at,
        EmailMessage.to_addresses,
        EmailMessage.cc_addresses,
        EmailThread.customer_id,
        _IS_SOURCE.label("is_source"),
    )
    .join(EmailThread, EmailThread.id == EmailMessage.thread_id)
    .where(EmailMessage.direction == Direction.OUTBOUND, EmailMessage.sent_at.is_not(None))
)


async def outbound_facts(session: AsyncSession, *where: ColumnElement[bool]) -> list[MessageFacts]:
    """The rule's view of the stored, dated outbound messages matching `where`."""
    rows = await session.execute(_FACTS.where(*where))
    return [
        MessageFacts(
            mailbox_id=r.mailbox_id,
            gmail_message_id=r.gmail_message_id,
            gmail_thread_id=r.gmail_thread_id,
            direction=Direction(r.direction),
            sent_at=r.sent_at,
            recipients=tuple(a.lower() for a in [*(r.to_addresses or []), *(r.cc_addresses or [])]),
            thread_customer_id=r.customer_id,
            is_lead_source=bool(r.is_source),
        )
        for r in rows
    ]


async def facts_of_messages(
    session: AsyncSession, message_ids: Sequence[int]
) -> list[MessageFacts]:
    """`outbound_facts` of the given email_messages rows (inbound ones are left out)."""
    found: list[MessageFacts] = []
    for chunk in _chunks(sorted(set(message_ids))):
        found += await outbound_facts(session, EmailMessage.id.in_(chunk))
    return found


def _to_any(session: AsyncSession, addresses: Sequence[str]) -> ColumnElement[bool]:
    """True for messages whose To or Cc holds one of `addresses` (lower-case)."""
    if session.get_bind().dialect.name == "postgresql":
        wanted = array(list(addresses))
        return or_(
            EmailMessage.to_addresses.cast(JSONB).op("?|")(wanted),
            EmailMessage.cc_addresses.cast(JSONB).op("?|")(wanted),
        )
    clauses = []
    for column in (EmailMessage.to_addresses, EmailMessage.cc_addresses):
        each = func.json_each(column).table_valued("value")
        clauses.append(
            exists(select(literal(1)).select_from(each).where(each.c.value.in_(addresses)))
        )
    return or_(*clauses)


async def _lead_facts(
    session: AsyncSession, lead_ids: Sequence[int]
) -> tuple[list[LeadFacts], dict[int, datetime | None]]:
    rows = await session.execute(
        select(
            Lead.id,
            Lead.received_at,
            Lead.mailbox_id,
            Lead.gmail_thread_id,
            Lead.email,
            Lead.customer_id,
            Lead.first_response_at,
        ).where(Lead.id.in_(lead_ids))
    )
    leads: list[LeadFacts] = []
    current: dict[int, datetime | None] = {}
    for r in rows:
        leads.append(
            LeadFacts(
                id=r.id,
                received_at=r.received_at,
                mailbox_id=r.mailbox_id,
                gmail_thread_id=r.gmail_thread_id,
                email=r.email.lower() if r.email else None,
                customer_id=r.customer_id,
            )
        )
        current[r.id] = r.first_response_at
    return leads, current


async def _candidates(session: AsyncSession, leads: Sequence[LeadFacts]) -> list[MessageFacts]:
    """Outbound messages that may answer `leads`: a superset the pure rule narrows down.

    One query per way a message can belong to a lead, each served by its own index (an OR of
    the three would read every outbound message since the oldest lead)."""
    dated = [lead.received_at for lead in leads if lead.received_at is not None]
    if not dated:
        return []
    after = EmailMessage.sent_at > min(dated)
    threads = sorted(
        {(lead.mailbox_id, lead.gmail_thread_id) for lead in leads if lead.gmail_thread_id}
    )
    customers = sorted({lead.customer_id for lead in leads if lead.customer_id is not None})
    addresses = sorted({lead.email for lead in leads if lead.email})
    found: list[MessageFacts] = []
    if threads:
        key = tuple_(EmailThread.mailbox_id, EmailThread.gmail_thread_id)
        found += await outbound_facts(session, after, key.in_(threads))
    if customers:
        found += await outbound_facts(session, after, EmailThread.customer_id.in_(customers))
    if addresses:
        found += await outbound_facts(session, after, _to_any(session, addresses))
    return found


async def refresh_leads(session: AsyncSession, lead_ids: Iterable[int]) -> int:
    """Recompute first_response_at of the given leads (absent ones are ignored); return how
    many changed. Idempotent: a second call with nothing changed writes nothing."""
    ids = sorted(set(lead_ids))
    if not ids:
        return 0
    await lock_responses(session)
    updated = 0
    for chunk in _chunks(ids):
        leads, current = await _lead_facts(session, chunk)
        computed = first_responses(leads, await _candidates(session, leads))
        differ = changed(current, computed)
        if differ:
            await _write(session, differ)
            updated += len(differ)
    return updated


async def _write(session: AsyncSession, values: Mapping[int, datetime | None]) -> None:
    await session.execute(
        update(_LEADS)
        .where(_LEADS.c.id == bindparam("b_id"))
        .values(first_response_at=bindparam("b_at")),
        [{"b_id": lid, "b_at": at} for lid, at in values.items()],
    )


async def leads_touched_by(
    session: AsyncSession, messages: Sequence[MessageFacts], *, by_time: bool = True
) -> set[int]:
    """Leads whose answer a change to `messages` (stored, moved or deleted) may alter: those
    the messages may belong to, and (`by_time`) those whose current answer was sent at one of
    their times. One indexed query per way (see `_candidates`)."""
    outbound = [m for m in messages if m.direction == Direction.OUTBOUND]
    found: set[int] = set()
    for chunk in _chunks(outbound):
        threads = sorted({(m.mailbox_id, m.gmail_thread_id) for m in chunk})
        customers = sorted({m.thread_customer_id for m in chunk if m.thread_customer_id})
        addresses = sorted({a for m in chunk for a in m.recipients})
        times = sorted({m.sent_at for m in chunk if m.sent_at is not None})
        ways = [tuple_(Lead.mailbox_id, Lead.gmail_thread_id).in_(threads)]
        if customers:
            ways.append(Lead.customer_id.in_(customers))
        if addresses:
            ways.append(Lead.email.in_(addresses))
        if times and by_time:
            ways.append(Lead.first_response_at.in_(times))
        for way in ways:
            found.update((await session.execute(select(Lead.id).where(way))).scalars())
    return found


async def refresh_for_messages(session: AsyncSession, messages: Sequence[MessageFacts]) -> int:
    """Recompute the leads a change to `messages` may alter (`leads_touched_by`)."""
    if not any(m.direction == Direction.OUTBOUND for m in messages):
        return 0
    await lock_responses(session)
    return await refresh_leads(session, await leads_touched_by(session, messages))


async def add_replies(session: AsyncSession, messages: Sequence[MessageFacts]) -> int:
    """Take newly stored messages into account; return how many leads changed.

    Adding messages can only bring an answer earlier, so each lead they may belong to keeps the
    earlier of its current answer and the earliest new message that answers it: the same
    result as `refresh_leads`, without reading the lead's older mail again. (A deletion, a
    moved message or a new lead source can make an answer later: those go through
    `refresh_for_messages`.)
    """
    outbound = [m for m in messages if m.direction == Direction.OUTBOUND]
    if not outbound:
        return 0
    await lock_responses(session)
    ids = sorted(await leads_touched_by(session, outbound, by_time=False))
    updated = 0
    for chunk in _chunks(ids):
        leads, current = await _lead_facts(session, chunk)
        computed = {}
        for lead in leads:
            earliest = first_response_at(lead, outbound)
            known = current.get(lead.id)
            computed[lead.id] = min(t for t in (earliest, known) if t) if earliest else known
        differ = changed(current, computed)
        if differ:
            await _write(session, differ)
            updated += len(differ)
    return updated


async def refresh_for_customers(session: AsyncSession, customer_ids: Iterable[int | None]) -> int:
    """Recompute the leads of customers whose linked threads changed."""
    ids = sorted({cid for cid in customer_ids if cid is not None})
    if not ids:
        return 0
    await lock_responses(session)
    found: set[int] = set()
    for chunk in _chunks(ids):
        rows = await session.execute(select(Lead.id).where(Lead.customer_id.in_(chunk)))
        found.update(rows.scalars())
    return await refresh_leads(session, found)


def awaiting_reply_filter() -> ColumnElement[bool]:
    """Leads that count as waiting for an answer: the partial index's predicate, with the
    statuses written inline (a bound parameter would keep PostgreSQL from using the index)."""
    status: ColumnElement[str] = literal_column(f"'{AWAITING_STATUS.value}'")
    return and_(Lead.first_response_at.is_(None), Lead.status == status)
