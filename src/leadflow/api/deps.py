"""FastAPI dependencies: the request's database session (which owns the transaction) and auth."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow.cache.hybrid import Cache
from leadflow.errors import Unauthorized
from leadflow.settings import Settings

_ABANDONED = "leadflow.abandoned"


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Yield the request's session; commit when the endpoint returns, roll back if it raised."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    session = sessionmaker()
    request.state.db_session = session
    try:
        yield session
        if not session.info.get(_ABANDONED):
            await session.commit()
    except BaseException:
        with contextlib.suppress(Exception):
            await session.rollback()
        raise
    finally:
        with contextlib.suppress(Exception):
            await session.close()


async def abandon_request_session(request: Request) -> None:
    """Mark the request's current session as dead so its dependency neither commits nor raises."""
    session: AsyncSession | None = getattr(request.state, "db_session", None)
    if session is None:
        return
    session.info[_ABANDONED] = True
    with contextlib.suppress(Exception):
        await session.rollback()


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_cache(request: Request) -> Cache:
    """The process's cache (built in the app lifespan); async, so no thread hop per request."""
    cache: Cache = request.app.state.cache
    return cache


_bearer = HTTPBearer(auto_error=False)


async def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Refuse the request unless it carries the configured bearer token."""
    expected = request.app.state.settings.api_token
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    if expected is None or not secrets.compare_digest(
        credentials.credentials.encode(), expected.get_secret_value().encode()
    ):
        raise Unauthorized("invalid bearer token")


# Function-scoped: the COMMIT runs before the answer is sent (issue #7 makes the same change), so
# the cache's invalidation at the response's start comes after it (read-your-writes).
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CacheDep = Annotated[Cache, Depends(get_cache)]
