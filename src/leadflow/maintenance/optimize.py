"""`leadflow db optimize`: index audit, retention, table maintenance, suggestions and report.

Order matters: missing indexes first (retention's deletes use them), then retention (which makes
dead rows), then VACUUM/ANALYZE (which clears them and refreshes statistics), then the
suggestions (planned on fresh statistics) and the report. Each step opens its own connections and
transactions; a step that fails is reported and the others still run. Running it twice changes
nothing the second time: indexes exist, old rows are gone, only the statistics are renewed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine

from leadflow.db import create_engine
from leadflow.maintenance.optimize_index_fix import apply_findings
from leadflow.maintenance.optimize_indexes import (
    UNUSED_MIN_BYTES,
    IndexFinding,
    actual_indexes,
    audit,
    declared_indexes,
)
from leadflow.maintenance.optimize_suggest import Suggestions, suggest_indexes
from leadflow.maintenance.optimize_vacuum import TableMaintenance, maintain_tables
from leadflow.maintenance.report import DatabaseReport
from leadflow.maintenance.retention import RetentionResult, apply_retention
from leadflow.maintenance.stats import collect_report
from leadflow.models import Base, utcnow
from leadflow.settings import Settings


@dataclass(frozen=True)
class OptimizeOptions:
    dry_run: bool = False
    cleanup: bool = True
    drop_unused: bool = False
    unused_min_bytes: int = UNUSED_MIN_BYTES
    now: datetime | None = None


class OptimizeResult(BaseModel):
    dialect: str
    dry_run: bool
    started_at: datetime
    seconds: float
    indexes: list[IndexFinding]
    retention: list[RetentionResult]
    maintenance: list[TableMaintenance]
    suggestions: Suggestions
    report: DatabaseReport | None  # None when the report itself failed (see errors)
    errors: list[str]


async def optimize_database(settings: Settings, options: OptimizeOptions) -> OptimizeResult:
    """Run every step on the configured database and return what each found and did."""
    engine = create_engine(settings, application_name="leadflow-optimize")
    try:
        async with engine.connect():
            pass  # an unreachable database is one error, not one per step
        return await run_optimize(engine, settings, options)
    finally:
        await engine.dispose()


async def run_optimize(
    engine: AsyncEngine, settings: Settings, options: OptimizeOptions
) -> OptimizeResult:
    started, clock = utcnow(), time.monotonic()
    errors: list[str] = []
    findings: list[IndexFinding] = []
    try:
        findings = await _indexes(engine, options)
    except Exception as exc:
        errors.append(_error("index audit", exc))
    retention: list[RetentionResult] = []
    if options.cleanup:
        try:
            retention = await apply_retention(
                engine, settings, now=options.now or started, dry_run=options.dry_run
            )
        except Exception as exc:
            errors.append(_error("retention", exc))
    maintenance: list[TableMaintenance] = []
    try:
        maintenance = await maintain_tables(
            engine, dead_ratio=settings.maintenance_vacuum_dead_ratio, dry_run=options.dry_run
        )
    except Exception as exc:
        errors.append(_error("maintenance", exc))
    suggestions = Suggestions(method="none", note="not run", items=[])
    try:
        suggestions = await _suggestions(engine, dry_run=options.dry_run)
    except Exception as exc:
        errors.append(_error("index suggestions", exc))
    report: DatabaseReport | None = None
    try:
        async with engine.connect() as conn:
            report = await collect_report(conn)
    except Exception as exc:
        errors.append(_error("report", exc))
    return OptimizeResult(
        dialect=engine.dialect.name,
        dry_run=options.dry_run,
        started_at=started,
        seconds=round(time.monotonic() - clock, 3),
        indexes=findings,
        retention=retention,
        maintenance=maintenance,
        suggestions=suggestions,
        report=report,
        errors=errors,
    )


async def _indexes(engine: AsyncEngine, options: OptimizeOptions) -> list[IndexFinding]:
    declared = declared_indexes(Base.metadata, engine.dialect.name)
    async with engine.connect() as conn:
        actual = await actual_indexes(conn)
    findings = audit(declared, actual, unused_min_bytes=options.unused_min_bytes)
    await apply_findings(
        engine, findings, declared, drop_unused=options.drop_unused, dry_run=options.dry_run
    )
    return findings


async def _suggestions(engine: AsyncEngine, *, dry_run: bool) -> Suggestions:
    async with engine.connect() as conn:
        result = await suggest_indexes(conn, create_extensions=not dry_run)
        # The only lasting change a suggestion run may make is creating the extensions.
        await (conn.rollback() if dry_run else conn.commit())
    return result


def _error(step: str, exc: Exception) -> str:
    return f"{step} failed: {type(exc).__name__}: {' '.join(str(exc).split())[:500]}"
