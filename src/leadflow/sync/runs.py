"""The `email_ingest_runs` row of one sync: running → completed / partial / failed.

Counts live in memory and are written into the row inside each batch's transaction, so the row
always agrees with what is committed, even for a run that was killed half-way.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow.db import transaction
from leadflow.models import EmailIngestRun, IngestMode, IngestStatus, Mailbox, utcnow

MAX_ERROR_LOG = 200
INTERRUPTED = "interrupted: the process stopped before the run finished"


@dataclass
class RunRecorder:
    """In-memory counters of one run, flushed into its row by `save`."""

    run_id: int
    mailbox_id: int
    mode: IngestMode
    total: int = 0
    new: int = 0
    updated: int = 0
    errors: int = 0
    api_calls: int = 0
    retries: int = 0
    error_log: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_ERROR_LOG))

    @classmethod
    async def start(
        cls, sessionmaker: async_sessionmaker[AsyncSession], *, mailbox_id: int, mode: IngestMode
    ) -> RunRecorder:
        """Insert the run row (status running) in its own committed transaction."""
        async with transaction(sessionmaker) as session:
            run = EmailIngestRun(mailbox_id=mailbox_id, mode=mode, status=IngestStatus.RUNNING)
            session.add(run)
            await session.flush()
            run_id = run.id
        return cls(run_id=run_id, mailbox_id=mailbox_id, mode=mode)

    def record_error(self, message_id: str | None, reason: str) -> None:
        """Count one message that could not be stored and keep why (last 200 kept)."""
        self.errors += 1
        self.error_log.append({"message_id": message_id, "reason": reason[:500]})

    def note(self, reason: str) -> None:
        """Keep a run-level remark (e.g. why a full resync happened) without counting an error."""
        self.error_log.append({"message_id": None, "reason": reason[:500]})

    def set_client_stats(self, *, api_calls: int, retries: int) -> None:
        self.api_calls = api_calls
        self.retries = retries

    async def save(self, session: AsyncSession) -> None:
        """Write the counters into the row inside the caller's transaction (while it runs)."""
        await session.execute(
            update(EmailIngestRun)
            .where(EmailIngestRun.id == self.run_id, EmailIngestRun.status == IngestStatus.RUNNING)
            .values(**self._values())
            .execution_options(synchronize_session=False)
        )

    async def finish(
        self, session: AsyncSession, status: IngestStatus | None = None
    ) -> IngestStatus:
        """Close the row: failed if `status` says so, else partial when errors were recorded.

        A row already closed (by the process that took the mailbox over and found this run
        interrupted) is never rewritten: its status is returned instead.
        """
        if status is None:
            status = IngestStatus.PARTIAL if self.errors else IngestStatus.COMPLETED
        result = await session.execute(
            update(EmailIngestRun)
            .where(EmailIngestRun.id == self.run_id, EmailIngestRun.status == IngestStatus.RUNNING)
            .values(status=status, finished_at=utcnow(), **self._values())
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", None) == 1:
            return status
        closed = await session.scalar(
            select(EmailIngestRun.status).where(EmailIngestRun.id == self.run_id)
        )
        return closed or IngestStatus.FAILED

    def _values(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "total_emails": self.total,
            "new_emails": self.new,
            "updated_emails": self.updated,
            "errors": self.errors,
            "error_log": list(self.error_log),
            "api_calls": self.api_calls,
            "retries": self.retries,
        }


async def close_interrupted_runs(session: AsyncSession, *, mailbox_id: int) -> int:
    """Mark runs left `running` by a killed process as failed; call only while holding the lease."""
    stale = (
        await session.execute(
            select(EmailIngestRun.id, EmailIngestRun.error_log).where(
                EmailIngestRun.mailbox_id == mailbox_id,
                EmailIngestRun.status == IngestStatus.RUNNING,
            )
        )
    ).all()
    for run_id, error_log in stale:
        entries = [*(error_log or []), {"message_id": None, "reason": INTERRUPTED}]
        await session.execute(
            update(EmailIngestRun)
            .where(EmailIngestRun.id == run_id)
            .values(
                status=IngestStatus.FAILED,
                finished_at=utcnow(),
                error_log=entries[-MAX_ERROR_LOG:],
            )
            .execution_options(synchronize_session=False)
        )
    return len(stale)


def runs_query(*, mailbox: str | None = None) -> Select[EmailIngestRun, str]:
    """Sync runs with their mailbox's address, newest first (optionally of one mailbox)."""
    stmt = (
        select(EmailIngestRun, Mailbox.email)
        .join(Mailbox, Mailbox.id == EmailIngestRun.mailbox_id)
        .order_by(EmailIngestRun.started_at.desc(), EmailIngestRun.id.desc())
    )
    if mailbox:
        stmt = stmt.where(Mailbox.email == mailbox.strip().lower())
    return stmt
