"""Run one sync of a mailbox: lease, run row, source → pipeline, cursor, outcome.

`start_sync` does everything that must happen before a sync may be reported as started (the
mailbox row, the lease, the run row) and returns a `SyncJob`; `SyncJob.execute` does the work
and always closes the run and frees the lease. `sync_mailbox` is both in one call. The API
uses the two halves to answer 202 (or 409) before the work begins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow.db import transaction
from leadflow.models import IngestMode, IngestStatus, Mailbox, utcnow
from leadflow.monitoring.metrics.gmail import instrument_gmail_http, record_gmail_counters
from leadflow.monitoring.outgoing import tag_outgoing
from leadflow.settings import Settings
from leadflow.sync.fetch import DEFAULT_FETCH_BYTES
from leadflow.sync.full import run_full
from leadflow.sync.gmail import GmailClient, GmailError, create_http_client
from leadflow.sync.gmail.auth import load_credentials
from leadflow.sync.incremental import run_incremental
from leadflow.sync.lease import DEFAULT_POLL_SECONDS, LeaseLost, MailboxLease
from leadflow.sync.mailboxes import (
    GmailNotConfigured,
    ensure_mailbox,
    require_gmail_credentials,
    sync_target,
)
from leadflow.sync.pipeline import (
    MessageProcessor,
    NoProgress,
    ParseOptions,
    Pipeline,
    Progress,
    after_removals,
    default_processors,
)
from leadflow.sync.runs import RunRecorder, close_interrupted_runs
from leadflow.sync.sources import MboxSource
from leadflow.sync.store import LabelChange, apply_label_changes, existing_message_ids

log = logging.getLogger(__name__)

GmailClientFactory = Callable[[Settings], AbstractAsyncContextManager[GmailClient]]


class SyncObserver(Protocol):
    """Told what a sync committed (the cache invalidates and warms through it); must not raise."""

    async def data_changed(self) -> None:
        """A batch that stored or changed mail was committed."""

    async def run_finished(self, *, changed: bool) -> None:
        """The run ended (any outcome); `changed`: it stored or changed mail."""


@asynccontextmanager
async def open_gmail_client(settings: Settings) -> AsyncIterator[GmailClient]:
    """A GmailClient built from Settings, with its HTTP pool closed afterwards."""
    path = require_gmail_credentials(settings)
    async with create_http_client(concurrency=settings.gmail_concurrency) as http:
        instrument_gmail_http(tag_outgoing(http))
        credentials = load_credentials(path, user=settings.gmail_user, http=http)
        client = GmailClient(
            base_url=settings.gmail_api_url,
            user=settings.gmail_user,
            http=http,
            credentials=credentials,
            units_per_second=settings.gmail_quota_units_per_second,
            min_units_per_second=settings.gmail_quota_min_units_per_second,
            max_attempts=settings.gmail_max_attempts,
            concurrency=settings.gmail_concurrency,
            batch_size=settings.gmail_batch_size,
        )
        try:
            yield client
        finally:
            record_gmail_counters(client.stats)


@dataclass(frozen=True, slots=True)
class SyncResult:
    """How a run ended, as recorded in its `email_ingest_runs` row."""

    run_id: int
    mailbox: str
    mode: IngestMode
    status: IngestStatus
    total: int
    new: int
    updated: int
    errors: int
    api_calls: int
    retries: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not IngestStatus.FAILED


@dataclass
class SyncJob:
    """A prepared sync: the lease is held and the run row exists. Call `execute` once."""

    sessionmaker: async_sessionmaker[AsyncSession]
    settings: Settings
    mailbox: Mailbox
    lease: MailboxLease
    run: RunRecorder
    full: bool = False
    mbox_path: Path | None = None
    processors: Sequence[MessageProcessor] = ()
    progress: Progress = field(default_factory=NoProgress)
    client_factory: GmailClientFactory = open_gmail_client
    fetch_chunk: int = 100
    fetch_bytes: int = DEFAULT_FETCH_BYTES
    observer: SyncObserver | None = None
    _client: GmailClient | None = None

    @property
    def run_id(self) -> int:
        return self.run.run_id

    def pipeline(self) -> Pipeline:
        return Pipeline(
            sessionmaker=self.sessionmaker,
            mailbox=self.mailbox,
            run=self.run,
            lease=self.lease,
            processors=self.processors,
            parse_options=ParseOptions(
                own_domains=tuple(self.settings.own_domains),
                max_body_bytes=self.settings.max_body_bytes,
            ),
            batch_size=self.settings.sync_batch_size,
            client_stats=self._client_stats if self._client is not None else None,
            analyze_after=self.settings.sync_analyze_after_batches,
            after_commit=self.observer.data_changed if self.observer is not None else None,
        )

    async def stored_ids(self, ids: Sequence[str]) -> set[str]:
        """Which of `ids` the mailbox already has (one query per 500 ids)."""
        async with self.sessionmaker() as session:
            return await existing_message_ids(
                session, mailbox_id=self.mailbox.id, gmail_message_ids=ids
            )

    async def commit_labels(self, changes: Mapping[str, LabelChange]) -> None:
        """Apply label changes to stored messages in their own fenced transaction."""
        async with transaction(self.sessionmaker) as session:
            await self.lease.fence(session)
            changed = await apply_label_changes(
                session, mailbox_id=self.mailbox.id, changes=changes
            )
            self.run.updated += changed.relabelled + changed.removed
            await after_removals(session, self.processors, self.mailbox, self.run)
            await self.run.save(session)
        if (changed.relabelled or changed.removed) and self.observer is not None:
            await self.observer.data_changed()

    async def mark_succeeded(self, session: AsyncSession, *, cursor: str | None) -> None:
        """Record success on the mailbox row (and move the cursor) in the caller's transaction.

        The caller's transaction is fenced, so the mailbox row is ours and locked. The cursor
        only ever moves forward: Gmail history ids are increasing integers.
        """
        values: dict[str, object] = {"last_sync_succeeded_at": utcnow(), "last_error": None}
        if cursor is not None:
            current = await session.scalar(
                select(Mailbox.sync_cursor).where(Mailbox.id == self.mailbox.id)
            )
            if cursor_is_later(cursor, than=current):
                values["sync_cursor"] = cursor
                self.mailbox.sync_cursor = cursor
            elif cursor != current:
                log.warning(
                    "%s: cursor stays at %s, not back to %s", self.mailbox.email, current, cursor
                )
        await session.execute(
            update(Mailbox)
            .where(Mailbox.id == self.mailbox.id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )

    async def execute(self) -> SyncResult:
        """Do the sync; close the run (completed, partial or failed) and free the lease."""
        error: str | None = None
        try:
            await self._work()
            await self._finish_processors()
            status = await self._close(None)
        except asyncio.CancelledError:
            await self._fail("cancelled: the process was shut down during the sync")
            raise
        except Exception as exc:
            error = _describe(exc)
            if not isinstance(exc, GmailError | LeaseLost | GmailNotConfigured):
                log.exception("sync of %s failed", self.mailbox.email)
            status = await self._fail(error)
        finally:
            with contextlib.suppress(Exception):
                await self.lease.release()
        if self.observer is not None:
            await self.observer.run_finished(changed=self.run.new + self.run.updated > 0)
        return SyncResult(
            run_id=self.run.run_id,
            mailbox=self.mailbox.email,
            mode=self.run.mode,
            status=status,
            total=self.run.total,
            new=self.run.new,
            updated=self.run.updated,
            errors=self.run.errors,
            api_calls=self.run.api_calls,
            retries=self.run.retries,
            error=error,
        )

    async def _finish_processors(self) -> None:
        for processor in self.processors:
            finish = getattr(processor, "finish", None)
            if finish is None:
                continue
            try:
                async with transaction(self.sessionmaker) as session:
                    await self.lease.fence(session)
                    await finish(session, self.mailbox)
            except LeaseLost:
                raise
            except Exception as exc:
                # Like a failing batch processor: logged in the run, the stored mail stays.
                log.exception("finishing %s failed", type(processor).__name__)
                self.run.record_error(
                    None, f"{type(processor).__name__} finish failed: {exc}"[:500]
                )

    async def _work(self) -> None:
        if self.mbox_path is not None:
            await self._import_mbox(self.mbox_path)
            return
        async with self.client_factory(self.settings) as client:
            self._client = client
            if self.run.mode is IngestMode.FULL:
                await run_full(self, client)
            else:
                await run_incremental(self, client)

    async def _import_mbox(self, path: Path) -> None:
        pipeline = self.pipeline()
        async for page in MboxSource(path).pages(stored=self.stored_ids):
            self.run.total += page.seen
            await pipeline.add(page.items)
            self.progress.advance(page.seen)

        async def succeeded(session: AsyncSession) -> None:
            await self.mark_succeeded(session, cursor=None)

        await pipeline.finish(extra=succeeded)

    def _client_stats(self) -> tuple[int, int]:
        if self._client is None:
            return 0, 0
        return self._client.stats.api_calls, self._client.stats.retries

    async def _close(self, status: IngestStatus | None) -> IngestStatus:
        calls, retries = self._client_stats()
        if self._client is not None:
            self.run.set_client_stats(api_calls=calls, retries=retries)
        async with transaction(self.sessionmaker) as session:
            # Fenced like every write: a sync that lost its lease must not report success.
            await self.lease.fence(session)
            # Freed with the final run row: whoever sees the run finished may start the next.
            await self.lease.release_in(session)
            return await self.run.finish(session, status)

    async def _fail(self, reason: str) -> IngestStatus:
        """Close the run as failed; note the error on the mailbox only while the lease is ours."""
        self.run.note(reason)
        try:
            calls, retries = self._client_stats()
            if self._client is not None:
                self.run.set_client_stats(api_calls=calls, retries=retries)
            async with transaction(self.sessionmaker) as session:
                await self.lease.stop_renewing()
                # One conditional UPDATE: error noted and lease freed only if still ours, so a
                # sync that was taken over leaves the newer sync's mailbox state alone.
                await session.execute(
                    update(Mailbox)
                    .where(Mailbox.id == self.mailbox.id, Mailbox.lease_owner == self.lease.owner)
                    .values(last_error=reason[:2000], lease_owner=None, lease_expires_at=None)
                    .execution_options(synchronize_session=False)
                )
                return await self.run.finish(session, IngestStatus.FAILED)
        except Exception:
            # The database itself may be what failed; the next run closes this row (interrupted).
            log.warning("could not record the failed run %s", self.run.run_id, exc_info=True)
        return IngestStatus.FAILED


def cursor_is_later(cursor: str, *, than: str | None) -> bool:
    """True when history id `cursor` comes after `than` (compared as integers)."""
    if than is None:
        return True
    try:
        current = int(than)
    except ValueError:
        return True  # not a history id: anything real replaces it
    try:
        return int(cursor) > current
    except ValueError:
        return False


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())[:1000]


async def start_sync(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    email: str | None = None,
    full: bool = False,
    mbox: Path | None = None,
    wait: bool = False,
    processors: Sequence[MessageProcessor] | None = None,
    progress: Progress | None = None,
    client_factory: GmailClientFactory | None = None,
    lease_ttl: timedelta | None = None,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    observer: SyncObserver | None = None,
) -> SyncJob:
    """Take the mailbox's lease and open a run row.

    Raises LeaseHeld, GmailNotConfigured, MailboxNotConfigured or MailboxKindConflict (see
    `mailboxes`) before anything is written but the mailbox row. Without a `client_factory`,
    the Gmail client is built from Settings (which must name a credentials file). Runs a
    previous process left `running` are closed as interrupted.
    """
    if mbox is None and client_factory is None:
        require_gmail_credentials(settings)
        client_factory = open_gmail_client
    target, provider = sync_target(settings, email=email, mbox=mbox is not None)
    mailbox = await ensure_mailbox(sessionmaker, email=target, provider=provider)
    lease = await MailboxLease.acquire(
        sessionmaker,
        mailbox_id=mailbox.id,
        email=mailbox.email,
        ttl=lease_ttl or timedelta(seconds=settings.sync_lease_seconds),
        wait=wait,
        poll_seconds=poll_seconds,
    )
    try:
        async with transaction(sessionmaker) as session:
            await lease.fence(session)
            interrupted = await close_interrupted_runs(session, mailbox_id=mailbox.id)
            if interrupted:
                log.warning("closed %d interrupted run(s) of %s", interrupted, mailbox.email)
            await session.execute(
                update(Mailbox)
                .where(Mailbox.id == mailbox.id)
                .values(last_sync_started_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            # Read after taking the lease: the cursor another process left is the one to use.
            fresh = await session.scalar(select(Mailbox).where(Mailbox.id == mailbox.id))
            assert fresh is not None
            mailbox = fresh
        if mbox is not None:
            mode = IngestMode.MBOX
        elif full or mailbox.sync_cursor is None:
            mode = IngestMode.FULL
        else:
            mode = IngestMode.INCREMENTAL
        run = await RunRecorder.start(sessionmaker, mailbox_id=mailbox.id, mode=mode)
    except BaseException:
        await lease.release()
        raise
    return SyncJob(
        sessionmaker=sessionmaker,
        settings=settings,
        mailbox=mailbox,
        lease=lease,
        run=run,
        full=full,
        mbox_path=mbox,
        processors=default_processors(settings) if processors is None else processors,
        progress=progress or NoProgress(),
        client_factory=client_factory or open_gmail_client,
        # Fetch no more ahead than one batch holds, so a failure loses at most a batch of work.
        fetch_chunk=min(settings.sync_batch_size, 100),
        observer=observer,
        fetch_bytes=settings.sync_fetch_bytes,
    )


async def sync_mailbox(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    email: str | None = None,
    full: bool = False,
    mbox: Path | None = None,
    wait: bool = False,
    processors: Sequence[MessageProcessor] | None = None,
    progress: Progress | None = None,
    client_factory: GmailClientFactory | None = None,
    lease_ttl: timedelta | None = None,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    observer: SyncObserver | None = None,
) -> SyncResult:
    """Start and run one sync (see `start_sync`)."""
    job = await start_sync(
        sessionmaker,
        settings,
        email=email,
        full=full,
        mbox=mbox,
        wait=wait,
        processors=processors,
        progress=progress,
        client_factory=client_factory,
        lease_ttl=lease_ttl,
        poll_seconds=poll_seconds,
        observer=observer,
    )
    return await job.execute()


async def import_mbox(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    path: Path,
    mailbox_email: str | None = None,
    processors: Sequence[MessageProcessor] | None = None,
    progress: Progress | None = None,
    wait: bool = True,
    observer: SyncObserver | None = None,
) -> SyncResult:
    """Import an mbox file through the pipeline (what `leadflow sync --mbox` and the demo run)."""
    return await sync_mailbox(
        sessionmaker,
        settings,
        email=mailbox_email,
        mbox=path,
        wait=wait,
        processors=processors,
        progress=progress,
        observer=observer,
    )
