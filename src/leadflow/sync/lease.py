"""A lease on a mailbox row so that two sync processes never sync one mailbox at the same time.

The lease is two columns on `mailboxes` (`lease_owner`, `lease_expires_at`). `lease_owner` is
a token unique to one acquisition; it doubles as the fencing token:

- Taking the lease is one conditional UPDATE that succeeds when the row is free or expired.
- Keeping it (the background renewal, and `fence` at the start of every transaction that
  writes for the sync) is an UPDATE that matches only our own token. It never takes a free
  lease back: once another process took over, even if it has finished and freed the row
  since, every later write of ours fails with LeaseLost. Because `fence` is the first
  statement of the writing transaction, it also locks the mailbox row until that commit, so a
  take-over cannot slip in between the check and the write.
- Early take-over of a lease whose owner is gone (kill -9, OOM) before it expires is allowed
  only when the owner provably ran in our own PID namespace on our own kernel (boot id and
  PID-namespace inode, both in the token) and its pid no longer exists there. Anything else
  (another host, another container sharing our hostname, an older token without that scope)
  is waited out until the lease expires. A wrong guess here would cost the other sync its run
  (it would meet LeaseLost at its next write), never data.
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
from pathlib import Path

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
    """The lease is no longer ours (another process took the mailbox over); stop writing."""


def process_scope() -> str | None:
    """`<boot id>:<dev>.<inode>` of our kernel boot and PID namespace; None where unknown.

    Two processes with the same scope see the same pids, so a pid from a token of this scope
    may be looked up with kill(pid, 0). Containers share the hostname easily, the kernel's
    boot id often, but never a PID namespace unless they really share their processes.
    """
    try:
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        namespace = os.stat("/proc/self/ns/pid")
    except OSError:
        return None
    if not boot_id or ":" in boot_id:
        return None
    return f"{boot_id}:{namespace.st_dev}.{namespace.st_ino}"


def make_owner_id() -> str:
    """A lease token naming this host and process (for people) and its PID namespace."""
    token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    scope = process_scope()
    return f"{token}:{scope}" if scope else token


async def try_acquire(
    session: AsyncSession, *, mailbox_id: int, owner: str, ttl: timedelta, now: datetime
) -> bool:
    """Take the lease when it is free or expired; True when we hold it now (a fresh `owner`)."""
    result = await session.execute(
        update(Mailbox)
        .where(
            Mailbox.id == mailbox_id,
            or_(
                Mailbox.lease_owner.is_(None),
                Mailbox.lease_expires_at.is_(None),
                Mailbox.lease_expires_at < now,
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
    """True only when `owner` is a process of our PID namespace and kernel that no longer runs.

    Lets a sync started right after a crash (kill -9, OOM) proceed instead of waiting for the
    dead process's lease to expire. An owner of any other scope, or without one, is never
    judged dead (see the module docstring); neither is a live, stopped or zombie process.
    """
    parts = (owner or "").split(":")
    if len(parts) != 5 or not parts[1].isdigit():
        return False
    scope = process_scope()
    if scope is None or ":".join(parts[3:]) != scope:
        return False
    pid = int(parts[1])
    if pid in (0, os.getpid()):
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
    """Extend our lease inside the caller's transaction; raise LeaseLost if it is not ours.

    Matches our token only: a lease freed or taken by someone else is never taken back.
    """
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
        """Check and extend the lease as the first write of a transaction (module docstring)."""
        try:
            await fence(
                session,
                mailbox_id=self.mailbox_id,
                owner=self.owner,
                ttl=self.ttl,
                now=self.clock(),
            )
        except LeaseLost:
            self.lost = True
            raise

    async def renew(self) -> bool:
        """Extend the lease now; False (and `lost` set for good) when it is no longer ours."""
        if self.lost:
            return False
        try:
            async with transaction(self.sessionmaker) as session:
                await self.fence(session)
        except LeaseLost:
            self.lost = True
            return False
        return True

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
