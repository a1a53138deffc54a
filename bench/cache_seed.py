"""Synthetic data for the cache benchmarks: the rows the cached endpoints read, at a given scale.

Reference scale as issue #10 defines it for customers (20,000), leads (100,000), threads
(200,000) and bookings (100,000) — with skew: a few customers hold many threads, most unmatched
threads are recent, leads spread over two years. Email messages are NOT seeded: neither the
dashboard stats nor the first pages of the lists read them (the 360 view reads none either).
This stands in for `leadflow db seed --scale reference` (issue #10), which was not on main when
these benchmarks ran. Rows go in through the real tables (multi-row inserts), then ANALYZE.

    uv run python -m bench.cache_seed --database-url postgresql://postgres@127.0.0.1/db
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection

from leadflow.db import create_engine
from leadflow.migrations import run_upgrade
from leadflow.models import Booking, Customer, EmailIngestRun, EmailThread, Lead, Mailbox
from leadflow.settings import Settings

SCALES = {
    "reference": {"customers": 20_000, "leads": 100_000, "threads": 200_000, "bookings": 100_000},
    "small": {"customers": 1_000, "leads": 5_000, "threads": 10_000, "bookings": 5_000},
}
SOURCES = ["rengoring_nu", "leadpoint", "adhelp", "website"]
STATUSES = ["new"] * 3 + ["contacted"] * 2 + ["quoted"] * 2 + ["won"] * 2 + ["lost", "spam"]
TEAMS = 20
CHUNK = 5_000


def _skewed_customer(rng: random.Random, customers: int) -> int:
    # A few customers get most of the traffic (Pareto-like): ids near 1 are picked far more often.
    return min(int(rng.paretovariate(1.2)), customers)


async def _insert(conn: AsyncConnection, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        await conn.execute(insert(table), rows[start : start + CHUNK])


async def seed(database_url: str, *, scale: str, seed: int = 1) -> dict[str, int]:
    """Build the schema and fill it; the row counts."""
    sizes = SCALES[scale]
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    two_years = 730 * 86_400
    settings = Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]
    engine = create_engine(settings, application_name="leadflow-bench-seed")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(run_upgrade)
        async with engine.begin() as conn:
            await _insert(conn, Mailbox, [{"email": "info@rendetalje.dk", "provider": "gmail"}])
            n_customers = sizes["customers"]
            await _insert(
                conn,
                Customer,
                [
                    {
                        "name": f"Kunde {n}",
                        "email": f"kunde{n}@example.dk",
                        "status": "active" if rng.random() < 0.9 else "inactive",
                        "tags": [],
                        "city": rng.choice(["Aarhus", "Odense", "Aalborg", "Vejle"]),
                    }
                    for n in range(1, n_customers + 1)
                ],
            )
            await _insert(
                conn,
                Lead,
                [
                    {
                        "customer_id": _skewed_customer(rng, n_customers),
                        "source": rng.choice(SOURCES),
                        "name": f"Lead {n}",
                        "email": f"lead{n}@example.dk",
                        "status": rng.choice(STATUSES),
                        "mailbox_id": 1,
                        "received_at": now - timedelta(seconds=rng.randrange(two_years)),
                    }
                    for n in range(1, sizes["leads"] + 1)
                ],
            )
            threads = []
            for n in range(1, sizes["threads"] + 1):
                matched = rng.random() < 0.7
                # Unmatched threads are mostly recent; matched ones spread over two years.
                age = rng.randrange(two_years if matched else 60 * 86_400)
                threads.append(
                    {
                        "mailbox_id": 1,
                        "gmail_thread_id": f"t{n:08x}",
                        "customer_id": _skewed_customer(rng, n_customers) if matched else None,
                        "subject": f"Rengøring {n}",
                        "participants": [f"kunde{n % n_customers}@example.dk"],
                        "labels": ["INBOX"],
                        "message_count": 1 + int(rng.expovariate(0.5)),
                        "last_message_at": now - timedelta(seconds=age),
                        "is_matched": matched,
                        "matched_by": "exact_email" if matched else None,
                    }
                )
            await _insert(conn, EmailThread, threads)
            per_team = sizes["bookings"] // TEAMS
            start0 = now - timedelta(days=int(per_team * 4 / 24 * 0.85))
            bookings = []
            for team in range(TEAMS):
                for slot in range(per_team):
                    start = start0 + timedelta(hours=4 * slot)
                    status = "completed" if start < now else rng.choice(["scheduled", "confirmed"])
                    if rng.random() < 0.05:
                        status = "cancelled"
                    bookings.append(
                        {
                            "customer_id": _skewed_customer(rng, n_customers),
                            "team": f"team{team}",
                            "start_time": start,
                            "end_time": start + timedelta(hours=3),
                            "status": status,
                        }
                    )
            await _insert(conn, Booking, bookings)
            await _insert(
                conn,
                EmailIngestRun,
                [
                    {
                        "mailbox_id": 1,
                        "mode": "incremental",
                        "status": "completed",
                        "started_at": now - timedelta(minutes=m),
                        "finished_at": now - timedelta(minutes=m) + timedelta(seconds=4),
                        "error_log": [],
                    }
                    for m in range(50, 0, -1)
                ],
            )
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    finally:
        await engine.dispose()
    return {**sizes, "messages": 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--scale", choices=sorted(SCALES), default="reference")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.monotonic()
    counts = asyncio.run(seed(args.database_url, scale=args.scale, seed=args.seed))
    print(f"seeded {counts} in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
