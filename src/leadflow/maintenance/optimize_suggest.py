"""Missing-index suggestions (PostgreSQL), in the manner of dexter; never applied, only reported.

With pg_stat_statements loaded, the statements with the most total time are planned generically
(PREPARE, then EXPLAIN EXECUTE with plan_cache_mode = force_generic_plan, so no parameter values
are needed). Where a plan reads a table sequentially, the columns in its filter and sort are the
candidates. With HypoPG, each candidate becomes a hypothetical index and the statement is planned
again; a candidate that cuts the planner's cost by at least half is suggested. Without HypoPG the
statements that scan are listed; without pg_stat_statements, the tables read mostly by sequential
scans are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from leadflow.maintenance.report_pg import pg_stat_statements_state

TOP_STATEMENTS = 20
MIN_IMPROVEMENT = 0.5
SEQ_SCAN_MIN_ROWS = 10_000
_STATEMENT = "leadflow_suggest"
_PARAM = re.compile(r"\$(\d+)")


class IndexSuggestion(BaseModel):
    table: str
    columns: list[str]
    statement: str | None  # CREATE INDEX … to run by hand (None for a table-level hint)
    source: Literal["hypopg", "pg_stat_statements", "seq_scans"]
    query: str | None = None
    cost_before: float | None = None
    cost_after: float | None = None
    improvement: float | None = None  # share of the planner cost saved
    detail: str


class Suggestions(BaseModel):
    method: Literal["hypopg", "pg_stat_statements", "seq_scans", "none"]
    note: str | None = None
    items: list[IndexSuggestion]


async def suggest_indexes(
    conn: AsyncConnection, *, create_extensions: bool, seq_scan_min_rows: int = SEQ_SCAN_MIN_ROWS
) -> Suggestions:
    """Suggestions for the database behind `conn` (SQLite: none)."""
    if conn.dialect.name != "postgresql":
        return Suggestions(method="none", note="index suggestions need PostgreSQL", items=[])
    if create_extensions:
        await _try_create(conn, "pg_stat_statements", only_if_preloaded=True)
    reason = await pg_stat_statements_state(conn)
    if reason is not None:
        scans = await _seq_scan_tables(conn, seq_scan_min_rows)
        return Suggestions(method="seq_scans", note=reason, items=scans)
    if create_extensions:
        await _try_create(conn, "hypopg", only_if_preloaded=False)
    hypopg = await conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'hypopg'"))
    has_hypopg = hypopg.first() is not None
    statements = await _top_statements(conn)
    tables = await _table_columns(conn)
    items: list[IndexSuggestion] = []
    await conn.execute(text("SET plan_cache_mode = force_generic_plan"))
    try:
        for query in statements:
            found = await _suggest_for(conn, query, tables, hypopg=has_hypopg)
            items.extend(s for s in found if _new(s, items))
    finally:
        await conn.execute(text("RESET plan_cache_mode"))
        if has_hypopg:
            await conn.execute(text("SELECT hypopg_reset()"))
    if has_hypopg:
        return Suggestions(method="hypopg", items=items)
    note = "HypoPG is not installed: statements that scan are listed without a tested index"
    return Suggestions(method="pg_stat_statements", note=note, items=items)


def _new(item: IndexSuggestion, items: list[IndexSuggestion]) -> bool:
    return all((i.table, i.columns) != (item.table, item.columns) for i in items)


async def _try_create(conn: AsyncConnection, name: str, *, only_if_preloaded: bool) -> None:
    available = (
        await conn.execute(
            text("SELECT 1 FROM pg_available_extensions WHERE name = :name"), {"name": name}
        )
    ).first()
    if available is None:
        return
    if only_if_preloaded:
        loaded = await conn.execute(text("SELECT current_setting('shared_preload_libraries')"))
        if name not in str(loaded.scalar_one()):
            return
    try:
        async with conn.begin_nested():
            await conn.execute(text(f"CREATE EXTENSION IF NOT EXISTS {name}"))
    except Exception:  # noqa: S110 - no right to create it: the report says it is missing
        pass


async def _top_statements(conn: AsyncConnection) -> list[str]:
    rows = await conn.execute(
        text(
            "SELECT query FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
            "WHERE d.datname = current_database() "
            "AND query ~* '^\\s*(select|with|update|delete)\\s' "
            "AND query !~* '(pg_catalog|pg_stat|information_schema|hypopg|pg_class)' "
            "ORDER BY total_exec_time DESC LIMIT :limit"
        ),
        {"limit": TOP_STATEMENTS},
    )
    return [str(q) for q in rows.scalars()]


async def _table_columns(conn: AsyncConnection) -> dict[str, list[str]]:
    rows = await conn.execute(
        text(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
        )
    )
    tables: dict[str, list[str]] = {}
    for table, column in rows.all():
        tables.setdefault(str(table), []).append(str(column))
    return tables


async def _generic_cost(conn: AsyncConnection, query: str) -> tuple[float, dict[str, Any]] | None:
    """The statement's generic plan and its total cost, or None when it cannot be planned."""
    params = max((int(n) for n in _PARAM.findall(query)), default=0)
    args = f"({', '.join(['NULL'] * params)})" if params else ""
    try:
        async with conn.begin_nested():
            await conn.execute(text(f"PREPARE {_STATEMENT} AS {query}"))
            try:
                raw = await conn.execute(text(f"EXPLAIN (FORMAT JSON) EXECUTE {_STATEMENT}{args}"))
                plan = raw.scalar_one()
            finally:
                await conn.execute(text(f"DEALLOCATE {_STATEMENT}"))
    except Exception:
        return None
    document = json.loads(plan) if isinstance(plan, str) else plan
    root: dict[str, Any] = document[0]["Plan"]
    return float(root["Total Cost"]), root


def _nodes(plan: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Every plan node with its parent."""
    stack: list[tuple[dict[str, Any], dict[str, Any] | None]] = [(plan, None)]
    while stack:
        node, parent = stack.pop()
        yield node, parent
        stack.extend((child, node) for child in node.get("Plans", []))


def candidates(plan: dict[str, Any], tables: dict[str, list[str]]) -> list[tuple[str, list[str]]]:
    """(table, columns) worth an index: filter columns of sequential scans, then their sort."""
    found: list[tuple[str, list[str]]] = []
    for node, parent in _nodes(plan):
        table = node.get("Relation Name")
        if node.get("Node Type") != "Seq Scan" or table not in tables:
            continue
        filtered = _mentioned(str(node.get("Filter", "")), tables[table])
        sort_keys: list[str] = []
        if parent is not None and parent.get("Node Type") in ("Sort", "Incremental Sort"):
            sort_keys = _mentioned(" ".join(parent.get("Sort Key", [])), tables[table])
        options = [[c] for c in filtered]
        if len(filtered) > 1:
            options.append(filtered)
        if sort_keys:
            options.append(filtered + [k for k in sort_keys if k not in filtered])
        for columns in options:
            if columns and (table, columns) not in found:
                found.append((table, columns))
    return found


def _mentioned(expression: str, columns: list[str]) -> list[str]:
    """Columns named in a plan expression, in the order they first appear."""
    positions = []
    for column in columns:
        match = re.search(rf"(?<![\w.]){re.escape(column)}\b|\.{re.escape(column)}\b", expression)
        if match:
            positions.append((match.start(), column))
    return [column for _, column in sorted(positions)]


async def _suggest_for(
    conn: AsyncConnection, query: str, tables: dict[str, list[str]], *, hypopg: bool
) -> list[IndexSuggestion]:
    planned = await _generic_cost(conn, query)
    if planned is None:
        return []
    before, plan = planned
    shown = " ".join(query.split())[:300]
    options = candidates(plan, tables)
    if not hypopg:
        return [
            IndexSuggestion(
                table=table,
                columns=columns,
                statement=_create(table, columns),
                source="pg_stat_statements",
                query=shown,
                cost_before=before,
                detail="the generic plan reads the table sequentially",
            )
            for table, columns in options[:1]
        ]
    best: IndexSuggestion | None = None
    for table, columns in options:
        await conn.execute(
            text("SELECT * FROM hypopg_create_index(:ddl)"),
            {"ddl": f"CREATE INDEX ON {table} ({', '.join(columns)})"},
        )
        after = await _generic_cost(conn, query)
        await conn.execute(text("SELECT hypopg_reset()"))
        if after is None or before <= 0:
            continue
        improvement = 1 - after[0] / before
        if improvement >= MIN_IMPROVEMENT and (best is None or after[0] < (best.cost_after or 0)):
            best = IndexSuggestion(
                table=table,
                columns=columns,
                statement=_create(table, columns),
                source="hypopg",
                query=shown,
                cost_before=round(before, 2),
                cost_after=round(after[0], 2),
                improvement=round(improvement, 4),
                detail=f"HypoPG: planner cost {before:,.0f} → {after[0]:,.0f}",
            )
    return [best] if best is not None else []


def _create(table: str, columns: list[str]) -> str:
    return f"CREATE INDEX CONCURRENTLY ON {table} ({', '.join(columns)})"


async def _seq_scan_tables(conn: AsyncConnection, min_rows: int) -> list[IndexSuggestion]:
    rows = await conn.execute(
        text(
            "SELECT relname, seq_scan, coalesce(idx_scan, 0), seq_tup_read, n_live_tup "
            "FROM pg_stat_user_tables WHERE schemaname = current_schema() "
            "AND seq_scan > coalesce(idx_scan, 0) AND n_live_tup >= :min_rows "
            "ORDER BY seq_tup_read DESC"
        ),
        {"min_rows": min_rows},
    )
    return [
        IndexSuggestion(
            table=str(table),
            columns=[],
            statement=None,
            source="seq_scans",
            detail=(
                f"{seq:,} sequential scans ({read // max(seq, 1):,} rows each on average) "
                f"against {idx:,} index scans over {live:,} rows; enable pg_stat_statements "
                "to see which statements scan"
            ),
        )
        for table, seq, idx, read, live in rows.all()
    ]
