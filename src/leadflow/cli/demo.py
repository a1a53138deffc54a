"""`leadflow demo`: the sample data in the configured database, served with a local token.

The demo uses the same database as every other command (LEADFLOW_DATABASE_URL, by default
./data/leadflow.db), so `leadflow match` or `leadflow db stats` after `make demo` see its data.
The token is LEADFLOW_API_TOKEN when set, else one kept in `demo-token` beside the SQLite file
(./data for PostgreSQL).
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Annotated

import typer

from leadflow.cli.config import console, load_settings
from leadflow.cli.errors import EXIT_BUSY, CliFailure
from leadflow.cli.server import bind_listener, run_server
from leadflow.db import sqlite_file
from leadflow.settings import Settings


def demo_banner(url: str, token: str) -> list[str]:
    """What the demo prints before serving: one line each, never wrapped."""
    return [
        f"Dashboard: {url}/dashboard (log in with the token)",
        f"API:       {url}/api/customers",
        f"API docs:  {url}/docs (interactive; the OpenAPI document is {url}/openapi.json)",
        f"Token:     {token}",
        f'Try:       curl -H "Authorization: Bearer {token}" {url}/api/dashboard/stats',
    ]


def _token(settings: Settings) -> str:
    if settings.api_token is not None and settings.api_token.get_secret_value().strip():
        return settings.api_token.get_secret_value().strip()
    path = sqlite_file(settings.database_url)
    token_file = (path.parent if path is not None else Path("data")) / "demo-token"
    if token_file.exists():
        return token_file.read_text().strip()
    token_file.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    return token


def demo_command(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    no_serve: Annotated[
        bool, typer.Option("--no-serve", help="Load the sample data and exit.")
    ] = False,
) -> None:
    """Load the sample mailbox (dated up to now) into the database, and serve it on HOST:PORT."""
    from leadflow.logs import configure_logging
    from leadflow.maintenance.demo import NotDemoData, load_demo_data

    configured = load_settings()
    sock = None if no_serve else bind_listener(host, port)  # a busy port: before anything else
    token = _token(configured)
    settings = Settings(
        database_url=configured.database_url,
        redis_url=None,
        api_token=token,
        gmail_credentials=None,
    )
    configure_logging(settings)
    try:
        summary = asyncio.run(load_demo_data(settings))
    except NotDemoData as exc:
        raise CliFailure(
            f"demo refused: {exc}; point LEADFLOW_DATABASE_URL at an empty database", EXIT_BUSY
        ) from None
    console.print(f"[green]demo data ready:[/green] {summary}")
    if sock is None:
        return
    url = f"http://{host}:{port}"
    for line in demo_banner(url, token):
        typer.echo(line)
    run_server(settings, host=host, port=port, workers=1, background_sync=False, sock=sock)
