"""The background sync loop of `leadflow serve` and `leadflow worker`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow.logs import request_context
from leadflow.settings import Settings
from leadflow.sync.job import GmailClientFactory, SyncObserver, sync_mailbox
from leadflow.sync.lease import LeaseHeld
from leadflow.sync.mailboxes import MailboxKindConflict, MailboxNotConfigured
from leadflow.sync.pipeline import MessageProcessor

log = logging.getLogger(__name__)

MAX_BACKOFF_FACTOR = 10


def gmail_configured(settings: Settings) -> bool:
    return settings.gmail_credentials is not None


async def run_sync_loop(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    stop: asyncio.Event,
    client_factory: GmailClientFactory | None = None,
    processors: Sequence[MessageProcessor] | None = None,
    observer: SyncObserver | None = None,
) -> None:
    """Sync the Gmail mailbox every `sync_interval_seconds` until `stop` is set.

    A failed run is recorded (run row, mailbox.last_error) and the loop goes on, waiting
    longer after each consecutive failure (up to 10 intervals). A mailbox leased by another
    process is skipped quietly: that process is syncing it.
    """
    if client_factory is None and not gmail_configured(settings):
        log.warning("Gmail is not configured (LEADFLOW_GMAIL_CREDENTIALS); background sync is off")
        return
    interval = settings.sync_interval_seconds
    failures = 0
    while not stop.is_set():
        try:
            with request_context():  # one id per run: its log lines and Gmail calls carry it
                result = await sync_mailbox(
                    sessionmaker,
                    settings,
                    client_factory=client_factory,
                    processors=processors,
                    observer=observer,
                )
        except LeaseHeld as exc:
            log.info("%s", exc)
            failures = 0
        except (MailboxNotConfigured, MailboxKindConflict) as exc:
            failures += 1
            log.error("background sync not started: %s", exc)
        except Exception:
            failures += 1
            log.exception("background sync could not start")
        else:
            if result.ok:
                failures = 0
                log.info(
                    "sync of %s %s: %d new, %d updated, %d errors",
                    result.mailbox,
                    result.status.value,
                    result.new,
                    result.updated,
                    result.errors,
                )
            else:
                failures += 1
                log.error("sync of %s failed: %s", result.mailbox, result.error)
        delay = interval * min(2**failures, MAX_BACKOFF_FACTOR) if failures else interval
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
