"""Overview (/dashboard): the day at a glance — first the leads waiting for an answer (oldest
first, with how long they have waited), then KPIs, charts, this week's bookings, sync, health.

The figures come from the cached dashboard stats (the view `GET /api/dashboard/stats` serves),
the waiting leads from the query of `GET /api/leads?awaiting_reply=true`, the bookings from the
bookings service, health from the readiness checks and the cache's own
stats object: the page runs no query the API does not.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import Request
from fastapi.responses import HTMLResponse

from leadflow.api.deps import CacheDep, SessionDep
from leadflow.api.pagination import PageParams, fetch_page
from leadflow.bookings import service as booking_service
from leadflow.cache import views
from leadflow.customers import service as customer_service
from leadflow.dashboard.schemas import DashboardStats
from leadflow.dashboard.web import charts, labels
from leadflow.dashboard.web.deps import page_router
from leadflow.dashboard.web.i18n import choose_language, translations
from leadflow.dashboard.web.templating import formatter, render
from leadflow.leads import service as lead_service
from leadflow.leads.schemas import LeadOut
from leadflow.models import ACTIVE_BOOKING_STATUSES, Booking, utcnow
from leadflow.monitoring.health.checks import HealthContext, run_checks
from leadflow.monitoring.health.report import overall

router = page_router()
UPCOMING_SHOWN = 8
WAITING_SHOWN = 10


@router.get("", name="dashboard.overview")
async def overview(request: Request, session: SessionDep, cache: CacheDep) -> HTMLResponse:
    # Health first: its checks open connections of their own, and on SQLite every transaction
    # takes the write lock (BEGIN IMMEDIATE), so they must not wait for this request's session.
    state = request.app.state
    health = await run_checks(
        HealthContext(settings=state.settings, engine=state.engine, cache=cache)
    )
    stats = await views.read_dashboard_stats(request, cache)
    now = utcnow()
    upcoming_stmt = booking_service.list_query(
        ends_after=now, starts_before=now + timedelta(days=7), statuses=ACTIVE_BOOKING_STATUSES
    ).limit(UPCOMING_SHOWN)
    bookings: list[Booking] = list((await session.execute(upcoming_stmt)).scalars())
    customers = await customer_service.display_names(
        session, customer_ids={b.customer_id for b in bookings}
    )
    # The leads nobody has answered, oldest first: `GET /api/leads?awaiting_reply=true`'s query.
    waiting, _total = await fetch_page(
        session,
        lead_service.list_query(awaiting_reply=True),
        PageParams(limit=WAITING_SHOWN, offset=0),
    )
    return render(
        request,
        "overview.html",
        {
            "stats": stats,
            "conversion": stats.leads.by_status.get("won", 0) / stats.leads.total
            if stats.leads.total
            else None,
            "charts": _charts(request, stats),
            "waiting": [LeadOut.model_validate(lead) for lead in waiting],
            "now": now,
            "target": timedelta(minutes=stats.response_times.target_minutes),
            "bookings": bookings,
            "customer_names": customers,
            "health": health,
            "health_status": overall(health),
            "cache_stats": cache.stats(),
            "labels": labels,
        },
        page="dashboard.overview",
    )


def _charts(request: Request, stats: DashboardStats) -> dict[str, charts.BarChart]:
    language = choose_language(request)
    gettext = translations(language).gettext
    fmt = formatter(request, language)
    day_chart = charts.columns(
        [
            (fmt.date(d.day), d.count, fmt.number(d.count), fmt.short_date(d.day))
            for d in stats.leads.per_day
        ]
    )
    by_source = sorted(stats.leads.by_source.items(), key=lambda item: (-item[1], item[0]))
    return {
        "per_day": day_chart,
        "by_source": charts.horizontal_bars(
            [(gettext(labels.source_label(s)), n, fmt.number(n)) for s, n in by_source]
        ),
        "by_status": charts.horizontal_bars(
            [
                (gettext(labels.LEAD_STATUS[s]), n, fmt.number(n))
                for s, n in stats.leads.by_status.items()
            ]
        ),
    }
