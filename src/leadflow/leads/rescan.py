"""Leads from mail already stored, on demand: make the missing ones, repair the stored ones.

Two passes over stored mail, each in batches that commit one by one; every step is idempotent,
so a run that stops part-way loses at most its running batch and a re-run carries on:

1. stored messages without a lead go through the same `ingest_leads` the sync runs (e.g. after
   a lead platform was added);
2. every lead made from a stored email is parsed again and the same lead row gets the fields the
   earlier parse missed (`leads.repair` decides: never a field a person set). The batch's lead
   rows are locked first (FOR UPDATE on PostgreSQL; SQLite runs one writer at a time), so an API
   edit that commits while the rescan runs is seen, never overwritten. A lead that gains an
   email is linked to its customer (found or created as ingest does), linked customers get
   their empty fields filled, and counters are recounted.

Then threads are matched again: a repaired email makes the lead's thread matchable.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow.customers.counters import refresh_counters
from leadflow.db import transaction
from leadflow.leads.ingest import (
    LeadIngestReport,
    ensure_customers,
    fill_customer_fields,
    find_lead,
    ingest_leads,
    open_original,
)
from leadflow.leads.repair import REPAIRABLE, Repair, plan_repair, snapshot
from leadflow.leads.responses import ANSWER_FIELDS, lock_responses, refresh_leads
from leadflow.mail.stored import message_from_row
from leadflow.matching.processor import rematch_after_sync
from leadflow.models import EmailMessage, EmailThread, Lead
from leadflow.settings import Settings
from leadflow.sync.store import StoredMessage

BATCH = 500
REPAIR_BATCH = 200
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeadChange:
    """One repaired lead: the fields filled (were empty) and corrected (were the parser's)."""

    lead_id: int
    filled: tuple[str, ...]
    corrected: tuple[str, ...]


@dataclass
class RescanReport:
    examined: int = 0
    leads_created: int = 0
    customers_created: int = 0
    leads_reparsed: int = 0
    leads_changed: int = 0
    no_longer_leads: int = 0
    fields_filled: Counter[str] = field(default_factory=Counter)
    fields_corrected: Counter[str] = field(default_factory=Counter)
    edits_kept: Counter[str] = field(default_factory=Counter)
    customers_linked: int = 0
    duplicates_marked: int = 0
    threads_rematched: int = 0
    changes: list[LeadChange] = field(default_factory=list)


async def rescan_leads(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> RescanReport:
    """Make the leads stored mail carries but has none for, repair the others, then re-match."""
    report = RescanReport()
    async with sessionmaker() as session:
        last_before = (await session.execute(select(func.max(Lead.id)))).scalar() or 0
    await _create_missing(sessionmaker, settings, report)
    after_id = 0
    while after_id < last_before:
        async with transaction(sessionmaker) as session:
            next_id = await _repair_batch(
                session, settings, report, after_id=after_id, up_to=last_before
            )
        if next_id is None:
            break
        after_id = next_id
        log.info(
            "leads rescan: re-parsed %d leads (to id %d of %d), %d changed",
            report.leads_reparsed, after_id, last_before, report.leads_changed,
        )  # fmt: skip
    if report.leads_created or report.leads_changed:
        async with transaction(sessionmaker) as session:
            report.threads_rematched = await rematch_after_sync(session, settings)
    return report


async def _create_missing(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, report: RescanReport
) -> None:
    last_id = 0
    while True:
        async with transaction(sessionmaker) as session:
            rows = await _messages_without_lead(session, after_id=last_id)
            if not rows:
                return
            last_id = rows[-1][0].id
            by_mailbox: dict[int, list[StoredMessage]] = {}
            for message, gmail_thread_id in rows:
                by_mailbox.setdefault(message.mailbox_id, []).append(
                    StoredMessage(
                        id=message.id,
                        thread_id=message.thread_id,
                        gmail_message_id=message.gmail_message_id,
                        gmail_thread_id=gmail_thread_id,
                        is_new=False,
                        message=message_from_row(message, gmail_thread_id=gmail_thread_id),
                    )
                )
            for mailbox_id, stored in by_mailbox.items():
                result = await ingest_leads(
                    session, mailbox_id=mailbox_id, messages=stored, settings=settings
                )
                report.examined += result.examined
                report.leads_created += result.leads_created
                report.customers_created += result.customers_created


async def _repair_batch(
    session: AsyncSession, settings: Settings, report: RescanReport, *, after_id: int, up_to: int
) -> int | None:
    """Re-parse one batch of leads (ids after `after_id`); return the last id, None when done."""
    await lock_responses(session)  # before the lead rows (`leads.responses`)
    rows = await _leads_with_mail(session, after_id=after_id, up_to=up_to)
    if not rows:
        return None
    relink: list[Lead] = []
    fill: list[tuple[int, Lead]] = []
    answer_moved: list[int] = []
    for lead, message, gmail_thread_id in rows:
        report.leads_reparsed += 1
        parsed = find_lead(message_from_row(message, gmail_thread_id=gmail_thread_id), settings)
        if parsed is None:
            report.no_longer_leads += 1  # e.g. a sender pattern was removed: keep the lead
            continue
        repair = plan_repair(
            _columns(lead), parsed_before=lead.parsed, edited=lead.edited_fields, new=parsed
        )
        for name, value in repair.changes.items():
            setattr(lead, name, value)
        lead.parsed = snapshot(parsed)
        _count(report, lead.id, repair)
        if not ANSWER_FIELDS.isdisjoint(repair.changes):
            answer_moved.append(lead.id)
        if "email" in repair.changes and "customer_id" not in lead.edited_fields:
            relink.append(lead)
        elif repair.changes and lead.customer_id is not None:
            fill.append((lead.customer_id, lead))
    await session.flush()
    touched = await _relink(session, relink, report)
    await fill_customer_fields(session, fill)
    await refresh_counters(session, touched | {cid for cid, _ in fill})
    await refresh_leads(session, [*answer_moved, *(lead.id for lead in relink)])
    return rows[-1][0].id


async def _relink(session: AsyncSession, leads: list[Lead], report: RescanReport) -> set[int]:
    """Link leads whose email was repaired to that email's customer, as ingest would."""
    if not leads:
        return set()
    ingest_report = LeadIngestReport()
    # The lead's own columns, so a person's edit of its name or phone is what fills the customer.
    ids = await ensure_customers(session, leads, ingest_report)
    report.customers_created += ingest_report.customers_created
    touched: set[int] = set()
    for lead in leads:
        customer_id = ids.get(lead.email) if lead.email else None
        if lead.customer_id is not None:
            touched.add(lead.customer_id)
        if customer_id is not None and customer_id != lead.customer_id:
            lead.customer_id = customer_id
            report.customers_linked += 1
            touched.add(customer_id)
        if await _mark_duplicate(session, lead):
            report.duplicates_marked += 1
    await session.flush()
    return touched


async def _mark_duplicate(session: AsyncSession, lead: Lead) -> bool:
    """Mark a lead that just gained its email as a duplicate of an earlier open one, as ingest."""
    if not lead.email or lead.received_at is None or lead.duplicate_of_id is not None:
        return False
    if "duplicate_of_id" in lead.edited_fields:
        return False
    original = await open_original(
        session, email=lead.email, received_at=lead.received_at, exclude_ids=[lead.id]
    )
    if original is None:
        return False
    lead.duplicate_of_id = original
    return True


def _columns(lead: Lead) -> dict[str, Any]:
    return {name: getattr(lead, name) for name in (*REPAIRABLE, "needs_review")}


def _count(report: RescanReport, lead_id: int, repair: Repair) -> None:
    report.fields_filled.update(repair.filled)
    report.fields_corrected.update(repair.corrected)
    report.edits_kept.update(repair.kept_edited)
    if repair.filled or repair.corrected:
        report.leads_changed += 1
        report.changes.append(LeadChange(lead_id, tuple(repair.filled), tuple(repair.corrected)))


async def _leads_with_mail(
    session: AsyncSession, *, after_id: int, up_to: int
) -> list[tuple[Lead, EmailMessage, str]]:
    stmt = (
        select(Lead, EmailMessage, EmailThread.gmail_thread_id)
        .join(
            EmailMessage,
            and_(
                EmailMessage.mailbox_id == Lead.mailbox_id,
                EmailMessage.gmail_message_id == Lead.gmail_message_id,
            ),
        )
        .join(EmailThread, EmailThread.id == EmailMessage.thread_id)
        .where(Lead.id > after_id, Lead.id <= up_to)
        .order_by(Lead.id)
        .limit(REPAIR_BATCH)
        # FOR NO KEY UPDATE, as models.locks takes it: leads first, customers last.
        .with_for_update(of=Lead, key_share=True)
    )
    return [(lead, msg, gid) for lead, msg, gid in (await session.execute(stmt)).all()]


async def _messages_without_lead(
    session: AsyncSession, *, after_id: int
) -> list[tuple[EmailMessage, str]]:
    stmt = (
        select(EmailMessage, EmailThread.gmail_thread_id)
        .join(EmailThread, EmailThread.id == EmailMessage.thread_id)
        .outerjoin(
            Lead,
            and_(
                Lead.mailbox_id == EmailMessage.mailbox_id,
                Lead.gmail_message_id == EmailMessage.gmail_message_id,
            ),
        )
        .where(EmailMessage.id > after_id, Lead.id.is_(None))
        .order_by(EmailMessage.id)
        .limit(BATCH)
    )
    return [(message, thread) for message, thread in (await session.execute(stmt)).all()]
