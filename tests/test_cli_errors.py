"""The CLI's error boundary: every known failure is one line on stderr and a documented exit code.

The real `leadflow` command runs in-process (typer's runner, stdout and stderr apart); a few
cases also run the installed entry point in a subprocess.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from typer.testing import CliRunner, Result

from leadflow.cli.errors import EXIT_CONFIG, EXIT_FAILED, EXIT_NO_SCHEMA
from leadflow.cli.main import app
from leadflow.db import create_engine as leadflow_engine
from leadflow.models import Mailbox
from leadflow.settings import Settings
from tests.services import admin_postgres_url, postgres_available, require_service

runner = CliRunner()

GOOD_MBOX = b"From sender@example.com Thu Jan  1 00:00:00 1970\nSubject: hi\n\nhello\n"


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def one_line(result: Result) -> str:
    """The single stderr line of a failed run (and nothing that looks like a traceback)."""
    assert "Traceback" not in result.output, result.output
    lines = _lines(result.stderr)
    assert len(lines) == 1, result.stderr
    return lines[0]


def _mbox(directory: Path, content: bytes = GOOD_MBOX, name: str = "mail.mbox") -> str:
    path = directory / name
    path.write_bytes(content)
    return str(path)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _leaf_commands(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[list[str]]:
    sub = getattr(command, "commands", None)
    if not sub:
        yield list(path)
        return
    for name, child in sub.items():
        yield from _leaf_commands(child, (*path, name))


ALL_COMMANDS = list(_leaf_commands(typer.main.get_command(app)))
DATABASE_COMMANDS = [
    ["match"],
    ["leads", "rescan"],
    ["db", "stats"],
    ["db", "optimize"],
    ["sync", "--mbox", "{mbox}"],
]


def _args(command: list[str], work: Path) -> list[str]:
    return [_mbox(work) if part == "{mbox}" else part for part in command]


# --- no schema -------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [*DATABASE_COMMANDS, ["serve"], ["worker"]])
def test_a_missing_sqlite_file_is_the_schema_line_and_is_not_created(
    command: list[str], clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADFLOW_API_TOKEN", "a-token")  # serve checks it first
    result = runner.invoke(app, _args(command, clean_env))
    assert result.exit_code == EXIT_NO_SCHEMA
    line = one_line(result)
    assert line.startswith("database has no schema: run `leadflow db upgrade`")
    assert "leadflow.db does not exist" in line
    assert not (clean_env / "data" / "leadflow.db").exists()


@pytest.mark.parametrize("command", DATABASE_COMMANDS)
def test_a_database_without_the_schema_is_one_line_not_sql(
    command: list[str], clean_env: Path, bare_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", bare_settings.database_url)
    result = runner.invoke(app, _args(command, clean_env))
    assert result.exit_code == EXIT_NO_SCHEMA, result.output
    assert one_line(result) == "database has no schema: run `leadflow db upgrade`"
    assert "SELECT" not in result.output
    assert "INSERT" not in result.output


def test_db_upgrade_and_demo_may_create_the_sqlite_file(clean_env: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (clean_env / "data" / "leadflow.db").stat().st_size > 0


# --- unreachable -----------------------------------------------------------------------------


@pytest.mark.parametrize("command", [*DATABASE_COMMANDS, ["db", "upgrade"]])
def test_an_unreachable_database_names_host_port_and_timeout(
    command: list[str], clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _closed_port()
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", f"postgresql://nobody@127.0.0.1:{port}/none")
    result = runner.invoke(app, _args(command, clean_env))
    assert result.exit_code == EXIT_FAILED, result.output
    line = one_line(result)
    assert f"database unreachable: 127.0.0.1:{port}" in line
    assert "connect timeout 1 s" in line


def test_a_database_that_does_not_exist_is_a_configuration_error(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_service("PostgreSQL", postgres_available())
    url = make_url(admin_postgres_url()).set(database="leadflow_no_such_database")
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", url.render_as_string(hide_password=False))
    result = runner.invoke(app, ["match"])
    assert result.exit_code == EXIT_CONFIG
    assert "leadflow_no_such_database" in one_line(result)


# --- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=" ".join)
def test_a_bad_setting_stops_every_command_with_the_variable_and_why(
    command: list[str], clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADFLOW_LEAD_SENDERS", "{bad")
    result = runner.invoke(app, command)
    assert result.exit_code == EXIT_CONFIG
    line = one_line(result)
    assert line.startswith("invalid configuration: LEADFLOW_LEAD_SENDERS: not valid JSON")


def test_a_bad_value_inside_a_json_setting_names_the_variable_and_the_key(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADFLOW_LEAD_SENDERS", '{"leadmail.no": "not a list"}')
    result = runner.invoke(app, ["match"])
    assert result.exit_code == EXIT_CONFIG
    assert one_line(result) == (
        'invalid configuration: LEADFLOW_LEAD_SENDERS at "leadmail.no": '
        "Input should be a valid list"
    )


def test_a_bad_setting_in_dotenv_says_so(clean_env: Path) -> None:
    (clean_env / ".env").write_text("LEADFLOW_LEAD_SENDERS={bad\n")
    result = runner.invoke(app, ["match"])
    assert result.exit_code == EXIT_CONFIG
    assert "LEADFLOW_LEAD_SENDERS (in .env): not valid JSON" in one_line(result)


@pytest.mark.parametrize("command", [[], ["--help"], ["match", "--help"], ["db", "--help"]])
def test_help_still_works_with_a_bad_setting_after_one_line(
    command: list[str], clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADFLOW_LEAD_SENDERS", "{bad")
    result = runner.invoke(app, command)
    assert result.exit_code in (0, 2)  # click: no arguments shows help with 2
    assert "Usage: leadflow" in result.output
    assert _lines(result.stderr)[0].startswith("invalid configuration: LEADFLOW_LEAD_SENDERS")
    assert "Traceback" not in result.output


def test_the_help_lists_the_exit_codes(clean_env: Path) -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert "4 the database has no schema" in text
    assert "--debug" in text


# --- mbox files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "is empty"),
        (b"\n\n  \n", "is empty"),
        (b"# leadflow\n\nFrom here on, a README.\n", "is not an mbox file"),
        (b"\x00\x01binary", "is not an mbox file"),
    ],
)
def test_sync_refuses_a_file_that_is_not_an_mbox_and_changes_nothing(
    content: bytes,
    says: str,
    clean_env: Path,
    scratch_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", scratch_settings.database_url)
    result = runner.invoke(app, ["sync", "--mbox", _mbox(clean_env, content)])
    assert result.exit_code == EXIT_FAILED
    assert says in one_line(result)
    assert _mailboxes(scratch_settings) == 0


@pytest.mark.parametrize("mailbox", ["notanemail", "arkiv@", "two words@example.dk"])
def test_sync_refuses_a_mailbox_that_is_not_an_address_and_creates_none(
    mailbox: str, clean_env: Path, scratch_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", scratch_settings.database_url)
    result = runner.invoke(app, ["sync", "--mbox", _mbox(clean_env), "--mailbox", mailbox])
    assert result.exit_code == EXIT_CONFIG
    assert one_line(result) == f"--mailbox must be an email address, not {mailbox!r}"
    assert _mailboxes(scratch_settings) == 0


def test_sync_with_a_credentials_file_that_is_not_there_is_configuration_not_a_failed_run(
    clean_env: Path, scratch_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", scratch_settings.database_url)
    missing = clean_env / "nowhere" / "gmail.json"
    monkeypatch.setenv("LEADFLOW_GMAIL_CREDENTIALS", str(missing))
    result = runner.invoke(app, ["sync"])
    assert result.exit_code == EXIT_CONFIG
    assert f"LEADFLOW_GMAIL_CREDENTIALS names {missing}, which is not a file" in one_line(result)
    assert _mailboxes(scratch_settings) == 0  # nothing written: no mailbox, so no run either
    worker = runner.invoke(app, ["worker"])
    assert worker.exit_code == EXIT_CONFIG
    assert one_line(worker).startswith("worker not started: Gmail is not configured")


def _mailboxes(settings: Settings) -> int:
    async def count() -> int:
        engine = leadflow_engine(settings)
        try:
            async with engine.connect() as conn:
                return int((await conn.execute(select(func.count(Mailbox.id)))).scalar_one())
        finally:
            await engine.dispose()

    return asyncio.run(count())


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    content=st.one_of(
        st.binary(max_size=400),
        st.binary(max_size=400).map(lambda body: b"From x@example.com\n" + body),
    )
)
def test_arbitrary_bytes_as_an_mbox_never_give_a_traceback(
    content: bytes,
    clean_env: Path,
    scratch_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", scratch_settings.database_url)
    result = runner.invoke(app, ["sync", "--mbox", _mbox(clean_env, content)])
    assert result.exit_code in (0, EXIT_FAILED), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert len(_lines(result.stderr)) == 1, result.stderr


# --- --debug ---------------------------------------------------------------------------------


def test_debug_shows_the_traceback_above_the_line(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", f"postgresql://x@127.0.0.1:{_closed_port()}/x")
    quiet = runner.invoke(app, ["match"])
    loud = runner.invoke(app, ["--debug", "match"])
    monkeypatch.setenv("LEADFLOW_LOG_LEVEL", "DEBUG")
    by_level = runner.invoke(app, ["match"])
    assert "Traceback" not in quiet.stderr
    for result in (loud, by_level):
        assert result.exit_code == EXIT_FAILED
        assert "Traceback (most recent call last)" in result.stderr
        assert _lines(result.stderr)[-1].startswith("database unreachable:")


# --- the installed command -------------------------------------------------------------------


def _leadflow(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "leadflow"
    base = {k: v for k, v in os.environ.items() if not k.startswith("LEADFLOW_")}
    return subprocess.run(  # noqa: S603 - our own entry point
        [str(script), *args],
        cwd=cwd,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_installed_command_gives_one_line_for_each_known_failure(tmp_path: Path) -> None:
    port = _closed_port()
    missing = _leadflow(["match"], tmp_path)
    unreachable = _leadflow(
        ["leads", "rescan"],
        tmp_path,
        LEADFLOW_DATABASE_URL=f"postgresql://x@127.0.0.1:{port}/x",
        LEADFLOW_DB_CONNECT_TIMEOUT="1",
    )
    bad = _leadflow(["--help"], tmp_path, LEADFLOW_LEAD_SENDERS="{bad")
    assert (missing.returncode, unreachable.returncode, bad.returncode) == (4, 1, 0)
    assert _lines(missing.stderr) == [
        "database has no schema: run `leadflow db upgrade` (data/leadflow.db does not exist)"
    ]
    assert len(_lines(unreachable.stderr)) == 1
    assert f"127.0.0.1:{port}" in unreachable.stderr
    assert _lines(bad.stderr)[0].startswith("invalid configuration: LEADFLOW_LEAD_SENDERS")
    assert "Usage: leadflow" in bad.stdout
    assert not (tmp_path / "data").exists()


def test_a_sqlite_file_that_cannot_be_opened_is_one_line_without_a_traceback(
    tmp_path: Path,
) -> None:
    """aiosqlite stops its thread without waiting when the open fails; the command then closed
    the event loop under the thread's last answer and a traceback followed our line."""
    folder = tmp_path / "a-folder.db"
    folder.mkdir()
    for command in (["db", "stats"], ["db", "upgrade"], ["match"]):
        result = _leadflow(command, tmp_path, LEADFLOW_DATABASE_URL=f"sqlite:///{folder}")
        assert result.returncode == EXIT_FAILED, (command, result.stderr)
        assert "Traceback" not in result.stderr, (command, result.stderr)
        assert _lines(result.stderr) == [
            f"database unreachable: SQLite file {folder} "
            "(unable to open database file; connect timeout 5 s)"
        ], command


# --- found walking the README as a new user --------------------------------------------------


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("garbage", "not a database URL"),
        ("mysql://app:s3cret-pw@db/leads", "unsupported database 'mysql'"),
        ("sqlite://relative.db", "a SQLite URL names a file, not a host"),
        ("postgresql://app:s3cret-pw@127.0.0.1:99999/x", "port 99999 is not between 1 and 65535"),
        ("postgresql://app:s3cret-pw@[::1/x", "not a database URL"),
    ],
)
def test_a_bad_database_url_is_a_configuration_error_without_the_password(
    url: str, why: str, clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", url)
    result = runner.invoke(app, ["match"])
    assert result.exit_code == EXIT_CONFIG
    line = one_line(result)
    assert line.startswith("invalid configuration: LEADFLOW_DATABASE_URL:")
    assert why in line
    assert "s3cret" not in result.output


@pytest.mark.parametrize("command", [["serve", "--port", "{port}"], ["worker"]])
def test_serve_and_worker_refuse_a_database_that_answers_without_a_schema(
    command: list[str], clean_env: Path, bare_settings: Settings
) -> None:
    # A subprocess with a timeout: before the check, both ran (serving 500s, or retrying) forever.
    port = str(_closed_port())
    result = _leadflow(
        [port if part == "{port}" else part for part in command],
        clean_env,
        LEADFLOW_DATABASE_URL=bare_settings.database_url,
        LEADFLOW_API_TOKEN="a-token",
        LEADFLOW_GMAIL_CREDENTIALS=str(clean_env / "credentials.json"),
    )
    assert result.returncode == EXIT_NO_SCHEMA, result.stderr
    assert _lines(result.stderr) == ["database has no schema: run `leadflow db upgrade`"]


@pytest.mark.parametrize("command", [["serve"], ["demo"]])
def test_serve_and_demo_check_host_and_port(
    command: list[str],
    clean_env: Path,
    scratch_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEADFLOW_API_TOKEN", "a-token")
    monkeypatch.setenv("LEADFLOW_DATABASE_URL", scratch_settings.database_url)
    too_high = runner.invoke(app, [*command, "--port", "99999"])
    assert too_high.exit_code == EXIT_CONFIG  # a usage error, before anything starts
    nowhere = runner.invoke(app, [*command, "--host", "nowhere.invalid"])
    assert nowhere.exit_code == EXIT_FAILED
    assert one_line(nowhere).startswith("cannot listen on nowhere.invalid:8000")


def test_monitoring_setup_prints_no_markup_tags(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADFLOW_UPTIMEROBOT_API_KEY", "key")
    monkeypatch.setenv("LEADFLOW_WEBHOOK_SECRET", "secret")
    result = runner.invoke(app, ["monitoring", "setup", "--public-url", "notaurl"])
    assert result.exit_code == EXIT_CONFIG
    assert one_line(result).startswith("bad option: --public-url")
