"""Schema upgrades through Alembic, on the async engine leadflow already knows how to build."""

from __future__ import annotations

from leadflow.db import create_engine
from leadflow.migrations import run_upgrade
from leadflow.settings import Settings


async def upgrade_database(settings: Settings, revision: str = "head") -> None:
    """Migrate the configured database to `revision`."""
    engine = create_engine(settings, application_name="leadflow-migrate")
    try:
        async with engine.connect() as conn:
            await conn.run_sync(run_upgrade, revision)
            await conn.commit()
    finally:
        await engine.dispose()
