"""`leadflow monitoring setup|status` (UptimeRobot) and `leadflow check-frontend`.

Exit codes: 0 done, 1 UptimeRobot (or the checked server) answered with an error or a check
failed, 2 configuration (missing key or secret, bad URL).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from urllib.parse import urlsplit

import httpx
import typer
from rich.table import Table

from leadflow.cli.config import console, load_settings
from leadflow.logs import SecretMasker, configure_logging, request_context, settings_secrets
from leadflow.monitoring.outgoing import tag_outgoing
from leadflow.monitoring.uptimerobot.client import UptimeRobotClient, UptimeRobotError
from leadflow.settings import Settings

if TYPE_CHECKING:
    from leadflow.monitoring.frontend_check.runner import Row

T = TypeVar("T")

EXIT_FAILED = 1
EXIT_CONFIG = 2

monitoring_app = typer.Typer(
    help="UptimeRobot monitors for this server (API v2).", no_args_is_help=True
)


def _api_key(settings: Settings) -> str:
    key = settings.uptimerobot_api_key
    if key is None or not key.get_secret_value().strip():
        console.print("[red]not configured:[/red] set LEADFLOW_UPTIMEROBOT_API_KEY (main API key)")
        raise typer.Exit(EXIT_CONFIG)
    return key.get_secret_value().strip()


async def _with_client(settings: Settings, work: Callable[[UptimeRobotClient], Awaitable[T]]) -> T:
    secrets = tuple(settings_secrets(settings))
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0)) as http:
        client = UptimeRobotClient(
            base_url=settings.uptimerobot_api_url,
            api_key=_api_key(settings),
            http=tag_outgoing(http),
            secrets=secrets,
        )
        return await work(client)


@monitoring_app.command("setup")
def setup(
    public_url: Annotated[
        str, typer.Option("--public-url", help="Where this server is reached from outside.")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say what would be created or changed.")
    ] = False,
) -> None:
    """Make sure UptimeRobot watches /health/ready and /health/live and alerts our web-hook."""
    from leadflow.monitoring.uptimerobot.client import UptimeRobotError
    from leadflow.monitoring.uptimerobot.setup import (
        SetupReport,
        render_step,
        run_setup,
        wanted_state,
    )

    settings = load_settings()
    configure_logging(settings)
    _api_key(settings)
    secret = settings.webhook_secret
    if secret is None or not secret.get_secret_value().strip():
        console.print(
            "[red]not configured:[/red] set LEADFLOW_WEBHOOK_SECRET (the web-hook's token)"
        )
        raise typer.Exit(EXIT_CONFIG)
    try:
        wanted = wanted_state(public_url, secret.get_secret_value(), settings.uptimerobot_interval)
    except ValueError as exc:
        console.print(f"bad option: {exc}", markup=False)
        raise typer.Exit(EXIT_CONFIG) from None
    masker = SecretMasker(settings_secrets(settings))

    async def work(client: UptimeRobotClient) -> SetupReport:
        return await run_setup(client, wanted, dry_run=dry_run)

    try:
        with request_context():
            report = asyncio.run(_with_client(settings, work))
    except UptimeRobotError as exc:
        console.print(f"setup failed: {masker.mask(str(exc))}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_FAILED) from None
    for step in report.steps:
        console.print(render_step(step, masker, dry_run=dry_run), markup=False, soft_wrap=True)
    verbs = ("would create", "would change") if dry_run else ("created", "changed")
    console.print(
        f"{verbs[0]} {report.count('created')}, {verbs[1]} {report.count('changed')}, "
        f"kept {report.count('kept')}",
        markup=False,
    )


@monitoring_app.command("status")
def status() -> None:
    """List UptimeRobot's monitors with their state and uptime over 1, 7 and 30 days."""
    from leadflow.monitoring.uptimerobot.status import monitor_statuses

    settings = load_settings()
    configure_logging(settings)
    _api_key(settings)
    masker = SecretMasker(settings_secrets(settings))
    try:
        with request_context():
            rows = asyncio.run(_with_client(settings, monitor_statuses))
    except UptimeRobotError as exc:
        console.print(f"status failed: {masker.mask(str(exc))}", markup=False, soft_wrap=True)
        raise typer.Exit(EXIT_FAILED) from None
    table = Table("id", "monitor", "url", "state", "1 d %", "7 d %", "30 d %")
    table.columns[2].overflow = "fold"
    for row in rows:
        table.add_row(row.id, row.name, row.url, row.state, *row.ratios)
    console.print(table, soft_wrap=True)
    if not rows:
        console.print("no monitors: run `leadflow monitoring setup --public-url URL`")


def check_frontend_command(
    base_url: Annotated[str, typer.Option("--base-url", help="The server to check.")],
    token: Annotated[
        str | None,
        typer.Option("--token", help="Bearer token (default: LEADFLOW_API_TOKEN)."),
    ] = None,
    max_latency_ms: Annotated[
        float, typer.Option("--max-latency-ms", min=1, help="Slowest acceptable answer.")
    ] = 1000.0,
) -> None:
    """Call every GET endpoint of the route table on a live server; check status, type, schema
    and latency. Write endpoints are listed and skipped (never called)."""
    from leadflow.api.app import create_app
    from leadflow.monitoring.frontend_check.routes import endpoints
    from leadflow.monitoring.frontend_check.runner import FAIL, Limits, run_check

    parts = urlsplit(base_url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        wrong = f"bad option: --base-url must be an http(s) URL, not {base_url!r}"
        console.print(wrong, markup=False)
        raise typer.Exit(EXIT_CONFIG)
    settings = load_settings()
    bearer = token or (settings.api_token.get_secret_value() if settings.api_token else None)
    if not bearer:
        console.print("[red]no token:[/red] pass --token or set LEADFLOW_API_TOKEN")
        raise typer.Exit(EXIT_CONFIG)
    app = create_app(settings)  # for its route table and OpenAPI document; nothing connects
    found = endpoints(app)

    async def work() -> list[Any]:
        async with httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {bearer}"},
            timeout=httpx.Timeout(30.0, connect=10.0),
        ) as http:
            return await run_check(tag_outgoing(http), app.openapi(), found, Limits(max_latency_ms))

    with request_context():
        rows = asyncio.run(work())
    _print_rows(rows)
    if any(row.outcome == FAIL for row in rows):
        raise typer.Exit(EXIT_FAILED)


def _print_rows(rows: list[Row]) -> None:
    """The table, then each failure on one unbroken line (the table folds long cells to the
    terminal's width, which splits a problem across lines where nobody can grep it)."""
    from leadflow.monitoring.frontend_check.runner import FAIL, SKIP

    table = Table("method", "path", "result", "status", "ms")
    table.columns[1].overflow = "fold"
    table.add_column("problem", overflow="fold")
    for row in rows:
        millis = f"{row.millis:.1f}" if row.millis is not None else ""
        table.add_row(row.method, row.path, row.outcome, str(row.status or ""), millis, row.problem)
    console.print(table, soft_wrap=True)
    failures = [row for row in rows if row.outcome == FAIL]
    for row in failures:
        line = f"FAIL {row.method} {row.path}: {row.problem}"
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    checked = sum(1 for row in rows if row.outcome != SKIP)
    console.print(
        f"{checked} checked, {len(failures)} failed, {len(rows) - checked} skipped", markup=False
    )
