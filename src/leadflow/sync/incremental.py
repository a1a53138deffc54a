"""Incremental sync of a Gmail mailbox: apply the history since the cursor, then move it."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.models import IngestMode
from leadflow.sync.context import SyncContext
from leadflow.sync.fetch import Fetcher, probe
from leadflow.sync.full import run_full
from leadflow.sync.gmail import GmailClient, GmailNotFound
from leadflow.sync.pipeline import Pipeline
from leadflow.sync.sources import GmailSource
from leadflow.sync.store import apply_label_changes, delete_messages

log = logging.getLogger(__name__)


async def run_incremental(job: SyncContext, client: GmailClient) -> None:
    """Store what became visible, apply deletions and label changes, then advance the cursor.

    Every message the history names (added, or relabelled) that the database does not hold is
    looked at, unless its last record showed it in spam or trash: one delivered to the inbox,
    and equally one moved out of spam or trash (a rescue), is fetched and stored like a new
    message and goes through the processors. Stored messages get the label edits; those moved
    to spam or trash are removed (the rule is in `sync.store`).

    Fetched messages are committed batch by batch; deletions, label changes and the new cursor
    go in the last transaction. A run killed before that replays the same history next time:
    every step is idempotent (stored messages are not fetched again). When Gmail no longer
    has the history (404), the run turns into a full resync and says so in its log.
    """
    cursor = job.mailbox.sync_cursor
    assert cursor is not None
    fetcher = Fetcher(client, budget=job.fetch_bytes, max_count=job.fetch_chunk)
    source = GmailSource(client, fetcher)
    try:
        changes = await source.history(start_history_id=cursor)
    except GmailNotFound:
        log.warning("history of %s since %s expired; full resync", job.mailbox.email, cursor)
        job.run.mode = IngestMode.FULL
        job.run.note(
            f"history since {cursor} is no longer available at Gmail (404); ran a full resync"
        )
        await run_full(job, client)
        return
    job.run.total = changes.touched
    candidates = changes.candidates()
    stored = await job.stored_ids(candidates)
    pipeline = job.pipeline()
    unknown = changes.maybe_visible([mid for mid in candidates if mid not in stored])
    await _store_unknown(job, pipeline, fetcher, unknown)

    async def finalize(session: AsyncSession) -> None:
        mailbox_id = job.mailbox.id
        deleted = await delete_messages(
            session, mailbox_id=mailbox_id, gmail_message_ids=sorted(changes.deleted)
        )
        # Only messages stored before this run: those fetched now carry newer labels already.
        edits = {mid: change for mid, change in changes.label_changes().items() if mid in stored}
        relabel = await apply_label_changes(session, mailbox_id=mailbox_id, changes=edits)
        job.run.updated += relabel.relabelled + relabel.removed
        if deleted or relabel.relabelled or relabel.removed:
            log.info(
                "%s: %d deleted, %d relabelled, %d moved to spam or trash",
                job.mailbox.email,
                deleted,
                relabel.relabelled,
                relabel.removed,
            )
        await job.mark_succeeded(session, cursor=changes.history_id)

    await pipeline.finish(extra=finalize)


async def _store_unknown(
    job: SyncContext, pipeline: Pipeline, fetcher: Fetcher, unknown: list[str]
) -> None:
    """Probe the messages the database lacks and store the visible ones."""
    job.progress.set_total(len(unknown))
    if not unknown:
        return
    probed = await probe(fetcher.client, unknown)
    await pipeline.add(probed.gone)
    async for items in fetcher.fetch_ahead(probed.found):
        await pipeline.add(items)
        job.progress.advance(len(items))
        del items  # one fetched chunk held at a time (`sync.fetch`)
