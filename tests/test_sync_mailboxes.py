"""Which mailbox a sync may write into: only the configured Gmail mailbox, no mixed rows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import typer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from leadflow.cli.sync import EXIT_CONFIG, sync_command
from leadflow.models import EmailIngestRun, EmailMessage, EmailThread, Mailbox, MailProvider
from leadflow.settings import Settings
from leadflow.sync.job import import_mbox
from leadflow.sync.mailboxes import MailboxKindConflict, ensure_mailbox
from tests.fakes.gmail import FakeMailbox
from tests.fakes.gmail_wire import make_raw_email
from tests.sync_helpers import (
    GMAIL_USER,
    sync_api_client,
    sync_settings,
    write_mbox,
)
from tests.test_sync_api import build_app, finished

OTHER = "other@rendetalje.dk"


@pytest.fixture
def fake() -> FakeMailbox:
    fake = FakeMailbox()
    fake.add_synthetic_messages(6)
    return fake


@pytest.fixture
async def sync_client(
    settings: Settings, engine: AsyncEngine, fake: FakeMailbox, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    async with sync_api_client(build_app(sync_settings(settings)), fake, tmp_path) as client:
        yield client


async def counts(sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[int, int, int, int]:
    """Mailboxes, runs, messages, threads."""
    found: list[int] = []
    async with sessionmaker() as session:
        for table in (Mailbox, EmailIngestRun, EmailMessage, EmailThread):
            found.append(int(await session.scalar(select(func.count()).select_from(table)) or 0))
    mailboxes, runs, messages, threads = found
    return mailboxes, runs, messages, threads


async def test_the_api_refuses_a_gmail_sync_of_a_mailbox_without_credentials(
    sync_client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    first = await sync_client.post("/api/sync", json={})
    assert (await finished(sync_client, first.json()["id"]))["new_emails"] == 6
    before = await counts(sessionmaker)

    response = await sync_client.post("/api/sync", json={"mailbox": OTHER.upper()})

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert OTHER in error["message"]
    assert GMAIL_USER in error["message"]
    assert error["details"] == {"mailbox": OTHER, "configured_mailboxes": [GMAIL_USER]}
    # Nothing written: no second mailbox row, no run, no second copy of the mail.
    assert await counts(sessionmaker) == before
    assert before[:3] == (1, 1, 6)


async def test_the_api_accepts_the_configured_mailbox_in_any_spelling(
    sync_client: httpx.AsyncClient,
) -> None:
    response = await sync_client.post("/api/sync", json={"mailbox": f"  {GMAIL_USER.upper()} "})

    assert response.status_code == 202, response.text
    assert response.json()["mailbox"] == GMAIL_USER
    assert (await finished(sync_client, response.json()["id"]))["status"] == "completed"


async def test_the_api_refuses_a_gmail_sync_into_an_mbox_archive(
    sync_client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await ensure_mailbox(sessionmaker, email=GMAIL_USER, provider=MailProvider.MBOX)

    response = await sync_client.post("/api/sync", json={})

    assert response.status_code == 409, response.text
    assert response.json()["error"]["details"] == {"mailbox": GMAIL_USER, "provider": "mbox"}
    assert await counts(sessionmaker) == (1, 0, 0, 0)


def run_cli(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    app = typer.Typer()
    app.command("sync")(sync_command)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, ["sync", *args], env=env)
    return result.exit_code, result.output


def cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    credentials = tmp_path / "unused-credentials.json"
    credentials.write_text("{}")
    return {
        "LEADFLOW_DATABASE_URL": database_url,
        "LEADFLOW_GMAIL_CREDENTIALS": str(credentials),
        "LEADFLOW_GMAIL_USER": GMAIL_USER,
        "LEADFLOW_LOG_LEVEL": "WARNING",
    }


async def test_the_cli_refuses_another_gmail_mailbox_in_one_line_with_exit_2(
    sessionmaker: async_sessionmaker[AsyncSession], database_url: str, tmp_path: Path
) -> None:
    code, output = await asyncio.to_thread(
        run_cli, ["--mailbox", OTHER], cli_env(database_url, tmp_path)
    )

    assert code == EXIT_CONFIG
    line = " ".join(output.split())
    assert f"{OTHER} is not a configured Gmail mailbox: only {GMAIL_USER}" in line
    assert "Traceback" not in output
    assert await counts(sessionmaker) == (0, 0, 0, 0)


async def test_the_cli_refuses_an_mbox_import_into_the_configured_gmail_mailbox(
    sessionmaker: async_sessionmaker[AsyncSession], database_url: str, tmp_path: Path
) -> None:
    mbox = write_mbox(tmp_path / "arkiv.mbox", [make_raw_email()])

    code, output = await asyncio.to_thread(
        run_cli, ["--mbox", str(mbox)], cli_env(database_url, tmp_path)
    )

    assert code == EXIT_CONFIG
    assert "--mailbox" in " ".join(output.split())
    assert await counts(sessionmaker) == (0, 0, 0, 0)

    code, output = await asyncio.to_thread(
        run_cli,
        ["--mbox", str(mbox), "--mailbox", "arkiv@rendetalje.dk"],
        cli_env(database_url, tmp_path),
    )
    assert code == 0, output
    assert await counts(sessionmaker) == (1, 1, 1, 1)


async def test_an_mbox_import_never_writes_into_a_gmail_mailbox(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, tmp_path: Path
) -> None:
    # Gmail is not configured here, so only the row's provider stands in the way.
    await ensure_mailbox(sessionmaker, email=GMAIL_USER, provider=MailProvider.GMAIL)
    mbox = write_mbox(tmp_path / "arkiv.mbox", [make_raw_email()])

    with pytest.raises(MailboxKindConflict):
        await import_mbox(settings, sessionmaker, path=mbox, mailbox_email=GMAIL_USER)

    assert await counts(sessionmaker) == (1, 0, 0, 0)


async def test_first_syncs_of_a_new_mailbox_at_once_share_one_row(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    emails = [f"box{n}@rendetalje.dk" for n in range(8)]

    rows = await asyncio.gather(
        *(
            ensure_mailbox(sessionmaker, email=email, provider=MailProvider.MBOX)
            for email in emails
            for _ in range(3)
        )
    )

    assert len({row.id for row in rows}) == len(emails)
    assert await counts(sessionmaker) == (len(emails), 0, 0, 0)
