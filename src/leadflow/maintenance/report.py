"""The database report as data: pydantic models whose JSON keys are stable (`db stats --json`).

PostgreSQL reports sizes, rows, scans, dead rows, (auto)vacuum/analyze times, cache-hit ratios,
connections and slow queries; SQLite a reduced form (size, rows, indexes, whether analysed).
Fields PostgreSQL-only are null on SQLite. The keys are documented in docs/maintenance.md.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

SLOW_QUERY_MS = 20.0
SLOW_QUERY_LIMIT = 10


class TableStats(BaseModel):
    name: str
    rows: int = Field(description="Estimated live rows (PostgreSQL), counted rows (SQLite).")
    table_bytes: int | None = None
    index_bytes: int | None = None
    total_bytes: int | None = None
    seq_scans: int | None = None
    seq_rows_read: int | None = None
    index_scans: int | None = None
    dead_rows: int | None = None
    dead_ratio: float | None = None
    last_vacuum: datetime | None = None
    last_autovacuum: datetime | None = None
    last_analyze: datetime | None = None
    last_autoanalyze: datetime | None = None
    analyzed: bool | None = Field(None, description="SQLite: sqlite_stat1 has rows for it.")
    heap_hit_ratio: float | None = None
    index_hit_ratio: float | None = None


class IndexStats(BaseModel):
    table: str
    name: str
    columns: list[str]
    unique: bool
    primary: bool
    valid: bool
    partial: bool = False
    bytes: int | None = None
    scans: int | None = None


class CacheStats(BaseModel):
    heap_hit_ratio: float | None
    index_hit_ratio: float | None


class Connections(BaseModel):
    total: int
    active: int
    idle: int
    idle_in_transaction: int
    max_connections: int
    by_application: dict[str, int]


class SlowQuery(BaseModel):
    query: str
    calls: int
    mean_ms: float
    total_ms: float
    rows: int


class SlowQueries(BaseModel):
    available: bool
    reason: str | None = Field(None, description="Why the list is unavailable.")
    threshold_ms: float = SLOW_QUERY_MS
    queries: list[SlowQuery] = Field(default_factory=list)


class DatabaseReport(BaseModel):
    dialect: str
    server_version: str
    database: str
    size_bytes: int
    stats_since: datetime | None = Field(
        None,
        description="When PostgreSQL's scan counters were last reset (scan counts cover "
        "only the time since).",
    )
    tables: list[TableStats]
    indexes: list[IndexStats]
    cache: CacheStats | None = None
    connections: Connections | None = None
    slow_queries: SlowQueries | None = None


def ratio(hit: int | None, read: int | None) -> float | None:
    """hit / (hit + read), or None before any block was touched."""
    total = (hit or 0) + (read or 0)
    return round((hit or 0) / total, 4) if total else None
