"""Incremental sync of a Gmail mailbox: apply the history since the cursor, then move it."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.models import IngestMode
from leadflow.sync.context import SyncContext
from leadflow.sync.full import run_full
from leadflow.sync.gmail import GmailClient, GmailNotFound
from leadflow.sync.sources import GmailSource
from leadflow.sync.store import apply_label_changes, delete_messages

log = logging.getLogger(__name__)


async def run_incremental(job: SyncContext, client: GmailClient) -> None:
    """Fetch added messages, apply deletions and label changes, then advance the cursor.

    Added messages are committed batch by batch; deletions, label changes and the new cursor
    go in the last transaction. A run killed before that replays the same history next time:
    every step is idempotent (stored messages are not fetched again). When Gmail no longer
    has the history (404), the run turns into a full resync and says so in its log.
    """
    cursor = job.mailbox.sync_cursor
    assert cursor is not None
    source = GmailSource(client, fetch_chunk=job.fetch_chunk)
    try:
        changes = await source.history(start_history_id=cursor)
    except GmailNotFound:
        log.warning("history of %s since %s expired; full resync", job.mailbox.email, cursor)
        job.run.mode = IngestMode.FULL
        job.run.note(
            f"history since {cursor} is no longer available at Gmail (404); ran a full resync"
        )
        await run_full(job, client, refresh_existing=True)
        return
    job.run.total = changes.touched
    added = list(changes.added)
    stored = await job.stored_ids(added)
    todo = [mid for mid in added if mid not in stored]
    job.progress.set_total(len(todo))
    pipeline = job.pipeline()
    async for items in source.fetch_ahead(todo):
        await pipeline.add(items)
        job.progress.advance(len(items))

    async def finalize(session: AsyncSession) -> None:
        mailbox_id = job.mailbox.id
        deleted = await delete_messages(
            session, mailbox_id=mailbox_id, gmail_message_ids=sorted(changes.deleted)
        )
        relabelled = await apply_label_changes(
            session, mailbox_id=mailbox_id, changes=changes.label_changes()
        )
        job.run.updated += relabelled
        if deleted or relabelled:
            log.info("%s: %d deleted, %d relabelled", job.mailbox.email, deleted, relabelled)
        await job.mark_succeeded(session, cursor=changes.history_id)

    await pipeline.finish(extra=finalize)
