"""Capture the SQL an API request runs, and read PostgreSQL's plans for it.

Used by the query-discipline tests and the benchmark: every statement the app's engine executes
during one request is recorded (SQLAlchemy `before_cursor_execute`), then planned again with
EXPLAIN (FORMAT JSON) and the same parameters.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

WATCHED = frozenset({"customers", "leads", "email_threads", "email_messages", "bookings"})


@dataclass
class Captured:
    statements: list[tuple[str, Any]] = field(default_factory=list)

    @property
    def selects(self) -> list[tuple[str, Any]]:
        """The reads worth planning: SELECTs, not the planner estimates pagination asks for."""
        return [
            (sql, params)
            for sql, params in self.statements
            if sql.lstrip().upper().startswith("SELECT")
        ]


@contextmanager
def capture(engine: AsyncEngine) -> Iterator[Captured]:
    captured = Captured()

    def record(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool
    ) -> None:
        captured.statements.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield captured
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def explain(conn: AsyncConnection, sql: str, params: Any) -> dict[str, Any]:
    """The plan of a captured asyncpg statement ($n placeholders) with its parameters."""
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    args = tuple(params or ())
    document = await driver.fetchval("EXPLAIN (FORMAT JSON) " + sql, *args)
    plan: dict[str, Any] = (json.loads(document) if isinstance(document, str) else document)[0]
    return plan


def full_scans(plan: dict[str, Any], *, allow_index_only: bool = False) -> list[str]:
    """Nodes that read a whole watched table: a Seq Scan, or an index scan with no condition
    that no Limit above it cuts short (an Index Only Scan is allowed with `allow_index_only`:
    a whole-table aggregate read from a narrow index and the visibility map)."""
    found: list[str] = []

    def walk(node: dict[str, Any], limited: bool) -> None:
        kind = node.get("Node Type", "")
        table = node.get("Relation Name")
        limited = limited or kind == "Limit"
        if table in WATCHED:
            if kind == "Seq Scan":
                found.append(f"Seq Scan on {table}")
            elif kind in ("Index Scan", "Index Only Scan") and "Index Cond" not in node:
                index_only = kind == "Index Only Scan"
                if not limited and not (index_only and allow_index_only):
                    found.append(f"{kind} using {node.get('Index Name')} without a condition")
        for child in node.get("Plans", []):
            walk(child, limited)

    walk(plan["Plan"], False)
    return found
