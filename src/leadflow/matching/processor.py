"""Pipeline step: match the threads of each stored batch to customers (after lead ingest)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.customers.counters import refresh_counters
from leadflow.matching.index_cache import CustomerIndexCache
from leadflow.matching.service import build_settings_exclusions, match_threads
from leadflow.models import EmailThread, Mailbox
from leadflow.settings import Settings
from leadflow.sync.store import StoredMessage

# Rules whose answer can change when customers are added: one more customer on a phone number or
# a company domain makes an earlier unique match ambiguous (emails are unique, so 1.0 rules hold).
WEAK_RULES = ("reply_chain", "phone", "domain")


@dataclass
class MatchingProcessor:
    """Match the batch's unmatched threads, then refresh the touched customers' counters."""

    settings: Settings
    matched: int = 0
    touched_customers: set[int] = field(default_factory=set)
    customers: CustomerIndexCache | None = None

    async def process(
        self, session: AsyncSession, mailbox: Mailbox, stored: Sequence[StoredMessage]
    ) -> None:
        thread_ids = sorted({message.thread_id for message in stored})
        if not thread_ids:
            return
        if self.customers is None:
            self.customers = CustomerIndexCache(build_settings_exclusions(self.settings))
        report = await match_threads(
            session, settings=self.settings, thread_ids=thread_ids, customers=self.customers
        )
        self.matched += report.changed
        customers = set(
            (
                await session.execute(
                    select(EmailThread.customer_id).where(
                        EmailThread.id.in_(thread_ids), EmailThread.customer_id.is_not(None)
                    )
                )
            ).scalars()
        )
        self.touched_customers |= {cid for cid in customers if cid is not None}
        await refresh_counters(session, customers)

    async def threads_shrunk(
        self, session: AsyncSession, mailbox: Mailbox, thread_ids: Sequence[int]
    ) -> None:
        """Decide again threads that lost messages: the rules look only at the mail a thread
        still holds, so a match that rested on a deleted message must not outlive it (manual
        links and unlinks are kept, as always). A thread whose lead mail went keeps its lead
        match: the lead stays, and so does the rule that reads it."""
        if self.customers is None:
            self.customers = CustomerIndexCache(build_settings_exclusions(self.settings))
        report = await match_threads(
            session,
            settings=self.settings,
            thread_ids=thread_ids,
            only_unmatched=False,
            customers=self.customers,
        )
        self.matched += report.changed


async def rematch_after_sync(session: AsyncSession, settings: Settings) -> int:
    """Re-run the rules over unmatched and weakly matched threads; return how many changed.

    New customers created late in a sync (a full sync sees the newest mail first, so a
    customer's replies are stored before the lead that creates the customer) make earlier
    threads matchable; this catches them at the end of the run.
    """
    report = await match_threads(
        session, settings=settings, only_unmatched=True, revisit_rules=WEAK_RULES
    )
    return report.changed
