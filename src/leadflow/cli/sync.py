"""`leadflow sync` (one sync now, or an mbox import) and `leadflow worker` (the sync loop).

Exit codes: 0 success (also with skipped messages), 1 the run failed (also a --mbox file that
is empty or not an mbox), 2 configuration (also a mailbox that is not the configured Gmail
mailbox, or of the other kind), 3 the mailbox is being synced by another process (use --wait to
wait for it), 4 the database has no schema.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgressBar

from leadflow.cli.config import console, load_settings, require_schema
from leadflow.cli.errors import EXIT_BUSY, EXIT_CONFIG, EXIT_FAILED, BoundaryGroup, fail
from leadflow.settings import Settings

EXIT_LEASE_HELD = EXIT_BUSY

log = logging.getLogger("leadflow.sync")


class BarProgress:
    """A Rich progress bar: messages fetched of total, rate and ETA."""

    def __init__(self, bar: RichProgressBar, description: str) -> None:
        self._bar = bar
        self._task = bar.add_task(description, total=None, rate="")
        self._started = time.monotonic()
        self._done = 0

    def set_total(self, total: int | None) -> None:
        self._bar.update(self._task, total=total)

    def advance(self, count: int) -> None:
        self._done += count
        rate = self._done / max(time.monotonic() - self._started, 1e-9)
        self._bar.update(self._task, advance=count, rate=f"{rate:,.0f} msg/s")


class LogProgress:
    """Plain log lines (at most one every `every` seconds) when stderr is not a terminal."""

    def __init__(self, every: float = 5.0) -> None:
        self.every = every
        self.done = 0
        self.total: int | None = None
        self._started = time.monotonic()
        self._last = self._started

    def set_total(self, total: int | None) -> None:
        self.total = total

    def advance(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            rate = self.done / max(now - self._started, 1e-9)
            of = f"/{self.total}" if self.total else ""
            log.info("fetched %d%s messages (%.0f/s)", self.done, of, rate)


def _bar() -> RichProgressBar:
    return RichProgressBar(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def _quiet_http_logs(settings: Settings) -> None:
    # httpx logs every request at INFO: thousands of lines per sync. Keep them for DEBUG.
    if settings.log_level != "DEBUG":
        logging.getLogger("httpx").setLevel(logging.WARNING)


def sync_command(
    full: Annotated[
        bool, typer.Option("--full", help="List the whole mailbox instead of reading history.")
    ] = False,
    mailbox: Annotated[
        str | None,
        typer.Option(
            "--mailbox",
            help="Mailbox email; default LEADFLOW_GMAIL_USER, the only Gmail mailbox with "
            "credentials. With --mbox: the archive mailbox to import into.",
        ),
    ] = None,
    mbox: Annotated[
        Path | None,
        typer.Option(
            "--mbox",
            exists=True,
            dir_okay=False,
            readable=True,
            help="Import this mbox file instead of syncing Gmail.",
        ),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait while another process syncs the mailbox.")
    ] = False,
) -> None:
    """Sync the Gmail mailbox once (incremental, or --full), or import an mbox file (--mbox)."""
    from leadflow.logs import configure_logging, request_context

    if full and mbox is not None:
        console.print("[red]--full and --mbox cannot be combined[/red]")
        raise typer.Exit(EXIT_CONFIG)
    if mailbox is not None and not _looks_like_an_address(mailbox):
        console.print(f"[red]--mailbox must be an email address, not {mailbox!r}[/red]")
        raise typer.Exit(EXIT_CONFIG)
    if mbox is not None:
        from leadflow.sync.sources import check_mbox

        check_mbox(mbox)  # before any database work: a wrong file changes nothing
    settings = load_settings(existing_database=True)
    configure_logging(settings)
    _quiet_http_logs(settings)
    with request_context():  # one id for the run: its log lines and Gmail calls carry it
        code = asyncio.run(_sync(settings, full=full, email=mailbox, mbox=mbox, wait=wait))
    raise typer.Exit(code)


async def _sync(
    settings: Settings, *, full: bool, email: str | None, mbox: Path | None, wait: bool
) -> int:
    from leadflow.cache.invalidation import cli_sync_observer
    from leadflow.db import create_engine, create_sessionmaker
    from leadflow.sync.job import SyncResult, sync_mailbox
    from leadflow.sync.lease import LeaseHeld
    from leadflow.sync.mailboxes import (
        GmailNotConfigured,
        MailboxKindConflict,
        MailboxNotConfigured,
    )
    from leadflow.sync.pipeline import Progress

    engine = create_engine(settings, application_name="leadflow-sync")
    sessionmaker = create_sessionmaker(engine)
    interactive = console.is_terminal
    bar = _bar() if interactive else None
    progress: Progress
    if bar is not None:
        label = f"importing {mbox.name}" if mbox else f"syncing {email or settings.gmail_user}"
        progress = BarProgress(bar, label)
        bar.start()
    else:
        progress = LogProgress()
    try:
        async with cli_sync_observer(settings, sessionmaker, role="sync") as observer:
            result: SyncResult = await sync_mailbox(
                sessionmaker,
                settings,
                email=email,
                full=full,
                mbox=mbox,
                wait=wait,
                progress=progress,
                observer=observer,
            )
    except (GmailNotConfigured, MailboxNotConfigured, MailboxKindConflict) as exc:
        console.print(f"[red]sync not started:[/red] {exc}")
        return EXIT_CONFIG
    except LeaseHeld as exc:
        console.print(f"[yellow]sync not started:[/yellow] {exc}")
        return EXIT_LEASE_HELD
    except Exception as exc:
        return fail(exc, doing="sync not started").exit_code
    finally:
        if bar is not None:
            bar.stop()
        await engine.dispose()
    summary = (
        f"{result.mode.value} sync of {result.mailbox} {result.status.value} "
        f"(run {result.run_id}): "
        f"{result.total} seen, {result.new} new, {result.updated} updated, "
        f"{result.errors} errors, {result.api_calls} API calls, {result.retries} retries"
    )
    if not result.ok:
        console.print(f"[red]sync failed:[/red] {result.error} (run {result.run_id})")
        return EXIT_FAILED
    console.print(summary)
    return 0


def worker_command() -> None:
    """Run only the background sync loop (incremental every LEADFLOW_SYNC_INTERVAL_SECONDS),
    and the slow-answer alerts when LEADFLOW_RESPONSE_ALERT_WEBHOOK_URL is set."""
    from leadflow.logs import configure_logging
    from leadflow.monitoring.metrics.multiproc import use_metrics_dir

    settings = load_settings(existing_database=True)
    use_metrics_dir(settings)  # Gmail metrics reach serve's /metrics via LEADFLOW_METRICS_DIR
    from leadflow.sync.mailboxes import GmailNotConfigured, require_gmail_credentials

    configure_logging(settings)
    _quiet_http_logs(settings)
    require_schema(settings)
    try:
        require_gmail_credentials(settings)
    except GmailNotConfigured as exc:
        console.print(f"[red]worker not started:[/red] {exc}")
        raise typer.Exit(EXIT_CONFIG) from None
    asyncio.run(_work(settings))


def _looks_like_an_address(value: str) -> bool:
    """`value` passes the API's own email rule (`customers.schemas.Email`)."""
    from pydantic import TypeAdapter, ValidationError

    from leadflow.customers.schemas import Email

    try:
        TypeAdapter(Email).validate_python(value)
    except ValidationError:
        return False
    return True


async def _work(settings: Settings) -> None:
    from leadflow.cache.invalidation import cli_sync_observer
    from leadflow.db import create_engine, create_sessionmaker
    from leadflow.leads.response_alerts import run_alert_loop
    from leadflow.monitoring.metrics.instruments import get_metrics, mark_this_process_dead
    from leadflow.monitoring.metrics.sampler import Sampler, SamplingLoop
    from leadflow.sync.scheduler import run_sync_loop

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    engine = create_engine(settings, application_name="leadflow-worker")
    sessionmaker = create_sessionmaker(engine)
    # With LEADFLOW_METRICS_DIR, the worker's pool, cache and process figures reach serve's
    # /metrics as each serve worker's do (sampled every interval, and once more as it stops).
    state = SimpleNamespace(engine=engine, cache=None)
    sampling = SamplingLoop(
        Sampler(get_metrics()), state, interval=settings.metrics_sample_interval_seconds
    )
    sampling.start()
    try:
        log.info("sync worker started: every %.0f s", settings.sync_interval_seconds)
        alerts = asyncio.create_task(run_alert_loop(settings, sessionmaker, stop=stop))
        try:
            async with cli_sync_observer(settings, sessionmaker, role="worker") as observer:
                state.cache = observer.cache if observer is not None else None
                try:
                    await run_sync_loop(settings, sessionmaker, stop=stop, observer=observer)
                finally:
                    await sampling.stop()  # the last figures, while the cache is open
        finally:
            stop.set()
            await alerts
    finally:
        await sampling.stop()  # (nothing left to do when it stopped above)
        await engine.dispose()
        mark_this_process_dead()
        log.info("sync worker stopped")


def main() -> None:
    """Entry for `python -m leadflow.cli.sync sync|worker ...` (independent of `leadflow`)."""
    app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, cls=BoundaryGroup)
    app.command("sync")(sync_command)
    app.command("worker")(worker_command)
    app(prog_name="leadflow")


if __name__ == "__main__":
    main()
