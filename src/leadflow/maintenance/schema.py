"""Schema upgrades through Alembic, on the async engine leadflow already knows how to build."""

from __future__ import annotations

from sqlalchemy import inspect, text

from leadflow.db import create_engine
from leadflow.migrations import run_upgrade
from leadflow.settings import Settings

# Held for an upgrade's transaction on PostgreSQL: two upgrades at once (two deploys, a demo and
# a `db upgrade`) run one after the other, and the second finds the schema already there.
_UPGRADE_LOCK = int.from_bytes(b"lfmigrat", "big") >> 1


async def upgrade_database(settings: Settings, revision: str = "head") -> None:
    """Migrate the configured database to `revision`."""
    engine = create_engine(settings, application_name="leadflow-migrate")
    try:
        async with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _UPGRADE_LOCK})
            await conn.run_sync(run_upgrade, revision)
            await conn.commit()
    finally:
        await engine.dispose()


async def current_schema_revision(settings: Settings) -> str | None:
    """The database's Alembic revision (None: no schema). Raises when it cannot be reached.

    Read with plain SQL rather than Alembic's MigrationContext, which logs two INFO lines.
    """
    engine = create_engine(settings, application_name="leadflow-migrate")
    try:
        async with engine.connect() as conn:
            if not await conn.run_sync(lambda sync: inspect(sync).has_table("alembic_version")):
                return None
            version = await conn.execute(text("SELECT version_num FROM alembic_version"))
            return version.scalar_one_or_none()
    finally:
        await engine.dispose()
