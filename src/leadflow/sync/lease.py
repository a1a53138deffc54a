"""A lease on a mailbox row so that two sync processes never sync one mailbox at the same time.

The lease is two columns on `mailboxes` (`lease_owner`, `lease_expires_at`), taken with one
conditional UPDATE: it succeeds when the row is free, expired, or already ours; a lease left
by a process of this host that no longer runs (killed) is taken over at once. While a sync
runs, a background task renews it; every batch commit also re-checks it inside the batch's own
transaction (`fence`), so a process that lost its lease (paused past expiry, then taken over)
cannot commit another batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow.db import transaction
from leadflow.models import Mailbox, utcnow

log = logging.getLogger(__name__)

DEFAULT_TTL = timedelta(seconds=120)
DEFAULT_POLL_SECONDS = 5.0

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]


class LeaseHeld(Exception):
    """Another process holds the mailbox's lease."""

    def __init__(self, email: str, owner: str | None, expires_at: datetime | None) -> None:
        until = f" until {expires_at.isoformat(timespec='seconds')}" if expires_at else ""
        super().__init__(
            f"mailbox {email} is being synced by {owner or 'another process'}{until}; "
            "try again later or pass --wait"
        )
        self.email = email
        self.owner = owner
        self.expires_at = expires_at


class LeaseLost(Exception):
    """Our lease expired and another process took the mailbox; this sync must stop."""


def make_owner_id() -> str:
    """A lease owner id naming this host and process, unique per call."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def try_acquire(
    session: AsyncSession, *, mailbox_id: int, owner: str, ttl: timedelta, now: datetime
) -> bool:
    """Take or extend the lease when it is free, expired or ours; True when we hold it now."""
    result = await session.execute(
        update(Mailbox)
        .where(
            Mailbox.id == mailbox_id,
            or_(
                Mailbox.lease_owner.is_(None),
                Mailbox.lease_expires_at.is_(None),
                Mailbox.lease_expires_at < now,
                Mailbox.lease_owner == owner,
            ),
        )
        .values(lease_owner=owner, lease_expires_at=now + ttl)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


async def take_over(
    session: AsyncSession,
    *,
    mailbox_id: int,
    dead_owner: str,
    owner: str,
    ttl: timedelta,
    now: datetime,
) -> bool:
    """Take the lease from `dead_owner` (if it still holds it); True when we hold it now."""
    result = await session.execute(
        update(Mailbox)
        .where(Mailbox.id == mailbox_id, Mailbox.lease_owner == dead_owner)
        .values(lease_owner=owner, lease_expires_at=now + ttl)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def owner_is_dead(owner: str | None) -> bool:
    """True when `owner` names a process on this host that no longer exists.

    Lets a sync started right after a crash (kill -9, OOM) proceed instead of waiting for the
    dead process's lease to expire. Owners on other hosts, or alive, are never judged dead.
    """
    if not owner:
        return False
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


async def fence(
    session: AsyncSession, *, mailbox_id: int, owner: str, ttl: timedelta, now: datetime
) -> None:
    """Extend our lease inside the caller's transaction; raise LeaseLost if it is not ours."""
    result = await session.execute(
        update(Mailbox)
        .where(Mailbox.id == mailbox_id, Mailbox.lease_owner == owner)
        .values(lease_expires_at=now + ttl)
        .execution_options(synchronize_session=False)
    )
    if _rowcount(result) != 1:
        raise LeaseLost(f"lease on mailbox {mailbox_id} was taken over by another process")


async def release(session: AsyncSession, *, mailbox_id: int, owner: str) -> None:
    """Give the lease up, if it is still ours."""
    await session.execute(
        update(Mailbox)
        .where(Mailbox.id == mailbox_id, Mailbox.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )


def _rowcount(result: object) -> int:
    count = getattr(result, "rowcount", 0)
    return int(count) if isinstance(count, int) else 0


@dataclass
class MailboxLease:
    """A held lease: renewed in the background until `release` is awaited."""

    sessionmaker: async_sessionmaker[AsyncSession]
    mailbox_id: int
    email: str
    owner: str
    ttl: timedelta = DEFAULT_TTL
    clock: Clock = utcnow
    _renewer: asyncio.Task[None] | None = None
    lost: bool = False

    @classmethod
    async def acquire(
        cls,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        mailbox_id: int,
        email: str,
        owner: str | None = None,
        ttl: timedelta = DEFAULT_TTL,
        wait: bool = False,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        clock: Clock = utcnow,
        sleep: Sleep = asyncio.sleep,
    ) -> MailboxLease:
        """Take the lease, or raise LeaseHeld (wait=False) / poll until it is free (wait=True)."""
        owner = owner or make_owner_id()
        while True:
            async with transaction(sessionmaker) as session:
                if await try_acquire(
                    session, mailbox_id=mailbox_id, owner=owner, ttl=ttl, now=clock()
                ):
                    lease = cls(sessionmaker, mailbox_id, email, owner, ttl, clock)
                    lease._start_renewing()
                    return lease
                holder = (
                    await session.execute(
                        select(Mailbox.lease_owner, Mailbox.lease_expires_at).where(
                            Mailbox.id == mailbox_id
                        )
                    )
                ).one()
            if owner_is_dead(holder.lease_owner):
                async with transaction(sessionmaker) as session:
                    taken = await take_over(
                        session,
                        mailbox_id=mailbox_id,
                        dead_owner=holder.lease_owner,
                        owner=owner,
                        ttl=ttl,
                        now=clock(),
                    )
                if taken:
                    log.warning(
                        "took over the lease on %s from %s, which is no longer running",
                        email,
                        holder.lease_owner,
                    )
                    lease = cls(sessionmaker, mailbox_id, email, owner, ttl, clock)
                    lease._start_renewing()
                    return lease
                continue
            if not wait:
                raise LeaseHeld(email, holder.lease_owner, holder.lease_expires_at)
            log.info("mailbox %s is leased by %s; waiting", email, holder.lease_owner)
            await sleep(poll_seconds)

    async def fence(self, session: AsyncSession) -> None:
        """Check and extend the lease inside a batch's transaction (see module docstring)."""
        await fence(
            session, mailbox_id=self.mailbox_id, owner=self.owner, ttl=self.ttl, now=self.clock()
        )

    async def renew(self) -> bool:
        """Extend the lease now; False (and `lost` set) when it is no longer ours."""
        async with transaction(self.sessionmaker) as session:
            held = await try_acquire(
                session,
                mailbox_id=self.mailbox_id,
                owner=self.owner,
                ttl=self.ttl,
                now=self.clock(),
            )
        # try_acquire also succeeds on an expired lease nobody took: that is still safe, since
        # only one process can win the conditional UPDATE.
        self.lost = self.lost or not held
        return held

    async def stop_renewing(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._renewer
            self._renewer = None

    async def release_in(self, session: AsyncSession) -> None:
        """Free the lease inside the caller's transaction (with the run's final row)."""
        await self.stop_renewing()
        await release(session, mailbox_id=self.mailbox_id, owner=self.owner)

    async def release(self) -> None:
        """Stop renewing and free the lease (a no-op when it is no longer ours)."""
        await self.stop_renewing()
        async with transaction(self.sessionmaker) as session:
            await release(session, mailbox_id=self.mailbox_id, owner=self.owner)

    def _start_renewing(self) -> None:
        self._renewer = asyncio.create_task(self._renew_forever(), name=f"lease-{self.owner}")

    async def _renew_forever(self) -> None:
        interval = max(self.ttl.total_seconds() / 3, 0.05)
        while True:
            await asyncio.sleep(interval)
            try:
                if not await self.renew():
                    log.error("lost the lease on mailbox %s", self.email)
                    return
            except Exception:
                # A database hiccup: the next tick (well before expiry) tries again.
                log.warning("could not renew the lease on mailbox %s", self.email, exc_info=True)


@asynccontextmanager
async def hold_lease(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    mailbox_id: int,
    email: str,
    wait: bool = False,
    ttl: timedelta = DEFAULT_TTL,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    clock: Clock = utcnow,
    sleep: Sleep = asyncio.sleep,
) -> AsyncIterator[MailboxLease]:
    """Hold the mailbox's lease for the duration of the block."""
    lease = await MailboxLease.acquire(
        sessionmaker,
        mailbox_id=mailbox_id,
        email=email,
        ttl=ttl,
        wait=wait,
        poll_seconds=poll_seconds,
        clock=clock,
        sleep=sleep,
    )
    try:
        yield lease
    finally:
        await lease.release()
