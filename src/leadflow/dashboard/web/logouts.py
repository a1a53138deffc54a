"""Logged-out dashboard sessions, refused by every worker until they would have expired.

The session cookie is signed and names a random session id (`session`); deleting it from the
browser at logout does nothing to a copy taken earlier (another device, a shared machine, a
stolen cookie). So a logout also records the session id in `dashboard_logouts` with the moment
the session would have expired, and a logged-in page checks that table (one primary-key lookup)
before it opens. The database is the one place every `serve` worker sees. Rows past their
expiry are deleted at the next logout, so the table holds only sessions still able to expire.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from leadflow.dashboard.web.session import Session
from leadflow.db import conflict_insert
from leadflow.models import DashboardLogout, utcnow
from leadflow.settings import Settings

_LOGOUTS: Table = DashboardLogout.__table__  # type: ignore[assignment]
# `session.decode` accepts a cookie issued up to this far in the future (clock skew).
_SKEW = timedelta(seconds=60)


def expires_at(session: Session, settings: Settings) -> datetime:
    """When `session` stops being accepted on its own (its lifetime, plus the allowed skew)."""
    issued = datetime.fromtimestamp(session.issued_at, UTC)
    return issued + timedelta(hours=settings.dashboard_session_hours) + _SKEW


async def log_out(
    engine: AsyncEngine, session: Session, settings: Settings, *, now: datetime | None = None
) -> None:
    """Refuse `session` from now on (every worker); drop logouts that have expired."""
    moment = now or utcnow()
    until = expires_at(session, settings)
    async with engine.begin() as conn:
        await conn.execute(delete(DashboardLogout).where(DashboardLogout.expires_at < moment))
        if until > moment:
            stmt = conflict_insert(conn, _LOGOUTS).values(sid=session.sid, expires_at=until)
            await conn.execute(stmt.on_conflict_do_nothing(index_elements=["sid"]))


async def is_logged_out(engine: AsyncEngine, sid: str) -> bool:
    async with engine.connect() as conn:
        found = await conn.scalar(select(DashboardLogout.sid).where(DashboardLogout.sid == sid))
    return found is not None
