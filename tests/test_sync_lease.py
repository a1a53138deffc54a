"""The mailbox lease: one sync per mailbox at a time, taken over when expired or abandoned."""

from __future__ import annotations

import asyncio
import os
import socket
from datetime import timedelta
from pathlib import Path

import pytest
import typer
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from leadflow.cli.sync import EXIT_LEASE_HELD, sync_command
from leadflow.db import transaction
from leadflow.models import (
    EmailIngestRun,
    IngestMode,
    IngestStatus,
    Mailbox,
    MailProvider,
    utcnow,
)
from leadflow.settings import Settings
from leadflow.sync.lease import LeaseHeld, LeaseLost, MailboxLease, owner_is_dead, process_scope
from leadflow.sync.mailboxes import ensure_mailbox
from tests.fakes.gmail import FakeMailbox
from tests.sync_helpers import GMAIL_USER, Harness, fake_client_factory, sync_settings

OTHER_HOST_OWNER = "other-host.example:4242:abcd1234"


async def new_mailbox(sessionmaker: async_sessionmaker[AsyncSession]) -> Mailbox:
    return await ensure_mailbox(sessionmaker, email=GMAIL_USER, provider=MailProvider.GMAIL)


async def hold_for(
    sessionmaker: async_sessionmaker[AsyncSession], mailbox_id: int, owner: str, seconds: float
) -> None:
    async with transaction(sessionmaker) as session:
        await session.execute(
            update(Mailbox)
            .where(Mailbox.id == mailbox_id)
            .values(lease_owner=owner, lease_expires_at=utcnow() + timedelta(seconds=seconds))
        )


async def lease_of(sessionmaker: async_sessionmaker[AsyncSession], mailbox_id: int) -> str | None:
    async with sessionmaker() as session:
        return await session.scalar(select(Mailbox.lease_owner).where(Mailbox.id == mailbox_id))


async def test_a_second_acquirer_is_refused_while_the_lease_is_held(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    box = await new_mailbox(sessionmaker)
    first = await MailboxLease.acquire(sessionmaker, mailbox_id=box.id, email=box.email)

    with pytest.raises(LeaseHeld) as refused:
        await MailboxLease.acquire(sessionmaker, mailbox_id=box.id, email=box.email)

    assert refused.value.owner == first.owner
    assert "--wait" in str(refused.value)
    await first.release()
    assert await lease_of(sessionmaker, box.id) is None
    again = await MailboxLease.acquire(sessionmaker, mailbox_id=box.id, email=box.email)
    await again.release()


async def test_an_expired_lease_is_taken_over(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    box = await new_mailbox(sessionmaker)
    await hold_for(sessionmaker, box.id, OTHER_HOST_OWNER, seconds=-1)

    lease = await MailboxLease.acquire(sessionmaker, mailbox_id=box.id, email=box.email)

    assert await lease_of(sessionmaker, box.id) == lease.owner
    await lease.release()


def owner_in_our_namespace(pid: int) -> str:
    scope = process_scope()
    if scope is None:
        pytest.skip("no /proc here: leases are never taken over before they expire")
    return f"{socket.gethostname()}:{pid}:deadbeef:{scope}"


async def reaped_pid() -> int:
    process = await asyncio.create_subprocess_exec("true")
    await process.wait()  # reaped: its pid no longer exists
    return process.pid


async def test_a_lease_left_by_a_dead_process_of_our_pid_namespace_is_taken_over(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    box = await new_mailbox(sessionmaker)
    await hold_for(sessionmaker, box.id, owner_in_our_namespace(await reaped_pid()), seconds=600)

    lease = await MailboxLease.acquire(sessionmaker, mailbox_id=box.id, email=box.email)

    assert await lease_of(sessionmaker, box.id) == lease.owner
    await lease.release()


async def test_only_a_missing_pid_of_our_own_namespace_and_boot_counts_as_dead() -> None:
    scope = process_scope()
    if scope is None:
        pytest.skip("no /proc here")
    boot_id, namespace = scope.split(":")
    gone = await reaped_pid()
    host = socket.gethostname()

    assert owner_is_dead(f"{host}:{gone}:x:{scope}")
    assert not owner_is_dead(f"{host}:{os.getpid()}:x:{scope}")
    assert not owner_is_dead(f"{host}:1:x:{scope}")  # init is always alive
    # The same hostname is no evidence: a container sharing it has its own PID namespace, and
    # a token without a namespace (or from another one, or another boot) is waited out.
    assert not owner_is_dead(f"{host}:{gone}:deadbeef")
    assert not owner_is_dead(f"{host}:{gone}:x:{boot_id}:4.1")
    other_boot = "00000000-0000-0000-0000-000000000000"
    assert not owner_is_dead(f"{host}:{gone}:x:{other_boot}:{namespace}")
    assert not owner_is_dead(OTHER_HOST_OWNER)
    assert not owner_is_dead("garbage")
    assert not owner_is_dead(None)


async def test_wait_polls_until_the_holder_lets_go(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    box = await new_mailbox(sessionmaker)
    await hold_for(sessionmaker, box.id, OTHER_HOST_OWNER, seconds=600)
    polls: list[float] = []

    async def holder_finishes_after_two_polls(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 2:
            await hold_for(sessionmaker, box.id, OTHER_HOST_OWNER, seconds=-600)

    lease = await MailboxLease.acquire(
        sessionmaker,
        mailbox_id=box.id,
        email=box.email,
        wait=True,
        poll_seconds=7.5,
        sleep=holder_finishes_after_two_polls,
    )

    assert polls == [7.5, 7.5]
    assert await lease_of(sessionmaker, box.id) == lease.owner
    await lease.release()


async def test_renewing_extends_the_lease_and_notices_when_it_was_taken(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    box = await new_mailbox(sessionmaker)
    now = utcnow()
    clock = [now]
    lease = await MailboxLease.acquire(
        sessionmaker, mailbox_id=box.id, email=box.email, clock=lambda: clock[0]
    )
    clock[0] = now + timedelta(seconds=100)

    assert await lease.renew()
    async with sessionmaker() as session:
        expires = await session.scalar(select(Mailbox.lease_expires_at).where(Mailbox.id == box.id))
    assert expires == clock[0] + lease.ttl

    await hold_for(sessionmaker, box.id, OTHER_HOST_OWNER, seconds=600)
    assert not await lease.renew()
    assert lease.lost
    async with transaction(sessionmaker) as session:
        with pytest.raises(LeaseLost):
            await lease.fence(session)
    await lease.release()
    assert await lease_of(sessionmaker, box.id) == OTHER_HOST_OWNER


async def test_renewal_never_takes_back_a_lease_another_process_took_and_freed(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    box = await new_mailbox(sessionmaker)
    paused = await MailboxLease.acquire(sessionmaker, mailbox_id=box.id, email=box.email)
    await paused.stop_renewing()  # paused past its lease: it renews nothing meanwhile
    await hold_for(sessionmaker, box.id, paused.owner, seconds=-1)
    newer = await MailboxLease.acquire(sessionmaker, mailbox_id=box.id, email=box.email)
    await newer.release()
    assert await lease_of(sessionmaker, box.id) is None

    assert not await paused.renew()

    assert paused.lost
    assert await lease_of(sessionmaker, box.id) is None
    async with transaction(sessionmaker) as session:
        with pytest.raises(LeaseLost):
            await paused.fence(session)


async def test_a_sync_refused_by_the_lease_leaves_no_run_behind(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, tmp_path: Path
) -> None:
    fake = FakeMailbox()
    harness = Harness(
        fake, sync_settings(settings), sessionmaker, fake_client_factory(fake, tmp_path)
    )
    box = await new_mailbox(sessionmaker)
    await hold_for(sessionmaker, box.id, OTHER_HOST_OWNER, seconds=600)

    with pytest.raises(LeaseHeld):
        await harness.sync()

    async with sessionmaker() as session:
        assert (await session.scalars(select(EmailIngestRun))).all() == []


async def test_the_next_sync_closes_runs_a_killed_process_left_running(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, tmp_path: Path
) -> None:
    fake = FakeMailbox()
    fake.add_synthetic_messages(3)
    harness = Harness(
        fake, sync_settings(settings), sessionmaker, fake_client_factory(fake, tmp_path)
    )
    box = await new_mailbox(sessionmaker)
    async with transaction(sessionmaker) as session:
        stale = EmailIngestRun(mailbox_id=box.id, mode=IngestMode.FULL)
        session.add(stale)
        await session.flush()
        stale_id = stale.id

    result = await harness.sync()

    assert result.status is IngestStatus.COMPLETED
    closed = await harness.run(stale_id)
    assert closed.status is IngestStatus.FAILED
    assert closed.finished_at is not None
    assert "interrupted" in closed.error_log[-1]["reason"]


async def test_the_cli_exits_3_with_a_clear_message_when_the_lease_is_held(
    sessionmaker: async_sessionmaker[AsyncSession], database_url: str, tmp_path: Path
) -> None:
    box = await ensure_mailbox(
        sessionmaker, email="arkiv@rendetalje.dk", provider=MailProvider.MBOX
    )
    await hold_for(sessionmaker, box.id, OTHER_HOST_OWNER, seconds=600)
    mbox = tmp_path / "tom.mbox"
    mbox.write_bytes(b"From x@example.com\nSubject: hi\n\nhello\n")
    app = typer.Typer()
    app.command("sync")(sync_command)
    app.command("noop")(lambda: None)
    env = {"LEADFLOW_DATABASE_URL": database_url, "LEADFLOW_LOG_LEVEL": "WARNING"}

    result = await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["sync", "--mbox", str(mbox), "--mailbox", "arkiv@rendetalje.dk"],
        env=env,
    )

    assert result.exit_code == EXIT_LEASE_HELD
    assert "being synced by other-host.example:4242:abcd1234" in " ".join(result.output.split())
