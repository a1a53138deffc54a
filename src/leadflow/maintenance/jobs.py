"""One-shot jobs the CLI runs; each owns its engine and its transaction."""

from __future__ import annotations

from leadflow.db import create_engine, create_sessionmaker, transaction
from leadflow.leads.ingest import refresh_customer_counters
from leadflow.matching.schemas import MatchReport
from leadflow.matching.service import match_threads
from leadflow.settings import Settings


async def run_matching(settings: Settings, *, all_threads: bool) -> MatchReport:
    """Match threads to customers in one transaction and keep customer counters true."""
    engine = create_engine(settings, application_name="leadflow-match")
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            report = await match_threads(session, settings=settings, only_unmatched=not all_threads)
            await refresh_customer_counters(session, None)
            return report
    finally:
        await engine.dispose()
