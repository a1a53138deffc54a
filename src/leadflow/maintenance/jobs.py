"""One-shot jobs the CLI runs; each owns its engine and its transaction."""

from __future__ import annotations

from collections import Counter

from leadflow.cache.invalidation import MATCH_TAGS, RESCAN_TAGS, invalidate_from_cli
from leadflow.db import create_engine, create_sessionmaker, transaction
from leadflow.leads.rescan import RescanReport, rescan_leads
from leadflow.matching.schemas import MatchReport
from leadflow.matching.service import match_threads
from leadflow.settings import Settings


async def run_matching(settings: Settings, *, all_threads: bool) -> MatchReport:
    """Match threads to customers in one transaction (counters move with the matches)."""
    engine = create_engine(settings, application_name="leadflow-match")
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            report = await match_threads(session, settings=settings, only_unmatched=not all_threads)
    finally:
        await engine.dispose()
    await invalidate_from_cli(settings, MATCH_TAGS, role="match")
    return report


MAX_LISTED_CHANGES = 50


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counter.items())) or "none"


def rescan_summary(report: RescanReport) -> list[str]:
    """The lines `leadflow leads rescan` prints: totals, then each changed lead."""
    lines = [
        f"examined {report.examined} messages without a lead: {report.leads_created} leads, "
        f"{report.customers_created} new customers",
        f"re-parsed {report.leads_reparsed} leads: {report.leads_changed} changed "
        f"(filled: {_counts(report.fields_filled)}; corrected: "
        f"{_counts(report.fields_corrected)}); kept a person's edit: "
        f"{_counts(report.edits_kept)}; no longer read as a lead: {report.no_longer_leads}",
        f"linked {report.customers_linked} leads to customers, marked "
        f"{report.duplicates_marked} duplicates, {report.threads_rematched} threads re-matched",
    ]
    for change in report.changes[:MAX_LISTED_CHANGES]:
        parts = [f"filled {', '.join(change.filled)}"] if change.filled else []
        parts += [f"corrected {', '.join(change.corrected)}"] if change.corrected else []
        lines.append(f"  lead {change.lead_id}: {'; '.join(parts)}")
    if len(report.changes) > MAX_LISTED_CHANGES:
        lines.append(f"  … and {len(report.changes) - MAX_LISTED_CHANGES} more leads")
    return lines


async def run_lead_rescan(settings: Settings) -> RescanReport:
    """Create leads stored mail lacks and repair stored ones (batches commit one by one)."""
    engine = create_engine(settings, application_name="leadflow-leads")
    try:
        report = await rescan_leads(create_sessionmaker(engine), settings)
    finally:
        await engine.dispose()
    await invalidate_from_cli(settings, RESCAN_TAGS, role="leads-rescan")
    return report
