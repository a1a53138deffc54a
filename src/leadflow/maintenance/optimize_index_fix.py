"""Act on the index audit: create missing indexes, rebuild INVALID ones, drop unused extras.

PostgreSQL builds with CREATE INDEX CONCURRENTLY IF NOT EXISTS and rebuilds with REINDEX INDEX
CONCURRENTLY, each on an autocommit connection (neither may run inside a transaction), so the
tables stay writable. A failed concurrent build leaves an INVALID index behind; it is dropped
again and the error reported. A missing unique constraint is rebuilt the same way and then
attached with ALTER TABLE … ADD CONSTRAINT … USING INDEX. SQLite builds plain indexes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.schema import CreateIndex

from leadflow.maintenance.optimize_indexes import DeclaredIndex, IndexFinding

_CREATE = re.compile(r"^CREATE (UNIQUE )?INDEX (IF NOT EXISTS )?", re.IGNORECASE)


def planned_action(finding: IndexFinding, *, drop_unused: bool) -> str | None:
    """What `apply_findings` does about a finding (None: report only)."""
    if finding.kind == "missing":
        return "create"
    if finding.kind == "invalid":
        return "rebuild"
    if finding.kind == "unused" and drop_unused and not finding.declared:
        return "drop"
    return None


async def apply_findings(
    engine: AsyncEngine,
    findings: Sequence[IndexFinding],
    declared: Sequence[DeclaredIndex],
    *,
    drop_unused: bool,
    dry_run: bool,
) -> None:
    """Carry out each finding's planned action, recording what happened on the finding."""
    by_name = {(d.table, d.name): d for d in declared}
    for finding in findings:
        action = planned_action(finding, drop_unused=drop_unused)
        if action is None:
            continue
        if dry_run:
            finding.action = f"would {action}"
            continue
        try:
            if engine.dialect.name == "postgresql":
                async with engine.connect() as conn:
                    autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
                    await autocommit.execute(text("SET statement_timeout = 0"))
                    await _carry_out(autocommit, action, finding, by_name)
            else:
                async with engine.begin() as conn:
                    await _carry_out(conn, action, finding, by_name)
            finding.action = {"create": "created", "rebuild": "rebuilt", "drop": "dropped"}[action]
        except Exception as exc:
            finding.action = f"{action} failed"
            finding.error = _message(exc)


def _message(exc: Exception) -> str:
    """The driver's own message and PostgreSQL's DETAIL, without SQLAlchemy's wrapping."""
    orig = getattr(exc, "orig", None) or exc
    detail = getattr(getattr(orig, "__cause__", None), "detail", None)
    text_ = str(orig) + (f" ({detail})" if detail else "")
    return " ".join(text_.split())[:500]


async def _carry_out(
    conn: AsyncConnection,
    action: str,
    finding: IndexFinding,
    declared: dict[tuple[str, str], DeclaredIndex],
) -> None:
    postgres = conn.dialect.name == "postgresql"
    name = finding.index
    if action == "drop":
        concurrently = "CONCURRENTLY " if postgres else ""
        await conn.execute(text(f'DROP INDEX {concurrently}IF EXISTS "{name}"'))
        return
    if action == "rebuild":
        await conn.execute(text(f'REINDEX INDEX CONCURRENTLY "{name}"'))
        return
    spec = declared[(finding.table, name)]
    if spec.constraint == "primary":
        raise RuntimeError("a primary key is missing: restore the schema (leadflow db upgrade)")
    try:
        await conn.execute(text(create_statement(spec, conn.dialect)))
        if postgres and spec.constraint == "unique":
            attach = f'ADD CONSTRAINT "{name}" UNIQUE USING INDEX "{name}"'
            await conn.execute(text(f'ALTER TABLE "{spec.table}" {attach}'))
    except Exception:
        if postgres:
            # A failed concurrent build leaves an INVALID index: do not leave it behind.
            await conn.execute(text(f'DROP INDEX CONCURRENTLY IF EXISTS "{name}"'))
        raise


def create_statement(spec: DeclaredIndex, dialect: Dialect) -> str:
    """CREATE [UNIQUE] INDEX [CONCURRENTLY] IF NOT EXISTS for a declared index or constraint."""
    postgres = dialect.name == "postgresql"
    concurrently = "CONCURRENTLY " if postgres else ""
    if spec.index is None:
        # The index behind a unique constraint: plain columns, named after the constraint.
        columns = ", ".join(f'"{c}"' for c in spec.columns)
        return (
            f'CREATE UNIQUE INDEX {concurrently}IF NOT EXISTS "{spec.name}" '
            f'ON "{spec.table}" ({columns})'
        )
    ddl = str(CreateIndex(spec.index, if_not_exists=True).compile(dialect=dialect))
    match = _CREATE.match(ddl)
    assert match is not None, ddl
    unique = "UNIQUE " if match.group(1) else ""
    return f"CREATE {unique}INDEX {concurrently}IF NOT EXISTS " + ddl[match.end() :]
