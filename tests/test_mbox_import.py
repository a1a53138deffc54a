"""`leadflow sync --mbox`: an mbox file through the same parse → store → process pipeline."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from pathlib import Path

import typer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from leadflow.cli.sync import sync_command
from leadflow.models import IngestMode, IngestStatus, Mailbox, MailProvider
from leadflow.settings import Settings
from leadflow.sync.job import import_mbox
from leadflow.sync.store import StoredMessage
from tests.fakes.gmail_wire import make_raw_email
from tests.sync_helpers import at, mailbox_state, write_mbox

ARCHIVE = "arkiv@rendetalje.dk"


def conversation() -> list[bytes]:
    """A thread of three, a reply whose parent is missing, a mail without Message-ID."""
    original = make_raw_email(
        subject="Tilbud på rengøring", message_id="<a1@example.net>", date=at(2)
    )
    reply = make_raw_email(
        subject="SV: Tilbud på rengøring",
        sender="Rendetalje <info@rendetalje.dk>",
        to="kunde@example.net",
        message_id="<b2@rendetalje.dk>",
        in_reply_to="<a1@example.net>",
        date=at(3),
    )
    # A client that sends only In-Reply-To (no References) still lands in the thread.
    second_reply = make_raw_email(
        subject="Re: Tilbud på rengøring", message_id="<c3@example.net>", date=at(4)
    ).replace(b"Message-ID:", b"In-Reply-To: <b2@rendetalje.dk>\r\nMessage-ID:", 1)
    orphan = make_raw_email(
        subject="Re: Flytterengøring",
        message_id="<d4@example.net>",
        date=at(5),
    ).replace(
        b"Message-ID:",
        b"References: <root9@example.net> <mid8@example.net>\r\n"
        b"In-Reply-To: <mid8@example.net>\r\nMessage-ID:",
        1,
    )
    no_id = b"From: Anonym <anonym@example.net>\r\nSubject: Uden id\r\n\r\nHej\r\n"
    return [original, reply, second_reply, orphan, no_id]


class Recorder:
    """A processor that remembers what it was handed."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    async def process(
        self, session: AsyncSession, mailbox: Mailbox, stored: Sequence[StoredMessage]
    ) -> None:
        self.batches.append([s.gmail_message_id for s in stored])


async def test_it_imports_an_mbox_file_with_threads_from_references(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, tmp_path: Path
) -> None:
    path = write_mbox(tmp_path / "arkiv.mbox", conversation())
    recorder = Recorder()

    result = await import_mbox(
        settings, sessionmaker, path=path, mailbox_email=ARCHIVE, processors=[recorder]
    )

    assert (result.mode, result.status) == (IngestMode.MBOX, IngestStatus.COMPLETED)
    assert (result.total, result.new, result.updated, result.errors) == (5, 5, 0, 0)
    async with sessionmaker() as session:
        state = await mailbox_state(session, ARCHIVE)
        box = await session.scalar(select(Mailbox).where(Mailbox.email == ARCHIVE))
    assert box is not None
    assert box.provider is MailProvider.MBOX
    hashed = "mbox:sha256:" + hashlib.sha256(conversation()[-1]).hexdigest()
    assert set(state.messages) == {
        "mbox:a1@example.net",
        "mbox:b2@rendetalje.dk",
        "mbox:c3@example.net",
        "mbox:d4@example.net",
        hashed,
    }
    assert {
        state.messages[m]["thread"] for m in ("mbox:b2@rendetalje.dk", "mbox:c3@example.net")
    } == {"mbox:a1@example.net"}
    assert state.messages["mbox:a1@example.net"]["thread"] == "mbox:a1@example.net"
    assert state.messages["mbox:d4@example.net"]["thread"] == "mbox:root9@example.net"
    assert state.messages[hashed]["thread"] == hashed
    thread = state.threads["mbox:a1@example.net"]
    assert thread["message_count"] == 3
    assert thread["subject"] == "Tilbud på rengøring"
    assert thread["last_message_at"] == at(4)
    assert sorted(m for batch in recorder.batches for m in batch) == sorted(state.messages)


async def test_importing_the_same_file_again_adds_nothing(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, tmp_path: Path
) -> None:
    path = write_mbox(tmp_path / "arkiv.mbox", conversation())
    await import_mbox(settings, sessionmaker, path=path, mailbox_email=ARCHIVE)
    async with sessionmaker() as session:
        before = await mailbox_state(session, ARCHIVE)
    recorder = Recorder()

    again = await import_mbox(
        settings, sessionmaker, path=path, mailbox_email=ARCHIVE, processors=[recorder]
    )

    async with sessionmaker() as session:
        after = await mailbox_state(session, ARCHIVE)
    assert after == before
    assert (again.total, again.new, again.updated, again.status) == (
        5,
        0,
        0,
        IngestStatus.COMPLETED,
    )
    assert recorder.batches == []


async def test_a_broken_message_in_the_file_does_not_stop_the_import(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, tmp_path: Path
) -> None:
    broken = (
        b"From: =?x-unknown?Q?=FF?= <kunde@example.net>\r\nMessage-ID: <z9@example.net>\r\n"
        b'Content-Type: multipart/mixed; boundary="never-closed"\r\n\r\n--never-closed\r\n'
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n\xff\xfe tekst uden slutning"
    )
    path = write_mbox(tmp_path / "arkiv.mbox", [broken, *conversation()[:1]])

    result = await import_mbox(settings, sessionmaker, path=path, mailbox_email=ARCHIVE)

    assert (result.new, result.errors) == (2, 0)


async def test_the_cli_imports_an_mbox_and_says_what_it_did(
    engine: object, database_url: str, tmp_path: Path
) -> None:
    path = write_mbox(tmp_path / "arkiv.mbox", conversation())
    app = typer.Typer()
    app.command("sync")(sync_command)
    app.command("noop")(lambda: None)
    env = {"LEADFLOW_DATABASE_URL": database_url, "LEADFLOW_LOG_LEVEL": "WARNING"}

    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["sync", "--mbox", str(path), "--mailbox", ARCHIVE], env=env
    )

    assert result.exit_code == 0, result.output
    assert f"mbox sync of {ARCHIVE} completed" in result.output
    assert "5 seen, 5 new" in result.output


class Failing:
    async def process(
        self, session: AsyncSession, mailbox: Mailbox, stored: Sequence[StoredMessage]
    ) -> None:
        session.add(Mailbox(email="half-done@example.dk", provider=MailProvider.MBOX))
        await session.flush()
        raise RuntimeError("lead parser bug")


async def test_a_failing_processor_is_logged_and_neither_stops_nor_undoes_the_batch(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, tmp_path: Path
) -> None:
    path = write_mbox(tmp_path / "arkiv.mbox", conversation())
    after = Recorder()

    result = await import_mbox(
        settings, sessionmaker, path=path, mailbox_email=ARCHIVE, processors=[Failing(), after]
    )

    assert (result.status, result.new, result.errors) == (IngestStatus.PARTIAL, 5, 1)
    assert sum(len(batch) for batch in after.batches) == 5
    async with sessionmaker() as session:
        emails = set(await session.scalars(select(Mailbox.email)))
    assert emails == {ARCHIVE}  # the failed processor's own writes were rolled back
