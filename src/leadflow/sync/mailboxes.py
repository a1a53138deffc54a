"""Which mailbox a sync may write into, and its row (created race-free on first use).

A mailbox row holds the mail of one source for good: a Gmail mailbox only what the Gmail API
lists for it, an mbox archive only what was imported into it. Mixing them would store the
same mail twice under two kinds of id (`mbox:<Message-ID>` next to Gmail's ids), and a full
Gmail resync cannot tell archive mail from mail deleted at Gmail. So:

- a Gmail sync is allowed only for the mailbox whose credentials are configured
  (LEADFLOW_GMAIL_USER); any other address is refused before a row is created;
- an mbox import never writes into a Gmail mailbox's row, nor into the configured Gmail
  address while Gmail is configured (the import would claim the address for an archive);
- a row's provider is fixed when it is created; a sync of the other kind is refused.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow.db import conflict_insert, transaction
from leadflow.models import Mailbox, MailProvider, utcnow
from leadflow.settings import Settings


class GmailNotConfigured(Exception):
    """Gmail sync was asked for but LEADFLOW_GMAIL_CREDENTIALS is not set, or names no file."""

    def __init__(self, missing: Path | None = None) -> None:
        if missing is None:
            problem = "set LEADFLOW_GMAIL_CREDENTIALS"
        else:
            problem = f"LEADFLOW_GMAIL_CREDENTIALS names {missing}, which is not a file; point it"
        super().__init__(
            f"Gmail is not configured: {problem} to a Google credentials file "
            "(see `leadflow gmail authorize`)"
        )


def require_gmail_credentials(settings: Settings) -> Path:
    """The credentials file LEADFLOW_GMAIL_CREDENTIALS names; GmailNotConfigured when it names
    none or no file (checked before a run is recorded: a missing file is configuration)."""
    path = settings.gmail_credentials
    if path is None:
        raise GmailNotConfigured
    if not path.is_file():
        raise GmailNotConfigured(missing=path)
    return path


class MailboxNotConfigured(Exception):
    """A Gmail sync was asked for a mailbox that has no credentials (not LEADFLOW_GMAIL_USER)."""

    def __init__(self, email: str, configured: str) -> None:
        super().__init__(
            f"{email} is not a configured Gmail mailbox: only {configured} "
            "(LEADFLOW_GMAIL_USER) has credentials"
        )
        self.email = email
        self.configured = [configured]


class MailboxKindConflict(Exception):
    """The mailbox holds (or is reserved for) mail of another source than this sync's."""

    def __init__(self, email: str, provider: MailProvider, wanted: MailProvider) -> None:
        if wanted is MailProvider.MBOX:
            kind = "the Gmail mailbox"
            hint = "import the mbox file into another (archive) mailbox with --mailbox"
        else:
            kind = "an mbox archive"
            hint = "its mail was imported from an mbox file, and Gmail mail is never mixed in"
        super().__init__(f"{email} is {kind}; {hint}")
        self.email = email
        self.provider = provider
        self.wanted = wanted


def normalise_email(email: str) -> str:
    return email.strip().lower()


def sync_target(settings: Settings, *, email: str | None, mbox: bool) -> tuple[str, MailProvider]:
    """The mailbox a sync writes into and its provider; raise when it may not (module doc)."""
    configured = normalise_email(settings.gmail_user)
    target = normalise_email(email) if email and email.strip() else configured
    if not mbox:
        if target != configured:
            raise MailboxNotConfigured(target, configured)
        return target, MailProvider.GMAIL
    if settings.gmail_credentials is not None and target == configured:
        raise MailboxKindConflict(target, MailProvider.GMAIL, MailProvider.MBOX)
    return target, MailProvider.MBOX


async def ensure_mailbox(
    sessionmaker: async_sessionmaker[AsyncSession], *, email: str, provider: MailProvider
) -> Mailbox:
    """Return the mailbox row for `email`, creating it (with `provider`) when missing.

    INSERT … ON CONFLICT DO NOTHING, then read: two first syncs of a new mailbox at once both
    get the one row. Raises MailboxKindConflict when the row exists with another provider.
    """
    email = normalise_email(email)
    async with transaction(sessionmaker) as session:
        row = {"email": email, "provider": provider, "created_at": utcnow()}
        await session.execute(
            conflict_insert(session, Mailbox)
            .values(row)
            .on_conflict_do_nothing(index_elements=["email"])
        )
        mailbox = await session.scalar(select(Mailbox).where(Mailbox.email == email))
    assert mailbox is not None  # inserted or already there; rows are never deleted here
    if mailbox.provider is not provider:
        raise MailboxKindConflict(email, mailbox.provider, provider)
    return mailbox
