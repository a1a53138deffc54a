"""Table maintenance: fresh statistics for every table, VACUUM where dead rows pile up.

PostgreSQL: ANALYZE each table of the schema; VACUUM (ANALYZE) instead where dead rows reach
`maintenance_vacuum_dead_ratio` of the table (and at least MIN_DEAD_ROWS, so tiny tables are left
to autovacuum). VACUUM cannot run inside a transaction: both run on an autocommit connection.
SQLite: ANALYZE, then PRAGMA optimize.
"""

from __future__ import annotations

import time

from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

MIN_DEAD_ROWS = 50

_DEAD_ROWS = text(
    """
    SELECT s.relname AS name, s.n_live_tup AS live, s.n_dead_tup AS dead
    FROM pg_stat_user_tables s
    WHERE s.schemaname = current_schema()
    ORDER BY s.relname
    """
)


class TableMaintenance(BaseModel):
    table: str
    live_rows: int | None
    dead_rows: int | None
    dead_ratio: float | None
    # analyze | vacuum_analyze | sqlite_analyze ("would …" in a dry run; "… failed: why")
    action: str
    seconds: float | None = None


def needs_vacuum(live: int, dead: int, threshold: float) -> bool:
    """True when dead rows are at least `threshold` of the table and at least MIN_DEAD_ROWS."""
    total = live + dead
    return dead >= MIN_DEAD_ROWS and total > 0 and dead / total >= threshold


async def maintain_tables(
    engine: AsyncEngine, *, dead_ratio: float, dry_run: bool
) -> list[TableMaintenance]:
    """Analyse (and where needed vacuum) every table; with `dry_run`, say what would run."""
    if engine.dialect.name != "postgresql":
        return [await _sqlite(engine, dry_run=dry_run)]
    done: list[TableMaintenance] = []
    async with engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("SET statement_timeout = 0"))
        rows = (await autocommit.execute(_DEAD_ROWS)).mappings().all()
        for row in rows:
            live, dead = int(row["live"]), int(row["dead"])
            action = "vacuum_analyze" if needs_vacuum(live, dead, dead_ratio) else "analyze"
            item = TableMaintenance(
                table=row["name"],
                live_rows=live,
                dead_rows=dead,
                dead_ratio=round(dead / (live + dead), 4) if live + dead else 0.0,
                action=f"would {action}" if dry_run else action,
            )
            if not dry_run:
                started = time.monotonic()
                command = "VACUUM (ANALYZE)" if action == "vacuum_analyze" else "ANALYZE"
                try:
                    await autocommit.execute(text(f'{command} "{row["name"]}"'))
                except Exception as exc:
                    # A table locked by someone else (or a timeout) must not stop the others.
                    reason = " ".join(str(getattr(exc, "orig", None) or exc).split())[:200]
                    item.action = f"{action} failed: {reason}"
                item.seconds = round(time.monotonic() - started, 3)
            done.append(item)
    return done


async def _sqlite(engine: AsyncEngine, *, dry_run: bool) -> TableMaintenance:
    item = TableMaintenance(
        table="*",
        live_rows=None,
        dead_rows=None,
        dead_ratio=None,
        action="would sqlite_analyze" if dry_run else "sqlite_analyze",
    )
    if dry_run:
        return item
    started = time.monotonic()
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE"))
        await conn.execute(text("PRAGMA optimize"))
    item.seconds = round(time.monotonic() - started, 3)
    return item
