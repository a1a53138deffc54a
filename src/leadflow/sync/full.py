"""Full sync of a Gmail mailbox: list everything, fetch what is not stored, then set the cursor."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.sync.context import SyncContext
from leadflow.sync.gmail import GmailClient
from leadflow.sync.sources import GmailSource
from leadflow.sync.store import LabelChange, remove_unlisted

log = logging.getLogger(__name__)


async def run_full(job: SyncContext, client: GmailClient, *, refresh_existing: bool) -> None:
    """List the whole mailbox and store every message exactly once.

    The profile's historyId is read before listing, so a message arriving while we list is in
    the history after it and the next incremental sync picks it up. The cursor is set only in
    the transaction of the last batch, after every earlier batch was committed: a run killed
    half-way leaves no cursor, and the re-run lists again but fetches only what is missing.
    With `refresh_existing`, stored messages' labels are re-read too (a resync after lost
    history). Messages stored earlier but no longer listed are removed.
    """
    profile = await client.get_profile()
    start_history_id = str(profile["historyId"])
    estimate = profile.get("messagesTotal")
    job.progress.set_total(int(estimate) if isinstance(estimate, int | str) else None)
    source = GmailSource(client, fetch_chunk=job.fetch_chunk, refresh_existing=refresh_existing)
    pipeline = job.pipeline()
    async for page in source.pages(stored=job.stored_ids):
        job.run.total += page.seen
        if page.labels:
            await job.commit_labels(
                {mid: LabelChange((("set", labels),)) for mid, labels in page.labels.items()}
            )
        await pipeline.add(page.items)
        job.progress.advance(page.seen)

    async def finalize(session: AsyncSession) -> None:
        removed = await remove_unlisted(session, mailbox_id=job.mailbox.id, listed=source.listed)
        if removed:
            log.info("removed %d messages no longer in %s", removed, job.mailbox.email)
        await job.mark_succeeded(session, cursor=start_history_id)

    await pipeline.finish(extra=finalize)
