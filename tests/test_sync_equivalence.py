"""A full resync gives the same database as the incremental path, after any mailbox history.

Hypothesis writes the history: mail delivered to the inbox or straight into spam, replies,
"Report spam" / "Not spam", the bin and back, permanent deletes, label edits (as one history
record and as two), with incremental syncs in between. Then the database that the incremental
path built is compared with one a fresh full sync builds from the same mailbox: messages,
threads (with their customers) and the customers' counters must be equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from leadflow.db import transaction
from leadflow.models import Customer, EmailMessage, EmailThread, Lead, Mailbox
from leadflow.settings import Settings
from leadflow.sync.pipeline import default_processors
from tests.db_reset import reset
from tests.fakes.gmail_admin import AdminMailbox
from tests.fakes.gmail_wire import make_raw_email
from tests.sync_helpers import GMAIL_USER, Harness, at, fake_client_factory, sync_settings

CUSTOMERS = ("kunde0@example.net", "kunde1@example.net", "kunde2@example.net")
LABELS = ("STARRED", "IMPORTANT", "UNREAD", "Label_1", "INBOX")
ADMIN = ("report_spam", "not_spam", "trash", "untrash", "delete")

pick = st.integers(min_value=0, max_value=1_000)
operations = st.one_of(
    st.tuples(
        st.just("deliver"),
        st.sampled_from(["INBOX", "INBOX", "SPAM"]),
        st.integers(min_value=0, max_value=len(CUSTOMERS) - 1),
        st.one_of(st.none(), pick),  # a new thread, or a reply in an existing one
        st.booleans(),  # the reply is ours (SENT)
    ),
    st.tuples(st.sampled_from(ADMIN), pick),
    st.tuples(
        st.sampled_from(["modify", "relabel"]),
        pick,
        st.frozensets(st.sampled_from(LABELS), max_size=2),
        st.frozensets(st.sampled_from(LABELS), max_size=2),
    ),
    st.just(("sync",)),
)


@dataclass
class Scenario:
    """The fake mailbox and what the test knows about its threads."""

    fake: AdminMailbox
    customer_of_thread: dict[str, int] = field(default_factory=dict)
    sent: int = 0

    def deliver(self, folder: str, customer: int, reply_to: int | None, ours: bool) -> None:
        thread_id = None
        if reply_to is not None and self.customer_of_thread:
            thread_id = sorted(self.customer_of_thread)[reply_to % len(self.customer_of_thread)]
            customer = self.customer_of_thread[thread_id]
        self.sent += 1
        # One customer per thread (ours or theirs writing), so matching has one answer.
        address = CUSTOMERS[customer]
        if ours and thread_id is not None:
            raw = make_raw_email(
                sender="Rendetalje <info@rendetalje.dk>", to=address, subject="SV: Tilbud",
                date=at(1) + timedelta(minutes=self.sent),
            )  # fmt: skip
            labels = ["SENT"] if folder == "INBOX" else ["SENT", "TRASH"]
        else:
            raw = make_raw_email(
                sender=f"Kunde <{address}>", subject=f"Tilbud {self.sent}",
                date=at(1) + timedelta(minutes=self.sent),
            )  # fmt: skip
            labels = [folder, "UNREAD"]
        message = self.fake.deliver(raw, labels=labels, thread_id=thread_id)
        self.customer_of_thread.setdefault(message.thread_id, customer)

    def target(self, index: int) -> str | None:
        ids = sorted(self.fake.messages)
        return ids[index % len(ids)] if ids else None

    def apply(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        if kind == "deliver":
            self.deliver(op[1], op[2], op[3], op[4])
            return
        message_id = self.target(op[1])
        if message_id is None:
            return
        if kind == "modify":
            self.fake.modify(message_id, add=op[2], remove=op[3])
        elif kind == "relabel":  # two history records, as the base fake writes them
            self.fake.relabel(message_id, add=op[2], remove=op[3])
        else:
            getattr(self.fake, kind)(message_id)


async def seed_customers(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with transaction(sessionmaker) as session:
        session.add_all(Customer(email=email, name=email.split("@")[0]) for email in CUSTOMERS)


async def snapshot(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    """Messages, threads and customers by their natural keys (row ids differ between runs)."""
    async with sessionmaker() as session:
        box = await session.scalar(select(Mailbox.id).where(Mailbox.email == GMAIL_USER))
        emails = dict((await session.execute(select(Customer.id, Customer.email))).all())
        threads = {
            t.gmail_thread_id: (
                t.message_count, t.last_message_at, list(t.participants), list(t.labels),
                t.subject, t.snippet, emails.get(t.customer_id), t.matched_by,
            )
            for t in await session.scalars(select(EmailThread).where(EmailThread.mailbox_id == box))
        }  # fmt: skip
        rows = await session.execute(
            select(EmailMessage, EmailThread.gmail_thread_id)
            .join(EmailThread, EmailThread.id == EmailMessage.thread_id)
            .where(EmailMessage.mailbox_id == box)
        )
        messages = {
            m.gmail_message_id: (
                gid, list(m.labels), m.subject, m.sent_at, m.from_address, m.direction,
                list(m.to_addresses), m.body_text,
            )
            for m, gid in rows
        }  # fmt: skip
        customers = {
            c.email: (c.total_leads, c.total_bookings, c.last_contact_at)
            for c in await session.scalars(select(Customer))
        }
        leads = len((await session.scalars(select(Lead.id))).all())
    return {"messages": messages, "threads": threads, "customers": customers, "leads": leads}


@settings(
    max_examples=20,
    deadline=None,
    # The database is reset by the test itself at the start of every example.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    start=st.lists(st.tuples(st.sampled_from(["INBOX", "SPAM"]), st.integers(0, 2)), max_size=4),
    history=st.lists(operations, max_size=14),
)
async def test_a_full_resync_builds_the_database_the_incremental_syncs_built(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    tmp_path: Path,
    start: list[tuple[str, int]],
    history: list[tuple[Any, ...]],
) -> None:
    await reset(engine)
    await seed_customers(sessionmaker)
    scenario = Scenario(AdminMailbox())
    for folder, customer in start:
        scenario.deliver(folder, customer, None, False)
    harness = Harness(
        scenario.fake, sync_settings(settings, sync_batch_size=3), sessionmaker,
        fake_client_factory(scenario.fake, tmp_path),
    )  # fmt: skip

    async def sync(*, full: bool = False) -> None:
        result = await harness.sync(full=full, processors=default_processors(harness.settings))
        assert result.ok, result.error

    await sync()
    for op in history:
        if op[0] == "sync":
            await sync()
        else:
            scenario.apply(op)
    await sync()
    incremental = await snapshot(sessionmaker)

    await reset(engine)
    await seed_customers(sessionmaker)
    await sync()  # no mailbox row, no cursor: a fresh full sync
    fresh = await snapshot(sessionmaker)

    assert set(incremental["messages"]) == set(scenario.fake.visible())
    assert incremental["messages"] == fresh["messages"]
    assert incremental["threads"] == fresh["threads"]
    assert incremental["customers"] == fresh["customers"]
    assert incremental["leads"] == fresh["leads"] == 0
