"""Empty every table between tests and property-test examples (one way, on both databases)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from leadflow.models import Base


async def reset(engine: AsyncEngine) -> None:
    """Delete every row (PostgreSQL: TRUNCATE, identities restarted; SQLite: DELETE)."""
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                await conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - fixed names
