"""Issue #12, lead response time: what keeping first_response_at true costs.

    uv run python -m bench.response_times [--scale small] [--rounds 5]

Seeds `leadflow_bench_response` on PostgreSQL (postgres@127.0.0.1, trust) with `db seed`, then
times, each a median of `--rounds` (every round rolled back, so each starts from the same data):

- `refresh_all`: recomputing every lead (what a backfill does), and its rate per lead;
- `added_200`: what one sync batch of new mail adds: `add_replies` over 200 outbound messages
  (the newest, and a random 200): the leads they may answer found, each kept at the earlier of
  its answer and theirs;
- `recompute_200`: what deleting (or moving) 200 outbound messages costs:
  `refresh_for_messages`, every touched lead recomputed from all its mail;
- `awaiting_page` and `dashboard_response_times`: the list and the dashboard figures.

Prints one JSON object; the database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.db_reference import Steps, admin, bench_settings
from leadflow.dashboard.service import response_time_stats
from leadflow.db import create_engine, create_sessionmaker
from leadflow.leads import service as lead_service
from leadflow.leads.responses import (
    add_replies,
    facts_of_messages,
    refresh_for_messages,
    refresh_leads,
)
from leadflow.maintenance.seed import seed_database
from leadflow.maintenance.seed_plan import SCALES, SeedPlan, anchor_for
from leadflow.models import Direction, EmailMessage, Lead, utcnow

NAME = "response"


async def _median(
    sessionmaker: async_sessionmaker[AsyncSession],
    rounds: int,
    work: Callable[[AsyncSession], Awaitable[Any]],
) -> float:
    times = []
    for _ in range(rounds):
        async with sessionmaker() as session:
            started = time.perf_counter()
            await work(session)
            times.append(time.perf_counter() - started)
            await session.rollback()
    return round(statistics.median(times) * 1000, 1)


async def run(scale: str, rounds: int) -> dict[str, Any]:
    settings = bench_settings(NAME)
    await admin(f"DROP DATABASE IF EXISTS leadflow_bench_{NAME} WITH (FORCE)")
    await admin(f"CREATE DATABASE leadflow_bench_{NAME}")
    try:
        plan = SeedPlan(scale=SCALES[scale], seed=1, anchor=anchor_for(None))
        await seed_database(settings, plan, force=False, progress=Steps())
        engine = create_engine(settings, application_name="bench-response-times")
        sessionmaker = create_sessionmaker(engine)
        try:
            return await _measure(sessionmaker, rounds, scale)
        finally:
            await engine.dispose()
    finally:
        await admin(f"DROP DATABASE IF EXISTS leadflow_bench_{NAME} WITH (FORCE)")


async def _measure(
    sessionmaker: async_sessionmaker[AsyncSession], rounds: int, scale: str
) -> dict[str, Any]:
    async with sessionmaker() as session:
        lead_ids = list((await session.execute(select(Lead.id))).scalars())
        outbound = list(
            (
                await session.execute(
                    select(EmailMessage.id)
                    .where(EmailMessage.direction == Direction.OUTBOUND)
                    .order_by(EmailMessage.sent_at.desc())
                )
            ).scalars()
        )
        messages = (await session.execute(select(func.count(EmailMessage.id)))).scalar_one()
    newest, sample = outbound[:200], random.Random(1).sample(outbound, 200)

    def hook(ids: list[int], *, added: bool) -> Callable[[AsyncSession], Awaitable[Any]]:
        async def work(session: AsyncSession) -> None:
            facts = await facts_of_messages(session, ids)
            if added:
                await add_replies(session, facts)
            else:
                await refresh_for_messages(session, facts)

        return work

    async def refresh_all(session: AsyncSession) -> None:
        await refresh_leads(session, lead_ids)

    async def awaiting(session: AsyncSession) -> None:
        stmt = lead_service.list_query(awaiting_reply=True).limit(50)
        (await session.execute(stmt)).scalars().all()

    async def dashboard(session: AsyncSession) -> None:
        await response_time_stats(
            session, now=utcnow(), tz=ZoneInfo("Europe/Copenhagen"), target_minutes=60
        )

    refresh_ms = await _median(sessionmaker, rounds, refresh_all)
    return {
        "scale": scale,
        "leads": len(lead_ids),
        "messages": messages,
        "outbound": len(outbound),
        "rounds": rounds,
        "refresh_all_ms": refresh_ms,
        "refresh_per_lead_ms": round(refresh_ms / len(lead_ids), 3),
        "added_newest_200_ms": await _median(sessionmaker, rounds, hook(newest, added=True)),
        "added_random_200_ms": await _median(sessionmaker, rounds, hook(sample, added=True)),
        "recompute_newest_200_ms": await _median(sessionmaker, rounds, hook(newest, added=False)),
        "recompute_random_200_ms": await _median(sessionmaker, rounds, hook(sample, added=False)),
        "awaiting_page_ms": await _median(sessionmaker, rounds, awaiting),
        "dashboard_response_times_ms": await _median(sessionmaker, rounds, dashboard),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="small", choices=sorted(SCALES))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.scale, args.rounds)), indent=1))


if __name__ == "__main__":
    main()
