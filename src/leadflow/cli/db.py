"""`leadflow db seed`, `db optimize` and `db stats`.

Exit codes: 0 success, 1 the command failed (database unreachable, a step failed), 2
configuration or arguments, 3 `seed` refused a database holding data it did not write, 4 the
database has no schema (`optimize`, `stats`; `seed` builds it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from datetime import date
from enum import StrEnum
from typing import Annotated

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgressBar

from leadflow.cli.config import console, load_settings, require_schema
from leadflow.cli.errors import fail

EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_REFUSED = 3

log = logging.getLogger("leadflow.seed")


class ScaleName(StrEnum):
    SMALL = "small"
    REFERENCE = "reference"


class _BarProgress:
    """Rows written of the total, on a Rich bar (stderr)."""

    def __init__(self, bar: RichProgressBar) -> None:
        self.bar = bar
        self.task = bar.add_task("writing rows", total=None)

    def start(self, total_rows: int) -> None:
        self.bar.update(self.task, total=total_rows)

    def advance(self, rows: int) -> None:
        self.bar.update(self.task, advance=rows)

    def step(self, description: str) -> None:
        self.bar.update(self.task, description=description)


class _LogProgress:
    """Log lines (at most one every few seconds) when stderr is not a terminal."""

    def __init__(self, every: float = 5.0) -> None:
        self.every, self.total, self.done = every, 0, 0
        self.last = time.monotonic()

    def start(self, total_rows: int) -> None:
        self.total = total_rows
        log.info("writing %d rows", total_rows)

    def advance(self, rows: int) -> None:
        self.done += rows
        if time.monotonic() - self.last >= self.every:
            self.last = time.monotonic()
            log.info("written %d of %d rows", self.done, self.total)

    def step(self, description: str) -> None:
        log.info("%s", description)


def _failed(what: str, exc: Exception) -> typer.Exit:
    return fail(exc, doing=f"{what} failed")


def seed_command(
    scale: Annotated[ScaleName, typer.Option(help="small ≈ 50k messages, reference ≈ 1M.")],
    seed: Annotated[int, typer.Option(help="Random seed: the same seed writes the same data.")] = 1,
    anchor: Annotated[
        str | None,
        typer.Option(help="Lay dates out back from this day (YYYY-MM-DD; default today, UTC)."),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Seed even a database holding other data (it is deleted)."),
    ] = False,
) -> None:
    """Fill the database with synthetic, realistic data (deletes what is there)."""
    from leadflow.logs import configure_logging
    from leadflow.maintenance.seed import NonSeedData, seed_database
    from leadflow.maintenance.seed_plan import SCALES, SeedPlan, anchor_for

    settings = load_settings()
    configure_logging(settings)
    try:
        day = date.fromisoformat(anchor) if anchor else None
    except ValueError:
        console.print(f"[red]--anchor must be a date (YYYY-MM-DD), not {anchor!r}[/red]")
        raise typer.Exit(EXIT_CONFIG) from None
    own = settings.own_domains[0] if settings.own_domains else "rendetalje.dk"
    plan = SeedPlan(scale=SCALES[scale.value], seed=seed, anchor=anchor_for(day), own_domain=own)
    bar = _bar() if console.is_terminal else None
    progress = _BarProgress(bar) if bar is not None else _LogProgress()
    try:
        if bar is not None:
            bar.start()
        report = asyncio.run(seed_database(settings, plan, force=force, progress=progress))
    except NonSeedData as exc:
        console.print(f"[yellow]seed refused:[/yellow] {exc}; pass --force to delete it and seed")
        raise typer.Exit(EXIT_REFUSED) from None
    except Exception as exc:
        raise _failed("seed", exc) from None
    finally:
        if bar is not None:
            bar.stop()
    rows = ", ".join(f"{n:,} {what.replace('_', ' ')}" for what, n in report.rows.items())
    console.print(
        f"[green]seeded[/green] {report.scale} (seed {report.seed}, anchor {report.anchor[:10]}) "
        f"in {report.seconds:.1f} s: {rows}"
    )


def _bar() -> RichProgressBar:
    return RichProgressBar(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def optimize_command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would change; change nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (stable keys).")] = False,
    no_cleanup: Annotated[
        bool, typer.Option("--no-cleanup", help="Skip retention (delete no old rows).")
    ] = False,
    drop_unused: Annotated[
        bool,
        typer.Option("--drop-unused", help="Drop unused indexes the models do not declare."),
    ] = False,
) -> None:
    """Audit indexes, delete old rows by age, VACUUM/ANALYZE, suggest indexes, report."""
    from leadflow.logs import configure_logging
    from leadflow.maintenance.optimize import OptimizeOptions, optimize_database
    from leadflow.maintenance.report_render import render_optimize

    settings = load_settings(existing_database=True)
    configure_logging(settings)
    # Without the schema there is nothing to audit: every declared index would be "missing".
    require_schema(settings)
    options = OptimizeOptions(dry_run=dry_run, cleanup=not no_cleanup, drop_unused=drop_unused)
    try:
        result = asyncio.run(optimize_database(settings, options))
    except Exception as exc:
        raise _failed("optimize", exc) from None
    _print(result, as_json, lambda out: render_optimize(out, result))
    if result.errors or any(f.error for f in result.indexes):
        raise typer.Exit(EXIT_FAILED)


def stats_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (stable keys).")] = False,
) -> None:
    """Print the database report: sizes, scans, dead rows, cache hits, connections, slow queries."""
    from leadflow.logs import configure_logging
    from leadflow.maintenance.report_render import render_report
    from leadflow.maintenance.stats import database_report

    settings = load_settings(existing_database=True)
    configure_logging(settings)
    require_schema(settings)
    try:
        report = asyncio.run(database_report(settings))
    except Exception as exc:
        raise _failed("stats", exc) from None
    _print(report, as_json, lambda out: render_report(out, report))


def _print(model: BaseModel, as_json: bool, render: Callable[[Console], None]) -> None:
    if as_json:
        typer.echo(json.dumps(model.model_dump(mode="json"), indent=2, ensure_ascii=False))
        return
    render(Console())
