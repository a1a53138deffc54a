"""Rich tables for `db stats` and `db optimize` on a terminal (`--json` prints the models)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from rich.console import Console
from rich.table import Table

from leadflow.maintenance.optimize import OptimizeResult
from leadflow.maintenance.report import DatabaseReport


def size(value: int | None) -> str:
    """Bytes for people: 1.2 MB, 340 kB."""
    if value is None:
        return "–"
    amount = float(value)
    for unit in ("B", "kB", "MB", "GB"):
        if amount < 1024 or unit == "GB":
            return f"{amount:,.0f} {unit}" if unit == "B" else f"{amount:,.1f} {unit}"
        amount /= 1024
    return f"{amount:,.1f} TB"


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "never"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.2f} %"


def _table(title: str, columns: Iterable[str]) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def render_report(console: Console, report: DatabaseReport) -> None:
    console.print(
        f"[bold]{report.dialect}[/bold] {report.server_version} · database {report.database} "
        f"· {size(report.size_bytes)}"
    )
    postgres = report.dialect == "postgresql"
    if postgres:
        columns = ["table", "rows", "table", "indexes", "seq scans", "index scans", "dead"]
        columns += ["last vacuum (auto)", "last analyze (auto)", "heap hit", "index hit"]
    else:
        columns = ["table", "rows", "analysed"]
    tables = _table("Tables", columns)
    for t in report.tables:
        if not postgres:
            tables.add_row(t.name, f"{t.rows:,}", "yes" if t.analyzed else "no")
            continue
        tables.add_row(
            t.name,
            f"{t.rows:,}",
            size(t.table_bytes),
            size(t.index_bytes),
            f"{t.seq_scans or 0:,}",
            f"{t.index_scans or 0:,}",
            f"{t.dead_rows or 0:,} ({_pct(t.dead_ratio)})",
            f"{_when(t.last_vacuum)} ({_when(t.last_autovacuum)})",
            f"{_when(t.last_analyze)} ({_when(t.last_autoanalyze)})",
            _pct(t.heap_hit_ratio),
            _pct(t.index_hit_ratio),
        )
    console.print(tables)
    indexes = _table("Indexes", ["table", "index", "columns", "size", "scans", "valid"])
    for i in report.indexes:
        scans = "–" if i.scans is None else f"{i.scans:,}"
        kind = " (pk)" if i.primary else " (unique)" if i.unique else ""
        indexes.add_row(
            i.table, i.name + kind, ", ".join(i.columns), size(i.bytes), scans, str(i.valid).lower()
        )
    console.print(indexes)
    if report.cache is not None:
        console.print(
            f"Cache hit ratio: heap {_pct(report.cache.heap_hit_ratio)}, "
            f"indexes {_pct(report.cache.index_hit_ratio)}"
            + (f" (since {_when(report.stats_since)})" if report.stats_since else "")
        )
    if report.connections is not None:
        c = report.connections
        apps = ", ".join(f"{name} {n}" for name, n in c.by_application.items())
        console.print(
            f"Connections: {c.total} of {c.max_connections} ({c.active} active, {c.idle} idle, "
            f"{c.idle_in_transaction} idle in transaction) — {apps}"
        )
    _render_slow(console, report)


def _render_slow(console: Console, report: DatabaseReport) -> None:
    slow = report.slow_queries
    if slow is None:
        return
    if not slow.available:
        console.print(f"Slow queries: unavailable ({slow.reason})")
        return
    if not slow.queries:
        console.print(f"Slow queries: none with a mean of {slow.threshold_ms:g} ms or more")
        return
    table = _table(f"Slow queries (mean ≥ {slow.threshold_ms:g} ms)", ["mean", "calls", "query"])
    for q in slow.queries:
        table.add_row(f"{q.mean_ms:,.1f} ms", f"{q.calls:,}", q.query)
    console.print(table)


def render_optimize(console: Console, result: OptimizeResult) -> None:
    mode = "dry run: nothing changed" if result.dry_run else "changes applied"
    console.print(f"[bold]leadflow db optimize[/bold] ({mode}, {result.seconds:.1f} s)")
    findings = _table("Index audit", ["finding", "table", "index", "detail", "action"])
    for f in result.indexes:
        action = f.action or "reported"
        if f.error:
            action += f": {f.error}"
        findings.add_row(f.kind, f.table, f.index, f.detail, action)
    if result.indexes:
        console.print(findings)
    else:
        console.print("Index audit: every declared index exists and is valid; nothing to report")
    retention = _table("Retention (by age)", ["rule", "older than", "status", "rows", "note"])
    for r in result.retention:
        older = f"{r.older_than_days} days" if r.older_than_days else "–"
        retention.add_row(r.rule, older, r.status, f"{r.rows:,}", r.note or "")
    if result.retention:
        console.print(retention)
    maintenance = _table("Maintenance", ["table", "dead rows", "action", "seconds"])
    for m in result.maintenance:
        dead = "–" if m.dead_rows is None else f"{m.dead_rows:,} ({_pct(m.dead_ratio)})"
        seconds = "–" if m.seconds is None else f"{m.seconds:.2f}"
        maintenance.add_row(m.table, dead, m.action, seconds)
    console.print(maintenance)
    s = result.suggestions
    suggestions = _table(f"Index suggestions ({s.method})", ["table", "suggestion", "why"])
    for item in s.items:
        suggestions.add_row(item.table, item.statement or "(look at its queries)", item.detail)
    if s.items:
        console.print(suggestions)
    console.print(
        f"Index suggestions ({s.method}): {len(s.items)}" + (f" — {s.note}" if s.note else "")
    )
    for error in result.errors:
        console.print(f"[red]{error}[/red]")
    if result.report is not None:
        render_report(console, result.report)
