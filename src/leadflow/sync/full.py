"""Full sync of a Gmail mailbox: list everything, fetch what is not stored, then set the cursor."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.sync.context import SyncContext
from leadflow.sync.fetch import Fetcher
from leadflow.sync.gmail import GmailClient
from leadflow.sync.sources import GmailSource
from leadflow.sync.store import LabelChange, remove_unlisted

log = logging.getLogger(__name__)


async def run_full(job: SyncContext, client: GmailClient) -> None:
    """List the whole mailbox and store every visible message exactly once.

    The profile's historyId is read before listing, so a message arriving while we list is in
    the history after it and the next incremental sync picks it up. The cursor is set only in
    the transaction of the last batch, after every earlier batch was committed: a run killed
    half-way leaves no cursor, and the re-run lists again but fetches only what is missing.
    Stored messages get their current labels (moved to spam or trash: removed); stored
    messages no longer listed are removed. So a full sync ends with what a fresh one into an
    empty database would store (`sync.store` has the rule).
    """
    profile = await client.get_profile()
    start_history_id = str(profile["historyId"])
    estimate = profile.get("messagesTotal")
    job.progress.set_total(int(estimate) if isinstance(estimate, int | str) else None)
    fetcher = Fetcher(client, budget=job.fetch_bytes, max_count=job.fetch_chunk)
    source = GmailSource(client, fetcher)
    pipeline = job.pipeline()
    async for page in source.pages(stored=job.stored_ids):
        job.run.total += page.seen
        if page.labels:
            await job.commit_labels(
                {mid: LabelChange((("set", labels),)) for mid, labels in page.labels.items()}
            )
        await pipeline.add(page.items)
        job.progress.advance(page.seen)
        del page  # one fetched chunk held at a time (`sync.fetch`)

    async def finalize(session: AsyncSession) -> None:
        removed = await remove_unlisted(session, mailbox_id=job.mailbox.id, listed=source.listed)
        if removed:
            log.info("removed %d messages no longer in %s", removed, job.mailbox.email)
        await job.mark_succeeded(session, cursor=start_history_id)

    await pipeline.finish(extra=finalize)
