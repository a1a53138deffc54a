"""Helpers for the sync tests: a Gmail client wired to the in-process fake, DB snapshots."""

from __future__ import annotations

import mailbox as mailbox_lib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow.models import EmailIngestRun, EmailMessage, EmailThread, Mailbox
from leadflow.settings import Settings
from leadflow.sync.gmail import GmailClient
from leadflow.sync.gmail.auth import load_credentials
from leadflow.sync.job import GmailClientFactory, SyncResult, sync_mailbox
from leadflow.sync.router import stop_sync_tasks
from tests.conftest import API_TOKEN
from tests.fakes.clock import FakeClock
from tests.fakes.gmail import FakeMailbox
from tests.fakes.gmail_server import write_credentials

GMAIL_USER = "info@rendetalje.dk"
FAKE_BASE = "http://gmail.fake"


def sync_settings(settings: Settings, **overrides: Any) -> Settings:
    """The session's settings for syncing the fake (small batches, so batching is exercised)."""
    values: dict[str, Any] = {"gmail_user": GMAIL_USER, "sync_batch_size": 7}
    values.update(overrides)
    return settings.model_copy(update=values)


def fake_client_factory(fake: FakeMailbox, credentials_dir: Path) -> GmailClientFactory:
    """Build GmailClients that talk to `fake` in-process, authenticating at its token endpoint.

    The client's clock is virtual, so retry back-offs take no real time.
    """
    credentials = credentials_dir / "gmail-credentials.json"
    write_credentials(fake, FAKE_BASE, credentials)

    @asynccontextmanager
    async def factory(settings: Settings) -> AsyncIterator[GmailClient]:
        transport = httpx.ASGITransport(app=fake.app)
        async with httpx.AsyncClient(transport=transport, base_url=FAKE_BASE) as http:
            yield GmailClient(
                base_url=FAKE_BASE,
                user=settings.gmail_user,
                http=http,
                credentials=load_credentials(credentials, user=settings.gmail_user, http=http),
                units_per_second=1_000_000,
                max_attempts=settings.gmail_max_attempts,
                concurrency=settings.gmail_concurrency,
                clock=FakeClock(),
            )

    return factory


@dataclass
class Harness:
    """A fake mailbox plus everything needed to sync it."""

    fake: FakeMailbox
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    factory: GmailClientFactory

    async def sync(self, *, full: bool = False, **options: Any) -> SyncResult:
        return await sync_mailbox(
            self.sessionmaker,
            self.settings,
            full=full,
            client_factory=self.factory,
            processors=options.pop("processors", ()),
            **options,
        )

    async def state(self) -> MailboxState:
        async with self.sessionmaker() as session:
            return await mailbox_state(session, GMAIL_USER)

    async def mailbox(self) -> Mailbox:
        async with self.sessionmaker() as session:
            row = await session.scalar(select(Mailbox).where(Mailbox.email == GMAIL_USER))
            assert row is not None
            return row

    async def run(self, run_id: int) -> EmailIngestRun:
        async with self.sessionmaker() as session:
            run = await session.get(EmailIngestRun, run_id)
            assert run is not None
            return run


@dataclass
class MailboxState:
    """What is stored for one mailbox: messages by id, threads by id."""

    messages: dict[str, dict[str, Any]]
    threads: dict[str, dict[str, Any]]
    message_rows: int


async def mailbox_state(session: AsyncSession, email: str) -> MailboxState:
    box = await session.scalar(select(Mailbox).where(Mailbox.email == email))
    if box is None:
        return MailboxState({}, {}, 0)
    rows = (
        await session.execute(
            select(EmailMessage, EmailThread.gmail_thread_id)
            .join(EmailThread, EmailThread.id == EmailMessage.thread_id)
            .where(EmailMessage.mailbox_id == box.id)
        )
    ).all()
    messages = {
        msg.gmail_message_id: {
            "thread": gid,
            "labels": list(msg.labels),
            "subject": msg.subject,
            "from": msg.from_address,
            "history_id": msg.history_id,
            "rfc822": msg.rfc822_message_id,
        }
        for msg, gid in rows
    }
    threads = {
        t.gmail_thread_id: {
            "message_count": t.message_count,
            "last_message_at": t.last_message_at,
            "participants": list(t.participants),
            "labels": list(t.labels),
            "subject": t.subject,
            "snippet": t.snippet,
            "updated_at": t.updated_at,
        }
        for t in (
            await session.scalars(select(EmailThread).where(EmailThread.mailbox_id == box.id))
        )
    }
    return MailboxState(messages, threads, len(rows))


def fake_contents(fake: FakeMailbox) -> dict[str, tuple[str, list[str]]]:
    """The fake's listable messages (no SPAM/TRASH): id → (thread id, labels)."""
    return {
        mid: (m.thread_id, list(m.label_ids))
        for mid, m in fake.messages.items()
        if not {"SPAM", "TRASH"} & set(m.label_ids)
    }


def write_mbox(path: Path, messages: Sequence[bytes]) -> Path:
    """Write `messages` (RFC 822 bytes) to an mbox file at `path`."""
    box = mailbox_lib.mbox(path)
    try:
        for raw in messages:
            box.add(raw)
        box.flush()
    finally:
        box.close()
    return path


def at(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


@asynccontextmanager
async def sync_api_client(
    app: FastAPI, fake: FakeMailbox, credentials_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """Run `app` (with its lifespan) syncing from `fake`; yield a client with the bearer token.

    Background sync tasks the requests started are stopped before the lifespan ends.
    """
    app.state.gmail_client_factory = fake_client_factory(fake, credentials_dir)
    async with LifespanManager(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://leadflow.test",
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        ) as client:
            yield client
        await stop_sync_tasks(app)
