"""Index audit: the indexes the models declare against those the database has.

`audit` is pure: declared and actual indexes in, findings out. Missing declared indexes are
created and INVALID ones rebuilt by `apply_findings` (PostgreSQL: CONCURRENTLY, outside a
transaction, so writers are not blocked); duplicates, redundant and unused indexes are only
reported. An unused index is dropped only with `drop_unused`, and only when the models do not
declare it (dropping a declared one would have the next run create it again).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Column, Index, MetaData, PrimaryKeyConstraint, UniqueConstraint, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from leadflow.maintenance.report_pg import index_catalog
from leadflow.maintenance.report_sqlite import sqlite_indexes
from leadflow.models import indexes_for

UNUSED_MIN_BYTES = 1024 * 1024  # smaller unused indexes cost too little to mention

FindingKind = Literal[
    "missing", "invalid", "mismatch", "duplicate", "redundant", "unused", "undeclared"
]


class IndexFinding(BaseModel):
    kind: FindingKind
    table: str
    index: str
    columns: list[str]
    detail: str
    declared: bool
    action: str | None = None  # what was done (or, in a dry run, would be done)
    error: str | None = None


@dataclass(frozen=True)
class DeclaredIndex:
    table: str
    name: str
    columns: tuple[str, ...]
    unique: bool
    constraint: Literal["unique", "primary"] | None
    index: Index | None = None  # the model's Index, to build it from
    constraint_obj: UniqueConstraint | None = None


@dataclass(frozen=True)
class ActualIndex:
    table: str
    name: str
    columns: tuple[str, ...]
    unique: bool
    primary: bool
    valid: bool
    method: str = "btree"
    predicate: str | None = None
    constraint_type: str | None = None  # p, u, x (exclusion) or None
    bytes: int | None = None
    scans: int | None = None


def declared_indexes(metadata: MetaData, dialect: str) -> list[DeclaredIndex]:
    """Every index the models declare for `dialect`, with the constraints backed by one."""
    found: list[DeclaredIndex] = []
    for table in metadata.sorted_tables:
        for index in indexes_for(table, dialect):
            columns = tuple(_column_name(e) for e in index.expressions)
            found.append(
                DeclaredIndex(table.name, str(index.name), columns, bool(index.unique), None, index)
            )
        for constraint in table.constraints:
            if isinstance(constraint, PrimaryKeyConstraint):
                if dialect == "sqlite":
                    continue  # an INTEGER PRIMARY KEY is the rowid: SQLite keeps no index for it
                cols = tuple(c.name for c in constraint.columns)
                found.append(DeclaredIndex(table.name, str(constraint.name), cols, True, "primary"))
            elif isinstance(constraint, UniqueConstraint):
                cols = tuple(c.name for c in constraint.columns)
                found.append(
                    DeclaredIndex(
                        table.name, str(constraint.name), cols, True, "unique", None, constraint
                    )
                )
    return found


def _column_name(expression: Any) -> str:
    """A declared index element as the catalog spells it: the column (or expression), then
    DESC, then a NULLS placement only where it is not the direction's default."""
    modifiers = set()
    while isinstance(expression, UnaryExpression):
        modifiers.add(expression.modifier)
        expression = expression.element
    name = str(expression.name) if isinstance(expression, Column) else str(expression)
    descending = operators.desc_op in modifiers
    if descending:
        name += " DESC"
    if descending and operators.nulls_last_op in modifiers:
        name += " NULLS LAST"
    elif not descending and operators.nulls_first_op in modifiers:
        name += " NULLS FIRST"
    return name


async def actual_indexes(conn: AsyncConnection) -> list[ActualIndex]:
    """The indexes the database has on the schema's tables."""
    if conn.dialect.name == "postgresql":
        return [
            ActualIndex(
                table=row["table"],
                name=row["name"],
                columns=tuple(row["columns"]),
                unique=row["unique"],
                primary=row["primary"],
                valid=row["valid"],
                method=row["method"],
                predicate=row["predicate"],
                constraint_type=row["constraint_type"],
                bytes=row["bytes"],
                scans=row["scans"],
            )
            for row in await index_catalog(conn)
        ]
    tables = (
        await conn.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        )
    ).scalars()
    found: list[ActualIndex] = []
    for table in list(tables):
        for index in await sqlite_indexes(conn, table):
            auto = index.name.startswith("sqlite_autoindex_")
            found.append(
                ActualIndex(
                    table=table,
                    name=index.name,
                    columns=tuple(index.columns),
                    unique=index.unique,
                    primary=index.primary,
                    valid=True,
                    predicate="(partial)" if index.partial else None,
                    constraint_type=("p" if index.primary else "u") if auto else None,
                )
            )
    return found


def audit(
    declared: Sequence[DeclaredIndex],
    actual: Sequence[ActualIndex],
    *,
    unused_min_bytes: int = UNUSED_MIN_BYTES,
) -> list[IndexFinding]:
    """Compare declared with actual indexes (pure)."""
    by_name = {(a.table, a.name): a for a in actual}
    declared_names = {(d.table, d.name) for d in declared}
    findings: list[IndexFinding] = []
    for d in declared:
        present = by_name.get((d.table, d.name)) or _unnamed_constraint(d, actual)
        if present is None:
            findings.append(_finding("missing", d, "declared by the models, not in the database"))
        elif not present.valid:
            findings.append(_finding("invalid", d, "INVALID (a failed concurrent build)"))
        elif _normal(present.columns) != _normal(d.columns) or present.unique != d.unique:
            detail = (
                f"database has ({', '.join(present.columns)}){' unique' if present.unique else ''}"
                f", the models ({', '.join(d.columns)}){' unique' if d.unique else ''}"
            )
            findings.append(_finding("mismatch", d, detail))
    for a in actual:
        known = (a.table, a.name) in declared_names or a.constraint_type is not None
        if not known and not any(_unnamed_constraint(d, [a]) for d in declared):
            findings.append(_actual("undeclared", a, "not declared by the models", False))
    findings.extend(_overlaps(actual, declared_names))
    findings.extend(_unused(actual, declared_names, unused_min_bytes))
    return findings


def _normal(columns: Iterable[str]) -> tuple[str, ...]:
    """Columns as comparable text: an expression without casts and spaces (the catalog spells
    `'[)'::text` where the model wrote `'[)'`)."""
    return tuple(re.sub(r"::[a-z ]+|\s+", "", column.lower()) for column in columns)


def _unnamed_constraint(d: DeclaredIndex, actual: Iterable[ActualIndex]) -> ActualIndex | None:
    """SQLite names the index behind a UNIQUE constraint itself: find it by its columns."""
    if d.constraint != "unique":
        return None
    for a in actual:
        if a.table == d.table and a.name.startswith("sqlite_autoindex_") and a.columns == d.columns:
            return a
    return None


def _overlaps(actual: Sequence[ActualIndex], declared: set[tuple[str, str]]) -> list[IndexFinding]:
    """Indexes with the same columns as another, or whose columns lead another's."""
    findings: list[IndexFinding] = []
    per_table: dict[str, list[ActualIndex]] = defaultdict(list)
    for a in actual:
        if a.method == "btree" and a.predicate is None and a.valid:
            per_table[a.table].append(a)
    for indexes in per_table.values():
        # Constraint-backed, unique and declared indexes first: they are the ones to keep.
        indexes.sort(
            key=lambda i: (
                i.constraint_type is None,
                not i.unique,
                (i.table, i.name) not in declared,
                i.name,
            )
        )
        for position, a in enumerate(indexes):
            if a.constraint_type is not None or a.unique:
                continue
            for other in indexes:
                if other is a:
                    continue
                same = other.columns == a.columns
                if same and indexes.index(other) < position:
                    what = "constraint" if other.constraint_type else "index"
                    detail = f"same columns as {what} {other.name}"
                    findings.append(_actual("duplicate", a, detail, (a.table, a.name) in declared))
                    break
                if len(other.columns) > len(a.columns) and other.columns[: len(a.columns)] == (
                    a.columns
                ):
                    detail = f"its columns lead {other.name} ({', '.join(other.columns)})"
                    findings.append(_actual("redundant", a, detail, (a.table, a.name) in declared))
                    break
    return findings


def _unused(
    actual: Sequence[ActualIndex], declared: set[tuple[str, str]], min_bytes: int
) -> list[IndexFinding]:
    findings: list[IndexFinding] = []
    for a in actual:
        if a.scans is None or a.scans > 0 or a.unique or a.primary or a.constraint_type:
            continue
        if (a.bytes or 0) < min_bytes:
            continue
        detail = f"0 scans since the statistics were reset, {a.bytes or 0:,} bytes"
        findings.append(_actual("unused", a, detail, (a.table, a.name) in declared))
    return findings


def _finding(kind: FindingKind, d: DeclaredIndex, detail: str) -> IndexFinding:
    return IndexFinding(
        kind=kind,
        table=d.table,
        index=d.name,
        columns=list(d.columns),
        detail=detail,
        declared=True,
    )


def _actual(kind: FindingKind, a: ActualIndex, detail: str, declared: bool) -> IndexFinding:
    return IndexFinding(
        kind=kind,
        table=a.table,
        index=a.name,
        columns=list(a.columns),
        detail=detail,
        declared=declared,
    )
