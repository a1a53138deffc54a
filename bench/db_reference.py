"""Issue #10: the reference-scale database — seed it (timed), and drop it afterwards.

    uv run python -m bench.db_reference seed [--name ref] [--scale reference] [--seed 1]
    uv run python -m bench.db_reference drop [--name ref]

`seed` creates `leadflow_bench_<name>` on PostgreSQL (postgres@127.0.0.1, trust), migrates it and
runs `leadflow db seed` in this process, printing one JSON line: wall seconds, this process's
CPU seconds, the rows written, the 1-minute load average before and after, and the database
size. `query_shapes.py` and `api_load.py` then run against the same database; `drop` removes it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from leadflow.db import async_url
from leadflow.maintenance.seed import seed_database
from leadflow.maintenance.seed_plan import SCALES, SeedPlan, anchor_for
from leadflow.settings import Settings

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def database_url(name: str) -> str:
    return ADMIN.rsplit("/", 1)[0] + f"/leadflow_bench_{name}"


def bench_settings(name: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url(name),
        api_token="bench-token-not-a-secret",  # noqa: S106 - a local benchmark server
        redis_url=None,
        db_statement_timeout=120,
        # Issue #10 measures the database path: no cache in front of it (issue #11 has its own).
        cache_enabled=False,
        cache_warm=False,
    )


async def admin(statement: str) -> None:
    engine = create_async_engine(async_url(ADMIN), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


class Steps:
    """Progress for the seed: remembers when each step began."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.marks: dict[str, float] = {}

    def start(self, total_rows: int) -> None:
        self.marks["generated, writing rows"] = round(time.monotonic() - self.started, 2)

    def advance(self, rows: int) -> None:
        return None

    def step(self, description: str) -> None:
        self.marks[description] = round(time.monotonic() - self.started, 2)


async def seed(name: str, scale: str, seed_value: int) -> dict[str, Any]:
    await admin(f'DROP DATABASE IF EXISTS "leadflow_bench_{name}" WITH (FORCE)')
    await admin(f'CREATE DATABASE "leadflow_bench_{name}"')
    settings = bench_settings(name)
    plan = SeedPlan(scale=SCALES[scale], seed=seed_value, anchor=anchor_for())
    load_before = os.getloadavg()[0]
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    steps = Steps()
    started = time.monotonic()
    report = await seed_database(settings, plan, force=False, progress=steps)
    wall = time.monotonic() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    engine = create_async_engine(async_url(settings.database_url))
    try:
        async with engine.connect() as conn:
            size = await conn.execute(text("SELECT pg_database_size(current_database())"))
            size_bytes = int(size.scalar_one())
    finally:
        await engine.dispose()
    return {
        "database": f"leadflow_bench_{name}",
        "scale": scale,
        "seed": seed_value,
        "wall_s": round(wall, 2),
        "cpu_s_this_process": round(
            cpu_after.ru_utime - cpu_before.ru_utime + cpu_after.ru_stime - cpu_before.ru_stime, 2
        ),
        "steps_s": steps.marks,
        "rows": report.rows,
        "database_bytes": size_bytes,
        "load_1min_before": round(load_before, 2),
        "load_1min_after": round(os.getloadavg()[0], 2),
        "peak_rss_mb": round(cpu_after.ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("action", choices=["seed", "drop"])
    parser.add_argument("--name", default="ref")
    parser.add_argument("--scale", default="reference", choices=sorted(SCALES))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.action == "drop":
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "leadflow_bench_{args.name}" WITH (FORCE)'))
        print(json.dumps({"dropped": f"leadflow_bench_{args.name}"}))
        return
    print(json.dumps(asyncio.run(seed(args.name, args.scale, args.seed))))


if __name__ == "__main__":
    main()
