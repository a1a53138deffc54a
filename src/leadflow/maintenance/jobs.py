"""One-shot jobs the CLI runs; each owns its engine and its transaction."""

from __future__ import annotations

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


async def run_lead_rescan(settings: Settings) -> RescanReport:
    """Create leads from stored mail that has none yet (batches commit one by one)."""
    engine = create_engine(settings, application_name="leadflow-leads")
    try:
        report = await rescan_leads(create_sessionmaker(engine), settings)
    finally:
        await engine.dispose()
    await invalidate_from_cli(settings, RESCAN_TAGS, role="leads-rescan")
    return report
