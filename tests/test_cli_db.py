"""`leadflow db seed | optimize | stats`: exit codes, JSON keys, no tracebacks."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from sqlalchemy import insert
from typer.testing import CliRunner

from leadflow.cli.main import app
from leadflow.db import create_engine
from leadflow.maintenance import seed_plan
from leadflow.maintenance.seed_plan import Scale
from leadflow.models import Mailbox, utcnow
from leadflow.settings import Settings

runner = CliRunner()

REPORT_KEYS = {
    "dialect",
    "server_version",
    "database",
    "size_bytes",
    "stats_since",
    "tables",
    "indexes",
    "cache",
    "connections",
    "slow_queries",
}
OPTIMIZE_KEYS = {
    "dialect",
    "dry_run",
    "started_at",
    "seconds",
    "indexes",
    "retention",
    "maintenance",
    "suggestions",
    "report",
    "errors",
}


@pytest.fixture
def env(scratch_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", scratch_settings.database_url)
    monkeypatch.setitem(
        seed_plan.SCALES, "small", Scale("small", 20, 40, 80, 240, 10, ingest_days=1)
    )
    return scratch_settings


def test_seed_then_stats_and_optimize_as_json(env: Settings) -> None:
    seeded = runner.invoke(app, ["db", "seed", "--scale", "small", "--seed", "3"])
    assert seeded.exit_code == 0, seeded.output
    assert "20 customers" in seeded.output

    stats = runner.invoke(app, ["db", "stats", "--json"])
    assert stats.exit_code == 0, stats.output
    report = json.loads(stats.stdout)
    assert set(report) == REPORT_KEYS
    rows = {t["name"]: t["rows"] for t in report["tables"]}
    assert rows["customers"] == 20 or report["dialect"] == "postgresql"

    optimized = runner.invoke(app, ["db", "optimize", "--json"])
    assert optimized.exit_code == 0, optimized.output
    result = json.loads(optimized.stdout)
    assert set(result) == OPTIMIZE_KEYS
    assert set(result["report"]) == REPORT_KEYS
    assert {r["rule"] for r in result["retention"]} == {
        "ingest_runs",
        "spam_leads",
        "monitoring_events",
    }


def test_optimize_and_stats_print_tables_on_a_terminal(env: Settings) -> None:
    dry = runner.invoke(app, ["db", "optimize", "--dry-run", "--no-cleanup"])
    assert dry.exit_code == 0, dry.output
    assert "dry run: nothing changed" in dry.output
    assert "Maintenance" in dry.output
    assert "Retention" not in dry.output
    stats = runner.invoke(app, ["db", "stats"])
    assert stats.exit_code == 0, stats.output
    assert "Tables" in stats.output
    assert "Indexes" in stats.output


async def _add_real_mailbox(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(Mailbox.__table__).values(
                    email="info@rendetalje.dk", provider="gmail", created_at=utcnow()
                )
            )
    finally:
        await engine.dispose()


def test_seed_refuses_other_data_with_exit_code_3(env: Settings) -> None:
    asyncio.run(_add_real_mailbox(env))
    refused = runner.invoke(app, ["db", "seed", "--scale", "small"])
    assert refused.exit_code == 3
    assert "1 mailboxes" in refused.output
    assert "--force" in refused.output
    assert "Traceback" not in refused.output


def test_a_bad_anchor_is_a_usage_error(env: Settings) -> None:
    result = runner.invoke(app, ["db", "seed", "--scale", "small", "--anchor", "yesterday"])
    assert result.exit_code == 2
    assert "--anchor" in result.output


@pytest.mark.parametrize("command", [["stats"], ["optimize"], ["seed", "--scale", "small"]])
def test_an_unreachable_database_is_one_line_not_a_traceback(
    command: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("LEADFLOW_DB_CONNECT_TIMEOUT", "1")
    result = runner.invoke(app, ["db", *command])
    assert result.exit_code == 1
    assert "database unreachable" in result.output
    assert "Traceback" not in result.output
