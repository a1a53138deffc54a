"""The one ingest pipeline every mail source feeds: parse → store → process, batch by batch.

Each batch is committed in its own transaction together with the run's counters (and, for the
last batch of a sync, the cursor): after a crash, what is in the database is a prefix of the
work, never half a batch. Processors (lead detection, thread matching; issue #4) run inside
that same transaction, after the batch is stored, in the order given.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow.db import analyze_tables, transaction
from leadflow.mail.message import ParsedMessage
from leadflow.mail.mime import parse_message
from leadflow.models import Mailbox
from leadflow.settings import Settings
from leadflow.sync.lease import MailboxLease
from leadflow.sync.runs import RunRecorder
from leadflow.sync.store import StoredMessage, store_messages
from leadflow.sync.thread_aggregates import take_shrunk_threads

log = logging.getLogger(__name__)

# Parsing a huge message takes long enough to stall the event loop (and the lease renewal).
_PARSE_IN_THREAD_BYTES = 512 * 1024

ExtraWork = Callable[[AsyncSession], Awaitable[None]]
# The tables a sync grows.
GROWN_TABLES = ("email_messages", "email_threads", "leads", "customers")


class MessageProcessor(Protocol):
    """A step run on every batch of new or changed messages, after they are stored."""

    async def process(
        self, session: AsyncSession, mailbox: Mailbox, stored: Sequence[StoredMessage]
    ) -> None:
        """Act on `stored`; flush only (the pipeline owns the transaction). Must be idempotent."""
        ...


class FinishingProcessor(MessageProcessor, Protocol):
    """A processor with work to do once the whole sync is stored (its own transaction)."""

    async def finish(self, session: AsyncSession, mailbox: Mailbox) -> None: ...


@runtime_checkable
class ShrinkingProcessor(MessageProcessor, Protocol):
    """A processor that also acts on threads that lost messages (deleted, moved to spam or the
    bin, or to another thread) and still hold some, in the transaction that removed them."""

    async def threads_shrunk(
        self, session: AsyncSession, mailbox: Mailbox, thread_ids: Sequence[int]
    ) -> None: ...


async def in_savepoint(
    session: AsyncSession,
    processor: MessageProcessor,
    run: RunRecorder,
    step: Callable[[], Awaitable[None]],
    what: str,
) -> None:
    """Run one processor's `step` in a savepoint: a failing processor (a bug, odd data) must not
    stop the sync or undo the stored messages; the failure goes in the run's log."""
    name = type(processor).__name__
    try:
        async with session.begin_nested():
            await step()
    except Exception as exc:
        log.exception("processor %s failed on %s", name, what)
        run.record_error(None, f"processor {name} failed: {exc}"[:500])


async def after_removals(
    session: AsyncSession,
    processors: Sequence[MessageProcessor],
    mailbox: Mailbox,
    run: RunRecorder,
) -> None:
    """Give the threads this transaction shrank (`thread_aggregates.take_shrunk_threads`) to
    the processors that act on them, each in its savepoint as for a batch."""
    shrunk = take_shrunk_threads(session)
    if not shrunk:
        return
    for processor in processors:
        if isinstance(processor, ShrinkingProcessor):
            await in_savepoint(
                session,
                processor,
                run,
                functools.partial(processor.threads_shrunk, session, mailbox, shrunk),
                f"{len(shrunk)} shrunk threads",
            )


def default_processors(settings: Settings) -> list[MessageProcessor]:
    """The processors every sync runs, in order: leads (and customers) first, then matching."""
    from leadflow.leads.ingest import LeadProcessor
    from leadflow.matching.processor import MatchingProcessor

    return [LeadProcessor(settings), MatchingProcessor(settings)]


class Progress(Protocol):
    """Where the pipeline reports how far it got (a Rich bar, log lines, or nothing)."""

    def set_total(self, total: int | None) -> None: ...

    def advance(self, count: int) -> None: ...


class NoProgress:
    def set_total(self, total: int | None) -> None:
        return None

    def advance(self, count: int) -> None:
        return None


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One message's RFC 822 bytes and what the source knows about it besides."""

    raw: bytes
    gmail_message_id: str
    gmail_thread_id: str
    labels: tuple[str, ...] = ()
    internal_date: datetime | None = None
    history_id: str | None = None


@dataclass(frozen=True, slots=True)
class SkippedMessage:
    """A message the source could not deliver (deleted meanwhile, refused); recorded in the run."""

    message_id: str
    reason: str


SourceItem = RawMessage | SkippedMessage


@dataclass(frozen=True, slots=True)
class ParseOptions:
    own_domains: tuple[str, ...] = ("rendetalje.dk",)
    max_body_bytes: int = 1_000_000


def parse_raw(item: RawMessage, options: ParseOptions) -> ParsedMessage:
    """Parse one raw message with the pure MIME parser."""
    return parse_message(
        item.raw,
        gmail_message_id=item.gmail_message_id,
        gmail_thread_id=item.gmail_thread_id,
        labels=item.labels,
        internal_date=item.internal_date,
        history_id=item.history_id,
        own_domains=options.own_domains,
        max_body_bytes=options.max_body_bytes,
    )


@dataclass
class Pipeline:
    """Collects parsed messages and commits them in batches of `batch_size`."""

    sessionmaker: async_sessionmaker[AsyncSession]
    mailbox: Mailbox
    run: RunRecorder
    lease: MailboxLease | None = None
    processors: Sequence[MessageProcessor] = ()
    parse_options: ParseOptions = field(default_factory=ParseOptions)
    batch_size: int = 200
    # Parsed bodies are capped (max_body_bytes) but a batch of long ones still adds up: a
    # batch is also committed once its text reaches this many characters.
    batch_chars: int = 16 * 1024 * 1024
    client_stats: Callable[[], tuple[int, int]] | None = None
    analyze_after: int = 0  # PostgreSQL: ANALYZE after this many batches, then twice as many…
    # Called after a batch that stored or changed messages is committed (cache invalidation).
    after_commit: Callable[[], Awaitable[None]] | None = None
    _pending: list[ParsedMessage] = field(default_factory=list)
    _committed: int = 0
    _pending_chars: int = 0

    async def add(self, items: Sequence[SourceItem]) -> None:
        """Parse `items`, record the skipped ones, and commit every full batch."""
        for item in items:
            if isinstance(item, SkippedMessage):
                self.run.record_error(item.message_id, item.reason)
                continue
            parsed = await self._parse(item)
            if parsed is not None:
                self._pending.append(parsed)
                self._pending_chars += len(parsed.body_text)
            if len(self._pending) >= self.batch_size or self._pending_chars >= self.batch_chars:
                batch, self._pending, self._pending_chars = self._pending, [], 0
                await self.commit(batch)

    async def finish(self, extra: ExtraWork | None = None) -> None:
        """Commit what is left, with `extra` (e.g. moving the cursor) in the same transaction."""
        batch, self._pending, self._pending_chars = self._pending, [], 0
        await self.commit(batch, extra=extra)

    async def commit(self, batch: Sequence[ParsedMessage], extra: ExtraWork | None = None) -> None:
        """Store `batch`, run the processors and save the run's counters in one transaction."""
        before_new, before_updated = self.run.new, self.run.updated
        try:
            async with transaction(self.sessionmaker) as session:
                if self.lease is not None:
                    await self.lease.fence(session)
                result = await store_messages(session, mailbox_id=self.mailbox.id, messages=batch)
                self.run.new += result.new
                self.run.updated += result.updated
                if result.stored:
                    await self._process(session, result.stored)
                if extra is not None:
                    await extra(session)
                await after_removals(session, self.processors, self.mailbox, self.run)
                if self.client_stats is not None:
                    calls, retries = self.client_stats()
                    self.run.set_client_stats(api_calls=calls, retries=retries)
                await self.run.save(session)
        except BaseException:
            # Nothing of this batch was committed: the counters must not claim it was.
            self.run.new, self.run.updated = before_new, before_updated
            raise
        changed = self.run.new > before_new or self.run.updated > before_updated
        if changed and self.after_commit is not None:
            await self.after_commit()
        self._committed += 1
        await self._refresh_statistics()

    async def _refresh_statistics(self) -> None:
        """A long sync grows the mail tables faster than their statistics follow (autovacuum
        may be off or behind), and plans chosen for a small table slow the sync down. ANALYZE
        them after `analyze_after` committed batches, then after 2×, 4× … as many: statistics
        stay within a factor of two of the tables' size, at a logarithmic number of ANALYZEs."""
        n = self.analyze_after
        if n <= 0 or self._committed % n:
            return
        rounds = self._committed // n
        if rounds & (rounds - 1) == 0:  # after n, 2n, 4n, 8n … batches
            await analyze_tables(self.sessionmaker, GROWN_TABLES)

    async def _process(self, session: AsyncSession, stored: Sequence[StoredMessage]) -> None:
        for processor in self.processors:
            await in_savepoint(
                session,
                processor,
                self.run,
                functools.partial(processor.process, session, self.mailbox, stored),
                f"a batch of {len(stored)}",
            )

    async def _parse(self, item: RawMessage) -> ParsedMessage | None:
        try:
            if len(item.raw) > _PARSE_IN_THREAD_BYTES:
                return await asyncio.to_thread(parse_raw, item, self.parse_options)
            return parse_raw(item, self.parse_options)
        except Exception as exc:
            # The parser promises never to raise; if it does, the message is logged, not lost
            # silently, and the sync goes on.
            log.exception("could not parse message %s", item.gmail_message_id)
            self.run.record_error(item.gmail_message_id, f"unparseable: {exc}"[:500])
            return None
