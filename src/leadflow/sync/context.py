"""What the full and incremental Gmail syncs need from the job that runs them.

`SyncJob` (in `job`) implements it; the two sync strategies depend only on this protocol, so
the job can import them without either importing the job back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.models import Mailbox
from leadflow.sync.pipeline import Pipeline, Progress
from leadflow.sync.runs import RunRecorder
from leadflow.sync.store import LabelChange


class SyncContext(Protocol):
    """One running sync: its mailbox, run row, progress, and the fenced writes it may make."""

    mailbox: Mailbox
    run: RunRecorder
    progress: Progress
    fetch_chunk: int  # messages per raw download at most
    fetch_bytes: int  # raw bytes (by sizeEstimate) downloaded and not yet stored, at most

    def pipeline(self) -> Pipeline:
        """A pipeline that stores batches for this sync (fenced by its lease)."""
        ...

    async def stored_ids(self, ids: Sequence[str]) -> set[str]:
        """Which of `ids` the mailbox already has."""
        ...

    async def commit_labels(self, changes: Mapping[str, LabelChange]) -> None:
        """Apply label changes to stored messages in their own fenced transaction."""
        ...

    async def mark_succeeded(self, session: AsyncSession, *, cursor: str | None) -> None:
        """Record success (and move the cursor) in the caller's transaction."""
        ...
