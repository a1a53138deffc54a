from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from leadflow.db import async_url, sqlite_file
from leadflow.settings import Settings


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("raw", "driver"),
    [
        ("postgresql://u@h/db", "postgresql+asyncpg"),
        ("postgres://u@h/db", "postgresql+asyncpg"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg"),
        ("sqlite:///./data/x.db", "sqlite+aiosqlite"),
    ],
)
def test_it_picks_the_async_driver_for_plain_urls(raw: str, driver: str) -> None:
    assert async_url(raw).drivername == driver


def test_it_refuses_an_unsupported_database() -> None:
    with pytest.raises(ValueError, match="unsupported database 'mysql'"):
        async_url("mysql://u@h/db")


def test_it_finds_the_sqlite_file_behind_a_url() -> None:
    assert sqlite_file("sqlite:///./data/leadflow.db") == Path("./data/leadflow.db")
    assert sqlite_file("postgresql://u@h/db") is None


def test_it_reads_prefixed_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADFLOW_OWN_DOMAINS", "Rendetalje.dk, example.dk ,")
    monkeypatch.setenv("LEADFLOW_LOG_LEVEL", "debug")
    monkeypatch.setenv("LEADFLOW_API_TOKEN", "s3cret")
    settings = _settings()
    assert settings.own_domains == ["rendetalje.dk", "example.dk"]
    assert settings.log_level == "DEBUG"
    assert settings.api_token is not None
    assert "s3cret" not in repr(settings)


def test_it_reads_a_dotenv_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / ".env"
    env.write_text("LEADFLOW_TIMEZONE=Europe/Oslo\n")
    monkeypatch.delenv("LEADFLOW_TIMEZONE", raising=False)
    assert Settings(_env_file=env).timezone == "Europe/Oslo"  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("field", "value"),
    [("timezone", "Mars/Olympus"), ("log_level", "LOUD"), ("log_format", "xml")],
)
def test_it_rejects_bad_values_loudly(field: str, value: str) -> None:
    with pytest.raises(ValidationError, match=field):
        _settings(**{field: value})
