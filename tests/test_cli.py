from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect
from typer.testing import CliRunner

from leadflow.cli.main import app

runner = CliRunner()


def test_db_upgrade_builds_the_schema_on_a_new_sqlite_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "fresh.db"
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", f"sqlite:///{db}")
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    engine = create_engine(f"sqlite:///{db}")
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"customers", "leads", "email_threads", "email_messages", "bookings"} <= tables


def test_serve_refuses_to_start_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEADFLOW_API_TOKEN", raising=False)
    monkeypatch.chdir(Path(__file__).parent)  # no .env here
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 2
    assert "LEADFLOW_API_TOKEN" in result.output


def test_a_bad_setting_is_one_line_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADFLOW_TIMEZONE", "Nowhere/Land")
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 2
    assert "LEADFLOW_TIMEZONE" in result.output
    assert "Traceback" not in result.output
