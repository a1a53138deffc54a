"""`leadflow db stats`: collect the database report (read-only) for either backend."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from leadflow.db import create_engine
from leadflow.maintenance.report import DatabaseReport
from leadflow.maintenance.report_pg import collect_postgres_report
from leadflow.maintenance.report_sqlite import collect_sqlite_report
from leadflow.settings import Settings


async def collect_report(conn: AsyncConnection) -> DatabaseReport:
    """The report for the database behind `conn`."""
    if conn.dialect.name == "postgresql":
        return await collect_postgres_report(conn)
    return await collect_sqlite_report(conn)


async def database_report(settings: Settings) -> DatabaseReport:
    """Open the configured database, collect its report, close it."""
    engine = create_engine(settings, application_name="leadflow-stats")
    try:
        async with engine.connect() as conn:
            return await collect_report(conn)
    finally:
        await engine.dispose()
