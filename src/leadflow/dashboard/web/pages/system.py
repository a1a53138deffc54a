"""System (/dashboard/system): readiness, sync runs and their errors, cache, uptime, database.

Each part is read by the code behind its API or CLI: the readiness checks of /health/ready, the
sync runs query of /api/sync/runs, the cache's own `stats()`, `uptime_overview` of
/api/uptime and the report of `leadflow db stats` (on the request's connection).
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from leadflow.api.deps import CacheDep, SessionDep
from leadflow.api.pagination import PageParams, fetch_page
from leadflow.dashboard.web import labels
from leadflow.dashboard.web.deps import page_router
from leadflow.dashboard.web.templating import render
from leadflow.maintenance.stats import collect_report
from leadflow.models import utcnow
from leadflow.monitoring.health.checks import HealthContext, run_checks
from leadflow.monitoring.health.report import overall
from leadflow.monitoring.uptime.overview import uptime_overview
from leadflow.sync.runs import runs_query

router = page_router()
RUNS_SHOWN = 20
ERRORS_SHOWN = 20


@router.get("/system", name="dashboard.system")
async def system(request: Request, session: SessionDep, cache: CacheDep) -> HTMLResponse:
    # Before the session's first query: the checks use connections of their own (see overview).
    state = request.app.state
    health = await run_checks(
        HealthContext(settings=state.settings, engine=state.engine, cache=cache)
    )
    runs, runs_total = await fetch_page(
        session, runs_query(), PageParams(limit=RUNS_SHOWN, offset=0), scalars=False
    )
    uptime = await uptime_overview(session, now=utcnow())
    report = await collect_report(await session.connection())
    return render(
        request,
        "system.html",
        {
            "health": health,
            "health_status": overall(health),
            "runs": runs,
            "runs_total": runs_total,
            "errors_shown": ERRORS_SHOWN,
            "cache_stats": cache.stats(),
            "uptime": uptime,
            "report": report,
            "tables": sorted(report.tables, key=lambda t: (-t.rows, t.name)),
            "labels": labels,
        },
        page="dashboard.system",
    )
