"""The SQLite side of the database report: size, rows, indexes, whether analysed."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from leadflow.maintenance.report import DatabaseReport, IndexStats, TableStats


async def collect_sqlite_report(conn: AsyncConnection) -> DatabaseReport:
    pages = (await conn.execute(text("PRAGMA page_count"))).scalar_one()
    page_size = (await conn.execute(text("PRAGMA page_size"))).scalar_one()
    names = (
        (
            await conn.execute(
                text(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%' ORDER BY name"
                )
            )
        )
        .scalars()
        .all()
    )
    analysed = await _sqlite_analysed(conn)
    tables: list[TableStats] = []
    indexes: list[IndexStats] = []
    for name in names:
        rows = (await conn.execute(text(f'SELECT count(*) FROM "{name}"'))).scalar_one()  # noqa: S608
        tables.append(TableStats(name=name, rows=rows, analyzed=name in analysed))
        indexes.extend(await sqlite_indexes(conn, name))
    version = (await conn.execute(text("SELECT sqlite_version()"))).scalar_one()
    return DatabaseReport(
        dialect="sqlite",
        server_version=str(version),
        database=str(conn.engine.url.database or ":memory:"),
        size_bytes=int(pages) * int(page_size),
        tables=tables,
        indexes=indexes,
    )


async def _sqlite_analysed(conn: AsyncConnection) -> set[str]:
    exists = (
        await conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"))
    ).first()
    if exists is None:
        return set()
    return set((await conn.execute(text("SELECT DISTINCT tbl FROM sqlite_stat1"))).scalars())


async def sqlite_indexes(conn: AsyncConnection, table: str) -> list[IndexStats]:
    """The indexes SQLite has on `table`, including those behind PRIMARY KEY and UNIQUE."""
    found: list[IndexStats] = []
    for row in (await conn.execute(text(f'PRAGMA index_list("{table}")'))).mappings():
        info = await conn.execute(text(f'PRAGMA index_xinfo("{row["name"]}")'))
        columns = [
            str(column["name"]) + (" DESC" if column["desc"] else "")
            for column in info.mappings()
            if column["key"]
        ]
        found.append(
            IndexStats(
                table=table,
                name=str(row["name"]),
                columns=columns,
                unique=bool(row["unique"]),
                primary=row["origin"] == "pk",
                valid=True,
                partial=bool(row["partial"]),
            )
        )
    return found
