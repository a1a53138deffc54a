"""Application settings: one class, read from LEADFLOW_* environment variables and `.env`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class LogFormat(StrEnum):
    JSON = "json"
    CONSOLE = "console"


DEFAULT_DATABASE_URL = "sqlite:///./data/leadflow.db"


class Settings(BaseSettings):
    """Every knob leadflow has. The README's configuration table is checked against this class."""

    model_config = SettingsConfigDict(
        env_prefix="LEADFLOW_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="Database URL: `sqlite:///path` or `postgresql://user@host/db`; "
        "the async driver is chosen automatically.",
    )
    redis_url: str | None = Field(
        None, description="Redis URL for the shared cache; unset means memory cache only."
    )
    api_token: SecretStr | None = Field(
        None,
        description="Bearer token required on every /api route. "
        "`serve` refuses to start without one (the demo makes one).",
    )
    own_domains: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["rendetalje.dk"],
        description="Comma-separated domains that belong to the business (outbound mail).",
    )
    timezone: str = Field("Europe/Copenhagen", description="Business time zone for day-based KPIs.")
    log_level: str = Field("INFO", description="Log level: DEBUG, INFO, WARNING, ERROR.")
    log_format: LogFormat = Field(LogFormat.CONSOLE, description="Log output: `json` or `console`.")
    db_connect_timeout: float = Field(
        5.0, gt=0, description="Seconds to wait for a database connection before answering 503."
    )
    db_statement_timeout: float = Field(
        30.0, gt=0, description="Seconds a single SQL statement may run (PostgreSQL)."
    )
    db_pool_size: int = Field(10, ge=1, description="Connections kept in the pool (PostgreSQL).")

    @field_validator("own_domains", mode="before")
    @classmethod
    def _split_domains(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    def sqlite_path(self) -> Path | None:
        """Return the file path of a SQLite database URL, or None for other databases."""
        from leadflow.db import sqlite_file

        return sqlite_file(self.database_url)
