"""The PostgreSQL side of the database report: catalog and statistics views, read-only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from leadflow.maintenance.report import (
    SLOW_QUERY_LIMIT,
    SLOW_QUERY_MS,
    CacheStats,
    Connections,
    DatabaseReport,
    IndexStats,
    SlowQueries,
    SlowQuery,
    TableStats,
    ratio,
)

_TABLES = text(
    """
    SELECT c.relname AS name, c.reltuples::bigint AS reltuples, s.n_live_tup,
           pg_table_size(c.oid) AS table_bytes, pg_indexes_size(c.oid) AS index_bytes,
           pg_total_relation_size(c.oid) AS total_bytes,
           s.seq_scan, s.seq_tup_read, s.idx_scan, s.n_dead_tup,
           s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze,
           io.heap_blks_hit, io.heap_blks_read, io.idx_blks_hit, io.idx_blks_read
    FROM pg_class c
    JOIN pg_stat_user_tables s ON s.relid = c.oid
    JOIN pg_statio_user_tables io ON io.relid = c.oid
    WHERE c.relnamespace = current_schema()::regnamespace
    ORDER BY pg_total_relation_size(c.oid) DESC, c.relname
    """
)

# Index columns by name (an expression as its definition), with DESC and a NULLS placement
# that is not the direction's default (indoption: bit 1 DESC, bit 2 NULLS FIRST).
INDEX_CATALOG = text(
    """
    SELECT t.relname AS table, i.relname AS name, x.indisunique AS unique,
           x.indisprimary AS primary, x.indisvalid AS valid, am.amname AS method,
           pg_get_expr(x.indpred, x.indrelid) AS predicate,
           con.conname AS constraint_name, con.contype AS constraint_type,
           pg_relation_size(i.oid) AS bytes, s.idx_scan AS scans,
           ARRAY(
               SELECT pg_get_indexdef(x.indexrelid, k.ord::int, true)
                      || CASE WHEN x.indoption[k.ord - 1] & 1 = 1 THEN ' DESC' ELSE '' END
                      || CASE x.indoption[k.ord - 1] & 3
                             WHEN 1 THEN ' NULLS LAST' WHEN 2 THEN ' NULLS FIRST' ELSE '' END
               FROM unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord)
               WHERE k.ord <= x.indnkeyatts
               ORDER BY k.ord
           ) AS columns,
           pg_get_indexdef(x.indexrelid) AS definition
    FROM pg_index x
    JOIN pg_class i ON i.oid = x.indexrelid
    JOIN pg_class t ON t.oid = x.indrelid
    JOIN pg_am am ON am.oid = i.relam
    -- The constraint the index implements: a foreign key names the index it references in
    -- conindid too (leads.duplicate_of_id -> pk_leads), which listed pk_leads twice.
    LEFT JOIN pg_constraint con ON con.conindid = x.indexrelid AND con.conrelid = x.indrelid
        AND con.contype IN ('p', 'u', 'x')
    LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = x.indexrelid
    WHERE t.relnamespace = current_schema()::regnamespace AND t.relkind IN ('r', 'p')
    ORDER BY t.relname, i.relname
    """
)


async def collect_postgres_report(conn: AsyncConnection) -> DatabaseReport:
    info = (
        await conn.execute(
            text(
                "SELECT current_database(), current_setting('server_version'), "
                "pg_database_size(current_database()), "
                "(SELECT stats_reset FROM pg_stat_database WHERE datname = current_database())"
            )
        )
    ).one()
    tables, cache = await _tables(conn)
    return DatabaseReport(
        dialect="postgresql",
        server_version=str(info[1]),
        database=str(info[0]),
        size_bytes=int(info[2]),
        stats_since=info[3],
        tables=tables,
        indexes=[_index(row) for row in await index_catalog(conn)],
        cache=cache,
        connections=await _connections(conn),
        slow_queries=await slow_queries(conn),
    )


async def _tables(conn: AsyncConnection) -> tuple[list[TableStats], CacheStats]:
    tables: list[TableStats] = []
    totals = [0, 0, 0, 0]
    for row in (await conn.execute(_TABLES)).mappings():
        rows = int(row["reltuples"]) if row["reltuples"] >= 0 else int(row["n_live_tup"])
        live, dead = int(row["n_live_tup"]), int(row["n_dead_tup"])
        blocks = [row[k] or 0 for k in ("heap_blks_hit", "heap_blks_read", "idx_blks_hit")]
        blocks.append(row["idx_blks_read"] or 0)
        totals = [a + b for a, b in zip(totals, blocks, strict=True)]
        tables.append(
            TableStats(
                name=row["name"],
                rows=rows,
                table_bytes=row["table_bytes"],
                index_bytes=row["index_bytes"],
                total_bytes=row["total_bytes"],
                seq_scans=row["seq_scan"],
                seq_rows_read=row["seq_tup_read"],
                index_scans=row["idx_scan"],
                dead_rows=dead,
                dead_ratio=round(dead / (live + dead), 4) if live + dead else 0.0,
                last_vacuum=row["last_vacuum"],
                last_autovacuum=row["last_autovacuum"],
                last_analyze=row["last_analyze"],
                last_autoanalyze=row["last_autoanalyze"],
                heap_hit_ratio=ratio(blocks[0], blocks[1]),
                index_hit_ratio=ratio(blocks[2], blocks[3]),
            )
        )
    cache = CacheStats(
        heap_hit_ratio=ratio(totals[0], totals[1]), index_hit_ratio=ratio(totals[2], totals[3])
    )
    return tables, cache


async def index_catalog(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Every index on the schema's tables, with columns, validity, size and scans."""
    return [dict(row) for row in (await conn.execute(INDEX_CATALOG)).mappings()]


def _index(row: dict[str, Any]) -> IndexStats:
    return IndexStats(
        table=row["table"],
        name=row["name"],
        columns=list(row["columns"]),
        unique=row["unique"],
        primary=row["primary"],
        valid=row["valid"],
        partial=row["predicate"] is not None,
        bytes=row["bytes"],
        scans=row["scans"],
    )


async def _connections(conn: AsyncConnection) -> Connections:
    rows = (
        await conn.execute(
            text(
                "SELECT coalesce(state, 'unknown') AS state, "
                "coalesce(nullif(application_name, ''), '(none)') AS app, count(*) AS n "
                "FROM pg_stat_activity WHERE datname = current_database() GROUP BY 1, 2"
            )
        )
    ).mappings()
    by_state: dict[str, int] = {}
    by_app: dict[str, int] = {}
    for row in rows:
        by_state[row["state"]] = by_state.get(row["state"], 0) + row["n"]
        by_app[row["app"]] = by_app.get(row["app"], 0) + row["n"]
    limit = (await conn.execute(text("SHOW max_connections"))).scalar_one()
    return Connections(
        total=sum(by_state.values()),
        active=by_state.get("active", 0),
        idle=by_state.get("idle", 0),
        idle_in_transaction=by_state.get("idle in transaction", 0)
        + by_state.get("idle in transaction (aborted)", 0),
        max_connections=int(limit),
        by_application=dict(sorted(by_app.items())),
    )


async def pg_stat_statements_state(conn: AsyncConnection) -> str | None:
    """None when pg_stat_statements can be read here, else the reason it cannot."""
    installed = (
        await conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'"))
    ).first()
    loaded = (
        await conn.execute(
            text(
                "SELECT 1 WHERE 'pg_stat_statements' = ANY(string_to_array("
                "replace(current_setting('shared_preload_libraries'), ' ', ''), ','))"
            )
        )
    ).first()
    if loaded is None:
        return "pg_stat_statements is not in shared_preload_libraries"
    if installed is None:
        return "the pg_stat_statements extension is not created in this database"
    return None


async def slow_queries(conn: AsyncConnection) -> SlowQueries:
    """Statements of this database with a mean time of at least SLOW_QUERY_MS."""
    reason = await pg_stat_statements_state(conn)
    if reason is not None:
        return SlowQueries(available=False, reason=reason)
    rows = (
        await conn.execute(
            text(
                "SELECT query, calls, mean_exec_time, total_exec_time, rows "
                "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid "
                "WHERE d.datname = current_database() AND mean_exec_time >= :threshold "
                "ORDER BY total_exec_time DESC LIMIT :limit"
            ),
            {"threshold": SLOW_QUERY_MS, "limit": SLOW_QUERY_LIMIT},
        )
    ).all()
    return SlowQueries(
        available=True,
        queries=[
            SlowQuery(
                query=" ".join(str(q).split())[:500],
                calls=int(calls),
                mean_ms=round(float(mean), 3),
                total_ms=round(float(total), 3),
                rows=int(n),
            )
            for q, calls, mean, total, n in rows
        ],
    )
