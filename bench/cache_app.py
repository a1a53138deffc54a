"""The served app plus one trivial route, for benchmark (a) only (never part of leadflow).

`/bench/trivial` answers `{"status":"pass"}` as application/health+json with no dependency,
no token and no database: the ceiling of the same server, against which the cached dashboard
stats are compared. (The monitoring issue owns `/health/*`; this route exists only here.)
"""

from __future__ import annotations

from fastapi import FastAPI, Response

from leadflow.api.app import create_served_app

_BODY = b'{"status":"pass"}'


def create_bench_app() -> FastAPI:
    app = create_served_app()

    @app.get("/bench/trivial", include_in_schema=False)
    async def trivial() -> Response:
        return Response(content=_BODY, media_type="application/health+json")

    return app
