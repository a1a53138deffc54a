"""GET /health/live, /health/ready and /health: no token, not in the OpenAPI schema.

/health/live answers from a prebuilt body (no I/O), cheap enough for a probe every second.
/health/ready runs the checks (see checks.py) and answers 200 for pass and warn, 503 for fail.
HEAD is answered too, as uptime monitors often probe with it.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response

from leadflow import __version__
from leadflow.monitoring.health.checks import HealthContext, run_checks
from leadflow.monitoring.health.report import (
    MEDIA_TYPE,
    SERVICE_ID,
    health_document,
    http_status,
    overall,
)

VERSION = __version__
_LIVE_BODY = json.dumps(
    {"status": "pass", "version": VERSION, "serviceId": SERVICE_ID, "description": "process"}
).encode()
_NO_STORE = {"Cache-Control": "no-store"}

router = APIRouter(include_in_schema=False)


@router.api_route("/health/live", methods=["GET", "HEAD"])
async def live() -> Response:
    return Response(_LIVE_BODY, media_type=MEDIA_TYPE, headers=_NO_STORE)


@router.api_route("/health/ready", methods=["GET", "HEAD"])
@router.api_route("/health", methods=["GET", "HEAD"])
async def ready(request: Request) -> Response:
    state = request.app.state
    ctx = HealthContext(
        settings=state.settings, engine=state.engine, cache=getattr(state, "cache", None)
    )
    results = await run_checks(ctx)
    document = health_document(results, version=VERSION, description="readiness")
    return Response(
        json.dumps(document).encode(),
        status_code=http_status(overall(results)),
        media_type=MEDIA_TYPE,
        headers=_NO_STORE,
    )
