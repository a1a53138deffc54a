"""Bulk writes for the seed: COPY on PostgreSQL, executemany on SQLite, inside the caller's
transaction.

On PostgreSQL the big tables' secondary indexes, unique constraints and foreign keys are dropped
before the load and added back after it: one sorted index build and one validating join are far
cheaper than a million index insertions and a million foreign-key lookups. Both happen inside the
seed's single transaction, so a failed seed leaves the schema and the data as they were.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Table, UniqueConstraint, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.schema import (
    AddConstraint,
    CreateIndex,
    DropConstraint,
    ExecutableDDLElement,
)

from leadflow.models import indexes_for

SQLITE_CHUNK = 1_000

Rows = Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class Prepared:
    """Rows of one table in the form the database's bulk path takes (see `BulkWriter.prepare`)."""

    table: Table
    records: list[Any]
    columns: list[str] = field(default_factory=list)


@dataclass
class Suspended:
    """What `BulkWriter.suspend` dropped, in the order to add it back."""

    ddl: list[ExecutableDDLElement] = field(default_factory=list)


def json_text(value: Any) -> str:
    """JSON for a COPY: lists of plain strings (addresses, ids, labels) by a short path."""
    if isinstance(value, list) and all(
        isinstance(item, str) and item.isprintable() and '"' not in item and "\\" not in item
        for item in value
    ):
        return '["' + '","'.join(value) + '"]' if value else "[]"
    return json.dumps(value)


class BulkWriter:
    """Appends rows (dicts with every column) to tables of the session's database."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.postgres = session.get_bind().dialect.name == "postgresql"

    def prepare(self, table: Table, rows: Rows) -> Prepared:
        """Encode rows for the bulk path; pure, so it can run in a worker thread."""
        if not self.postgres:
            return Prepared(table, list(rows))
        columns = [column.name for column in table.columns]
        positions = [i for i, c in enumerate(table.columns) if isinstance(c.type, JSON)]
        values = itemgetter(*columns)
        records = []
        for row in rows:
            record = list(values(row))
            for i in positions:
                record[i] = json_text(record[i])
            records.append(tuple(record))
        return Prepared(table, records, columns)

    async def write(self, table: Table, rows: Rows) -> None:
        await self.write_prepared(self.prepare(table, rows))

    async def write_prepared(self, prepared: Prepared) -> None:
        if not prepared.records:
            return
        if not self.postgres:
            records = prepared.records
            for start in range(0, len(records), SQLITE_CHUNK):
                chunk = records[start : start + SQLITE_CHUNK]
                await self.session.execute(prepared.table.insert(), chunk)
            return
        connection = await self.session.connection()
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        await driver.copy_records_to_table(
            prepared.table.name, records=prepared.records, columns=prepared.columns
        )

    async def suspend(self, tables: Iterable[Table]) -> Suspended:
        """Drop the tables' foreign keys, unique constraints and non-unique indexes
        (PostgreSQL only); primary keys stay. Pass the result to `restore`."""
        suspended = Suspended()
        if not self.postgres:
            return suspended
        foreign: list[ExecutableDDLElement] = []
        for table in tables:
            for fk in table.foreign_key_constraints:
                await self.session.execute(DropConstraint(fk))
                foreign.append(AddConstraint(fk))
            for constraint in table.constraints:
                if isinstance(constraint, UniqueConstraint):
                    await self.session.execute(DropConstraint(constraint))
                    suspended.ddl.append(AddConstraint(constraint))
            for index in indexes_for(table, "postgresql"):
                if not index.unique:
                    await self.session.execute(text(f'DROP INDEX IF EXISTS "{index.name}"'))
                    suspended.ddl.append(CreateIndex(index))
        # Foreign keys last: their validation reads the rebuilt unique indexes of other tables.
        suspended.ddl.extend(foreign)
        return suspended

    async def restore(self, suspended: Suspended) -> None:
        for ddl in suspended.ddl:
            await self.session.execute(ddl)

    async def reset_sequences(self, tables: Iterable[Table]) -> None:
        """Point each table's id sequence past the ids written explicitly (PostgreSQL)."""
        if not self.postgres:
            return
        for table in tables:
            await self.session.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "  # noqa: S608
                    f"coalesce(max(id), 1), max(id) IS NOT NULL) FROM {table.name}"
                )
            )
