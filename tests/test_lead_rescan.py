"""Lead detection on demand over stored mail, and the CLI commands that run jobs."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from typer.testing import CliRunner

from leadflow.cli.main import app
from leadflow.leads.rescan import rescan_leads
from leadflow.maintenance.sample_mailbox import OWN_ADDRESS, build_sample_mailbox
from leadflow.models import Lead
from leadflow.settings import Settings
from leadflow.sync.job import import_mbox


@pytest.fixture
async def stored_without_leads(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, tmp_path: Path
) -> int:
    """The sample mailbox imported with no processors: mail stored, no leads made."""
    box = build_sample_mailbox(seed=13, customers=20)
    path = tmp_path / "sample.mbox"
    path.write_bytes(box.mbox_bytes())
    result = await import_mbox(
        settings, sessionmaker, path=path, mailbox_email=OWN_ADDRESS, processors=()
    )
    assert result.ok
    return sum(1 for m in box.messages if m.lead)


async def _count(sessionmaker: async_sessionmaker[AsyncSession], stmt: object) -> int:
    async with sessionmaker() as session:
        return int((await session.execute(stmt)).scalar_one())  # type: ignore[call-overload]


async def test_a_rescan_makes_the_leads_stored_mail_carries_once(
    stored_without_leads: int, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    assert await _count(sessionmaker, select(func.count(Lead.id))) == 0
    report = await rescan_leads(sessionmaker, settings)
    assert report.leads_created == stored_without_leads
    assert report.threads_rematched > 0
    again = await rescan_leads(sessionmaker, settings)
    assert again.leads_created == 0
    assert await _count(sessionmaker, select(func.count(Lead.id))) == stored_without_leads


def test_leads_rescan_and_match_run_from_the_command_line(
    stored_without_leads: int, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A plain (sync) test: the commands run their own event loop, as they do from a shell.
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", database_url)
    runner = CliRunner()
    rescan = runner.invoke(app, ["leads", "rescan"])
    assert rescan.exit_code == 0, rescan.output
    assert f"{stored_without_leads} leads" in rescan.output
    first = runner.invoke(app, ["match", "--all"])
    assert first.exit_code == 0, first.output
    assert "changed 0" in first.output  # the rescan already matched what it made matchable
    assert "matched 0 " not in first.output


@pytest.mark.sqlite_only
def test_the_demo_loads_once_and_a_second_run_adds_nothing(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", f"sqlite:///{clean_env / 'demo' / 'leadflow.db'}")
    runner = CliRunner()
    first = runner.invoke(app, ["demo", "--no-serve"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, ["demo", "--no-serve"])
    assert second.exit_code == 0, second.output
    summary = [line for line in first.output.splitlines() if "customers" in line]
    assert summary
    assert summary == [line for line in second.output.splitlines() if "customers" in line]
    assert (clean_env / "demo" / "demo-token").stat().st_mode & 0o777 == 0o600
