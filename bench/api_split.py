"""Issue #10 (b), diagnosis: where one request's time goes — SQL statements against the rest.

    uv run python -m bench.api_split [--name ref] [--requests 50] PATH [PATH ...]

Serves the app in this process (httpx ASGI transport, no network) on `leadflow_bench_<name>`
and sends each PATH `--requests` times, one at a time, after 10 warm-up requests. For each it
prints the mean time per request and the part spent inside SQL statements (SQLAlchemy cursor
events: from sending a statement to its result; BEGIN/COMMIT and the pool's pre-ping are not
statements and count as "the rest", as do routing, ORM loading, validation and JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import event

from bench.db_reference import bench_settings
from leadflow.api.app import create_app


async def split(name: str, paths: list[str], requests: int) -> None:
    settings = bench_settings(name)
    token = settings.api_token.get_secret_value() if settings.api_token else ""
    app = create_app(settings)
    async with LifespanManager(app):
        engine = app.state.engine.sync_engine
        spent = {"seconds": 0.0, "statements": 0}
        started: dict[int, float] = {}

        def before(_c: Any, cursor: Any, *_args: Any) -> None:
            started[id(cursor)] = time.perf_counter()

        def after(_c: Any, cursor: Any, *_args: Any) -> None:
            spent["seconds"] += time.perf_counter() - started.pop(id(cursor))
            spent["statements"] += 1

        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://x", headers=headers
        ) as c:
            for path in paths:
                for _ in range(10):
                    await c.get(path)
                spent.update(seconds=0.0, statements=0)
                clock = time.perf_counter()
                for _ in range(requests):
                    response = await c.get(path)
                total = (time.perf_counter() - clock) / requests * 1000
                sql = spent["seconds"] / requests * 1000
                per = spent["statements"] / requests
                print(
                    f"{path:32s} {response.status_code} {total:7.2f} ms/request: "
                    f"SQL {sql:6.2f} ms in {per:.1f} statements, rest {total - sql:6.2f} ms"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", default="ref")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args()
    asyncio.run(split(args.name, args.paths, args.requests))


if __name__ == "__main__":
    main()
