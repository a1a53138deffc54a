"""What every `leadflow` command shares: the stderr console and reading the settings."""

from __future__ import annotations

import typer
from pydantic import ValidationError
from rich.console import Console

from leadflow.settings import Settings

console = Console(stderr=True)


def load_settings() -> Settings:
    """Read settings, turning a bad value into a one-line error instead of a traceback."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"LEADFLOW_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        console.print(f"[red]invalid configuration:[/red] {problems}")
        raise typer.Exit(2) from None
