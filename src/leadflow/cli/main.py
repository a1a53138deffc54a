"""The `leadflow` command: one entry, with groups (`db`, ...) and long-running commands."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from leadflow.cli.config import console, load_settings, require_database, require_schema
from leadflow.cli.db import optimize_command, seed_command, stats_command
from leadflow.cli.demo import demo_command
from leadflow.cli.errors import EXIT_CODES_HELP, BoundaryGroup, fail
from leadflow.cli.monitoring import check_frontend_command, monitoring_app
from leadflow.cli.server import bind_listener, run_server
from leadflow.cli.sync import sync_command, worker_command

app = typer.Typer(
    name="leadflow",
    help="Leads, customers, email threads and bookings for a small service business.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=BoundaryGroup,
    epilog=EXIT_CODES_HELP,
)


@app.callback()
def root(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", help="Print the traceback of a failure (as LEADFLOW_LOG_LEVEL=DEBUG)."
        ),
    ] = False,
) -> None:
    """Leads, customers, email threads and bookings for a small service business."""


app.command("sync")(sync_command)
app.command("worker")(worker_command)
app.command("check-frontend")(check_frontend_command)
app.command("demo")(demo_command)
db_app = typer.Typer(help="Database schema and maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
db_app.command("seed")(seed_command)
db_app.command("optimize")(optimize_command)
db_app.command("stats")(stats_command)
gmail_app = typer.Typer(help="Gmail access.", no_args_is_help=True)
app.add_typer(gmail_app, name="gmail")
leads_app = typer.Typer(help="Leads.", no_args_is_help=True)
app.add_typer(leads_app, name="leads")
app.add_typer(monitoring_app, name="monitoring")


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply database migrations (Alembic) up to REVISION."""
    from leadflow.logs import configure_logging
    from leadflow.maintenance.schema import upgrade_database

    settings = load_settings()
    configure_logging(settings)
    try:
        asyncio.run(upgrade_database(settings, revision))
    except Exception as exc:
        raise fail(exc, doing="upgrade failed") from None
    console.print(f"database at revision {revision}")


@gmail_app.command("authorize")
def gmail_authorize(
    client_secrets: Annotated[
        Path,
        typer.Option(
            "--client-secrets",
            exists=True,
            dir_okay=False,
            help="OAuth client file (installed app) from the Google Cloud console.",
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(help="Where to write the credentials (default: LEADFLOW_GMAIL_CREDENTIALS)."),
    ] = None,
) -> None:
    """Run Google's consent flow (read-only Gmail scope) and save an authorized-user file (0600)."""
    from leadflow.sync.gmail.auth import run_authorize_flow

    settings = load_settings()
    target = output or settings.gmail_credentials
    if target is None:
        console.print("[red]no output:[/red] pass --output or set LEADFLOW_GMAIL_CREDENTIALS")
        raise typer.Exit(2)
    try:
        run_authorize_flow(client_secrets, target)
    except Exception as exc:
        console.print(f"[red]authorization failed:[/red] {exc}")
        raise typer.Exit(1) from None
    console.print(f"credentials written to {target} (mode 0600)")


@app.command("match")
def match(
    all_threads: Annotated[
        bool,
        typer.Option("--all", help="Also re-evaluate automatic matches (never manual ones)."),
    ] = False,
) -> None:
    """Re-run thread-to-customer matching (unmatched threads, or all automatic ones)."""
    from leadflow.logs import configure_logging
    from leadflow.maintenance.jobs import run_matching

    settings = load_settings(existing_database=True)
    configure_logging(settings)
    report = asyncio.run(run_matching(settings, all_threads=all_threads))
    rules = ", ".join(f"{rule} {count}" for rule, count in sorted(report.matched_by_rule.items()))
    console.print(
        f"examined {report.examined}: matched {report.matched} ({rules or 'none'}), "
        f"ambiguous {report.ambiguous}, unmatched {report.unmatched}, changed {report.changed}"
    )


@leads_app.command("rescan")
def leads_rescan() -> None:
    """Find leads in stored mail, fill what earlier parses missed (not a person's edits)."""
    from leadflow.logs import configure_logging
    from leadflow.maintenance.jobs import rescan_summary, run_lead_rescan

    settings = load_settings(existing_database=True)
    configure_logging(settings)
    try:
        report = asyncio.run(run_lead_rescan(settings))
    except Exception as exc:
        raise fail(
            exc,
            doing="rescan stopped",
            resume_hint="batches finished before are kept: run `leadflow leads rescan` "
            "again to carry on",
        ) from None
    for line in rescan_summary(report):
        console.print(line, markup=False, highlight=False)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the REST API (runs background Gmail sync when Gmail is configured)."""
    settings = load_settings()
    if settings.api_token is None or not settings.api_token.get_secret_value().strip():
        console.print(
            "[red]refusing to start:[/red] LEADFLOW_API_TOKEN is not set "
            "(every /api route needs it; `leadflow demo` makes one for local use)"
        )
        raise typer.Exit(2)
    require_database(settings)
    from leadflow.logs import configure_logging

    configure_logging(settings)
    require_schema(settings)
    if workers > 1:
        run_server(settings, host=host, port=port, workers=workers)
        return
    sock = bind_listener(host, port)
    run_server(settings, host=host, port=port, workers=1, sock=sock)


if __name__ == "__main__":
    app()
