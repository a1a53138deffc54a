"""Issue #10 (a): the seed's query shapes at reference scale, with and without their indexes.

    uv run python -m bench.query_shapes [--name ref] [--runs 300] [--runs-unindexed 20]

Against `leadflow_bench_<name>` (seeded by `bench.db_reference seed`): each shape is the
statement the application runs (built by the services' own query functions where one exists),
executed through SQLAlchemy Core on asyncpg with every row fetched, `--runs` times with
parameters drawn from the data (customers with the most threads, random threads, emails,
dates). Then, in the same run, every secondary index of customers, leads, email_threads,
email_messages and bookings is dropped (primary keys and unique constraints stay), the shapes
are timed again (`--runs-unindexed` times) and the indexes are built again. Prints p50/p95 per
shape in both states and their ratio, as seen by the client and inside PostgreSQL (planning +
execution, `EXPLAIN (ANALYZE, TIMING OFF)`), the bare round trip of `SELECT 1`, and the plan's
scan nodes in both states.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.schema import CreateIndex

from bench.db_reference import bench_settings
from leadflow.bookings import service as bookings
from leadflow.db import create_engine
from leadflow.leads import service as leads
from leadflow.mail import service as threads
from leadflow.models import (
    Base,
    Customer,
    EmailMessage,
    Lead,
    LeadStatus,
    indexes_for,
    utcnow,
)

PAGE = 50
TABLES = ("customers", "leads", "email_threads", "email_messages", "bookings")
Shape = Callable[[random.Random, dict[str, list[Any]]], Select[Any]]


def shapes() -> dict[str, Shape]:
    now = utcnow()
    return {
        "threads of one customer, newest first": lambda r, p: threads.list_query(
            customer_id=r.choice(p["busy_customers"])
        ).limit(PAGE),
        "unmatched threads, newest first": lambda r, p: threads.list_query(matched=False).limit(
            PAGE
        ),
        "recent threads": lambda r, p: threads.list_query().limit(PAGE),
        "messages of a thread, in order": lambda r, p: (
            select(EmailMessage)
            .where(EmailMessage.thread_id == r.choice(p["threads"]))
            .order_by(EmailMessage.sent_at.asc().nulls_last(), EmailMessage.id.asc())
        ),
        "messages since a date": lambda r, p: (
            select(EmailMessage)
            .where(EmailMessage.sent_at >= now - timedelta(hours=r.randint(1, 72)))
            .order_by(EmailMessage.sent_at, EmailMessage.id)
            .limit(PAGE)
        ),
        "lead by email": lambda r, p: select(Lead).where(Lead.email == r.choice(p["emails"])),
        "leads by status": lambda r, p: leads.list_query(
            statuses=[r.choice([LeadStatus.NEW, LeadStatus.CONTACTED, LeadStatus.QUOTED])]
        ).limit(PAGE),
        "customer by email": lambda r, p: select(Customer).where(
            Customer.email == r.choice(p["emails"])
        ),
        "bookings of a customer": lambda r, p: bookings.list_query(
            customer_id=r.choice(p["booking_customers"])
        ).limit(PAGE),
        "bookings in a time range": lambda r, p: bookings.list_query(
            ends_after=(start := now + timedelta(days=r.randint(-600, 80))),
            starts_before=start + timedelta(days=7),
        ).limit(PAGE),
    }


async def parameters(conn: AsyncConnection) -> dict[str, list[Any]]:
    async def column(sql: str) -> list[Any]:
        return list((await conn.execute(text(sql))).scalars())

    return {
        "busy_customers": await column(
            "SELECT customer_id FROM email_threads WHERE customer_id IS NOT NULL "
            "GROUP BY 1 ORDER BY count(*) DESC LIMIT 100"
        ),
        "threads": await column("SELECT id FROM email_threads ORDER BY random() LIMIT 1000"),
        "emails": await column("SELECT email FROM customers ORDER BY random() LIMIT 1000"),
        "booking_customers": await column(
            "SELECT customer_id FROM bookings GROUP BY 1 ORDER BY count(*) DESC LIMIT 200"
        ),
    }


async def time_shapes(
    conn: AsyncConnection, params: dict[str, list[Any]], runs: int, seed: int
) -> dict[str, dict[str, float]]:
    result: dict[str, dict[str, float]] = {}
    for name, shape in shapes().items():
        rng = random.Random(f"{seed}:{name}")
        await conn.execute(shape(rng, params))  # warm the plan and the cache once
        samples = []
        for _ in range(runs):
            stmt = shape(rng, params)
            started = time.perf_counter()
            (await conn.execute(stmt)).all()
            samples.append((time.perf_counter() - started) * 1000)
        samples.sort()
        result[name] = {
            "p50_ms": round(statistics.median(samples), 3),
            "p95_ms": round(samples[int(0.95 * (len(samples) - 1))], 3),
            "runs": runs,
        }
    return result


async def server_times(
    conn: AsyncConnection, params: dict[str, list[Any]], runs: int, seed: int
) -> dict[str, dict[str, float]]:
    """Each shape's time inside PostgreSQL (planning + execution, from EXPLAIN ANALYZE with
    TIMING OFF), and the bare round trip of `SELECT 1`: what the client-side figures add on
    top of the query is the round trip (network, process wake-ups on this VM)."""
    result: dict[str, dict[str, float]] = {}
    trips = []
    for _ in range(runs):
        started = time.perf_counter()
        (await conn.execute(text("SELECT 1"))).all()
        trips.append((time.perf_counter() - started) * 1000)
    result["round trip (SELECT 1)"] = _percentiles(trips, runs)
    for name, shape in shapes().items():
        rng = random.Random(f"{seed}:{name}")
        samples = []
        for _ in range(runs):
            compiled = shape(rng, params).compile(
                dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
            )
            explain = text(f"EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) {compiled}")
            document = (await conn.execute(explain)).scalar_one()
            plan = (json.loads(document) if isinstance(document, str) else document)[0]
            samples.append(plan["Planning Time"] + plan["Execution Time"])
        result[name] = _percentiles(samples, runs)
    return result


def _percentiles(samples: list[float], runs: int) -> dict[str, float]:
    samples = sorted(samples)
    return {
        "p50_ms": round(statistics.median(samples), 3),
        "p95_ms": round(samples[int(0.95 * (len(samples) - 1))], 3),
        "runs": runs,
    }


async def plans(conn: AsyncConnection, params: dict[str, list[Any]]) -> dict[str, list[str]]:
    """The scan nodes of each shape's plan (one draw of its parameters)."""
    found: dict[str, list[str]] = {}
    for name, shape in shapes().items():
        stmt = shape(random.Random(0), params)
        compiled = stmt.compile(
            dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
        )
        document = (await conn.execute(text(f"EXPLAIN (FORMAT JSON) {compiled}"))).scalar_one()
        plan = json.loads(document) if isinstance(document, str) else document
        found[name] = scan_nodes(plan[0]["Plan"])
    return found


def scan_nodes(node: dict[str, Any]) -> list[str]:
    """'Index Scan ix_…' / 'Seq Scan table' for every scan in a plan, top down."""
    nodes = []
    if "Scan" in node["Node Type"]:
        nodes.append(f"{node['Node Type']} {node.get('Index Name') or node.get('Relation Name')}")
    for child in node.get("Plans", []):
        nodes.extend(scan_nodes(child))
    return nodes


async def main_async(name: str, runs: int, runs_unindexed: int) -> dict[str, Any]:
    engine = create_engine(bench_settings(name), application_name="leadflow-bench")
    dropped = [
        index
        for table in TABLES
        for index in indexes_for(Base.metadata.tables[table], "postgresql")
    ]
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SET statement_timeout = 0"))
            params = await parameters(conn)
            load = [os.getloadavg()[0]]
            indexed = await time_shapes(conn, params, runs, seed=1)
            in_server = await server_times(conn, params, runs, seed=1)
            shape_plans = await plans(conn, params)
            await conn.commit()
            for index in dropped:
                await conn.execute(text(f'DROP INDEX IF EXISTS "{index.name}"'))
            await conn.commit()
            load.append(os.getloadavg()[0])
            try:
                unindexed = await time_shapes(conn, params, runs_unindexed, seed=2)
                unindexed_in_server = await server_times(conn, params, runs_unindexed, seed=2)
                unindexed_plans = await plans(conn, params)
            finally:
                await conn.rollback()
                for index in dropped:
                    await conn.execute(CreateIndex(index, if_not_exists=True))
                await conn.commit()
            load.append(os.getloadavg()[0])
    finally:
        await engine.dispose()
    return {
        "database": f"leadflow_bench_{name}",
        "dropped_indexes": [index.name for index in dropped],
        "load_1min": [round(x, 2) for x in load],
        "round_trip_select_1": in_server["round trip (SELECT 1)"],
        "shapes": {
            shape: {
                "indexed": indexed[shape],
                "indexed_in_server": in_server[shape],
                "unindexed": unindexed[shape],
                "ratio_p50": round(unindexed[shape]["p50_ms"] / indexed[shape]["p50_ms"], 1),
                "ratio_p95": round(unindexed[shape]["p95_ms"] / indexed[shape]["p95_ms"], 1),
                "unindexed_in_server": unindexed_in_server[shape],
                "ratio_in_server_p50": _ratio(unindexed_in_server, in_server, shape, "p50_ms"),
                "ratio_in_server_p95": _ratio(unindexed_in_server, in_server, shape, "p95_ms"),
                "plan": shape_plans[shape],
                "plan_unindexed": unindexed_plans[shape],
            }
            for shape in indexed
        },
    }


def _ratio(
    slow: dict[str, dict[str, float]], fast: dict[str, dict[str, float]], shape: str, key: str
) -> float:
    return round(slow[shape][key] / fast[shape][key], 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", default="ref")
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--runs-unindexed", type=int, default=20)
    args = parser.parse_args()
    result = asyncio.run(main_async(args.name, args.runs, args.runs_unindexed))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
