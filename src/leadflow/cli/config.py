"""What every `leadflow` command shares: the stderr console and reading the settings."""

from __future__ import annotations

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.console import Console

from leadflow.cli.errors import (
    EXIT_CONFIG,
    EXIT_NO_SCHEMA,
    NO_SCHEMA,
    CliFailure,
    read_settings,
    say,
    settings_problem,
)
from leadflow.db import sqlite_file
from leadflow.settings import Settings

# soft_wrap: a line is never broken at the terminal width (80 columns when not a terminal).
console = Console(stderr=True, soft_wrap=True)


def load_settings(*, existing_database: bool = False) -> Settings:
    """Read settings, turning a bad value into a one-line error instead of a traceback.

    `existing_database`: the command reads a database it cannot create. A SQLite file that is
    not there is then refused (exit 4) instead of being created empty by the first connection.
    """
    try:
        settings = read_settings()
    except (ValidationError, SettingsError):
        say(settings_problem() or "invalid configuration")
        raise typer.Exit(EXIT_CONFIG) from None
    if existing_database:
        require_database(settings)
    return settings


def require_database(settings: Settings) -> None:
    """Refuse (exit 4) a SQLite file that is not there rather than let a connection create it."""
    path = sqlite_file(settings.database_url)
    if path is not None and not path.exists():
        raise CliFailure(f"{NO_SCHEMA} ({path} does not exist)", EXIT_NO_SCHEMA)


def require_schema(settings: Settings) -> None:
    """Exit 4 when the database answers but has no schema (long-running commands check first).

    A database that does not answer is no reason to refuse: `serve` answers 503 until it is
    back and the worker retries, as documented; the pool reconnects by itself.
    """
    import asyncio

    from leadflow.db import is_connection_error
    from leadflow.maintenance.schema import current_schema_revision

    try:
        revision = asyncio.run(current_schema_revision(settings))
    except Exception as exc:
        if is_connection_error(exc):
            return
        raise
    if revision is None:
        raise CliFailure(NO_SCHEMA, EXIT_NO_SCHEMA)
