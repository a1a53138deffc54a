"""The CLI's error boundary: a known failure is one line on stderr and a documented exit code.

Every `leadflow` command runs inside `BoundaryGroup.invoke`. A failure it knows (no schema, the
database unreachable, a bad setting, a file that is not an mbox, a busy port) prints one line and
exits with its code; anything else prints one line naming the error and exits 1. `--debug` (or
LEADFLOW_LOG_LEVEL=DEBUG) prints the traceback above that line. Commands that catch errors
themselves report them through `fail`, so the wording is the same everywhere.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from dataclasses import dataclass

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from typer._click.globals import get_current_context
from typer.core import TyperGroup

from leadflow.settings import Settings

EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_BUSY = 3
EXIT_NO_SCHEMA = 4

EXIT_CODES_HELP = (
    "Exit codes: 0 done; 1 failed (database unreachable, a run failed, not an mbox file, port "
    "in use); 2 configuration or usage (a bad setting or option); 3 busy or refused (another "
    "process syncs the mailbox, seed or demo refused other data); 4 the database has no "
    "schema: run `leadflow db upgrade`. --debug shows the traceback of a failure."
)

NO_SCHEMA = "database has no schema: run `leadflow db upgrade`"
OLD_SCHEMA = "database schema is older than this leadflow: run `leadflow db upgrade`"

_UNDEFINED_TABLE = "42P01"
_UNDEFINED_COLUMN = "42703"
_NO_DATABASE = "3D000"
_LOGIN_FAILED = frozenset({"28000", "28P01"})


@dataclass(frozen=True, slots=True)
class Failure:
    """What the user reads (one line) and the exit code."""

    line: str
    code: int


class CliFailure(Exception):
    """A failure a command has already put into words."""

    def __init__(self, line: str, code: int = EXIT_FAILED) -> None:
        super().__init__(line)
        self.failure = Failure(line, code)


def say(line: str) -> None:
    """Print one line on stderr, never wrapped, markup-free."""
    sys.stderr.write(line.rstrip("\n") + "\n")
    sys.stderr.flush()


def _sqlstate(exc: BaseException) -> str | None:
    from leadflow.db import sqlstate

    return sqlstate(exc)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _message(exc: BaseException) -> str:
    """The error's own words on one line, without SQLAlchemy's statement dump."""
    inner = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = " ".join(str(inner).split()) or type(inner).__name__
    return text[:300]


def _where(database_url: str) -> str:
    try:
        url = make_url(database_url)
    except ArgumentError:
        return "the database"
    if url.get_backend_name() == "sqlite":
        return f"SQLite file {url.database}"
    return f"{url.host or 'localhost'}:{url.port or 5432}"


def _unreachable_reason(exc: BaseException) -> str:
    for link in _chain(exc):
        if isinstance(link, ConnectionRefusedError):
            return "connection refused"
        if isinstance(link, TimeoutError):
            return "no answer"
        if isinstance(link, OSError) and link.strerror:
            return link.strerror.lower()
    return _message(exc)


def is_missing_schema(exc: BaseException) -> bool:
    """True when `exc` says a table leadflow needs is not there."""
    if _sqlstate(exc) == _UNDEFINED_TABLE:
        return True
    return isinstance(exc, DBAPIError) and "no such table" in str(exc.orig)


def _is_old_schema(exc: BaseException) -> bool:
    if _sqlstate(exc) == _UNDEFINED_COLUMN:
        return True
    return isinstance(exc, DBAPIError) and "no such column" in str(exc.orig)


def describe_failure(
    exc: BaseException, *, database_url: str | None = None, connect_timeout: float | None = None
) -> Failure | None:
    """The line and exit code for a failure the CLI knows, or None for an unexpected one."""
    from leadflow.db import is_connection_error
    from leadflow.sync.sources import NotAnMbox

    if isinstance(exc, CliFailure):
        return exc.failure
    if isinstance(exc, NotAnMbox):
        return Failure(str(exc), EXIT_FAILED)
    if is_missing_schema(exc):
        return Failure(NO_SCHEMA, EXIT_NO_SCHEMA)
    if _is_old_schema(exc):
        return Failure(OLD_SCHEMA, EXIT_NO_SCHEMA)
    code = _sqlstate(exc)
    where = _where(database_url) if database_url else "the database"
    if code == _NO_DATABASE:
        return Failure(f"database not found on {where}: {_message(exc)}", EXIT_CONFIG)
    if code in _LOGIN_FAILED:
        return Failure(f"database login failed on {where}: {_message(exc)}", EXIT_CONFIG)
    if is_connection_error(exc):
        timeout = f"; connect timeout {connect_timeout:g} s" if connect_timeout else ""
        return Failure(
            f"database unreachable: {where} ({_unreachable_reason(exc)}{timeout})", EXIT_FAILED
        )
    return None


def describe_any(exc: BaseException, *, doing: str | None = None) -> Failure:
    """`describe_failure` with the configured database, else one line naming the error."""
    settings = current_settings()
    known = describe_failure(
        exc,
        database_url=settings.database_url if settings else None,
        connect_timeout=settings.db_connect_timeout if settings else None,
    )
    if known is not None:
        return known
    prefix = f"{doing}: " if doing else "unexpected error: "
    return Failure(
        f"{prefix}{type(exc).__name__}: {_message(exc)} (--debug shows the traceback)",
        EXIT_FAILED,
    )


def debug_requested() -> bool:
    """--debug on the command line, or LEADFLOW_LOG_LEVEL=DEBUG (environment or .env)."""
    ctx = get_current_context(silent=True)
    if ctx is not None and ctx.find_root().params.get("debug"):
        return True
    settings = current_settings()
    level = settings.log_level if settings else os.environ.get("LEADFLOW_LOG_LEVEL", "")
    return level.upper() == "DEBUG"


def fail(exc: BaseException, *, doing: str | None = None, resume_hint: str = "") -> typer.Exit:
    """Report `exc` (traceback first when debugging) and return the Exit to raise.

    `resume_hint` (what survived, how to carry on) is added to the line when the work stopped
    part-way (exit 1), not when it never began (no schema, configuration).
    """
    if debug_requested():
        traceback.print_exception(exc, file=sys.stderr)
    failure = describe_any(exc, doing=doing)
    hint = f"; {resume_hint}" if resume_hint and failure.code == EXIT_FAILED else ""
    say(failure.line + hint)
    return typer.Exit(failure.code)


_PREFIX = "LEADFLOW_"


def read_settings() -> Settings:
    """Settings from the environment and .env (raises what pydantic-settings raises)."""
    return Settings()


def settings_problem() -> str | None:
    """One line naming each bad setting and why, or None when the settings load."""
    try:
        read_settings()
    except ValidationError as exc:
        problems = "; ".join(_describe_setting(err["loc"], err["msg"]) for err in exc.errors())
        return f"invalid configuration: {problems}"
    except SettingsError as exc:
        return f"invalid configuration: {_describe_settings_error(exc)}"
    return None


def _describe_setting(loc: tuple[int | str, ...], message: str) -> str:
    """`LEADFLOW_<FIELD>: why`, with where inside a JSON value (`LEADFLOW_LEAD_SENDERS at
    "x": ...`) rather than a variable name nobody set."""
    name = f"{_PREFIX}{str(loc[0]).upper()}" if loc else "a setting"
    inside = " at " + " / ".join(json.dumps(part) for part in loc[1:]) if len(loc) > 1 else ""
    return f"{name}{inside}: {message}"


def _describe_settings_error(exc: SettingsError) -> str:
    # pydantic-settings says 'error parsing value for field "x" from source "EnvSettingsSource"'
    # and keeps the reason (a JSONDecodeError for a dict or list setting) as the cause.
    text = str(exc)
    parts = text.split('"')
    field = parts[1] if len(parts) > 1 else ""
    source = " (in .env)" if "DotEnv" in text else ""
    cause = exc.__cause__
    if isinstance(cause, json.JSONDecodeError):
        why = f"not valid JSON ({cause.msg} at character {cause.pos})"
    elif cause is not None:
        why = " ".join(str(cause).split())
    else:
        why = text
    name = f"{_PREFIX}{field.upper()}" if field else "a setting"
    return f"{name}{source}: {why}"


def current_settings() -> Settings | None:
    """The settings, or None when they do not load (the caller reports that elsewhere)."""
    try:
        return read_settings()
    except (ValidationError, SettingsError):
        return None


class BoundaryGroup(TyperGroup):
    """The root command group: no traceback reaches the user unless asked for."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        if ctx.parent is None and not ctx.resilient_parsing:
            _check_settings(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: typer.Context) -> object:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except Exception as exc:
            raise fail(exc) from None


def _check_settings(args: list[str]) -> None:
    """A bad setting stops every command with one line; help still shows, after the line."""
    problem = settings_problem()
    if problem is None:
        return
    say(problem)
    wants_help = not args or "--help" in args
    if not wants_help:
        raise typer.Exit(EXIT_CONFIG)
