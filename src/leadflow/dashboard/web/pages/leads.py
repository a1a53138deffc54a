"""Leads (/dashboard/leads): the list with filters, a lead's page, and its status change.

The list is the query of `GET /api/leads` (`leads.service.list_query`, paged by `fetch_page`);
its first unfiltered page is the API's cached first page. A status change is a CSRF-checked
form POST to `leads.service.update_lead` — the service behind `PATCH /api/leads/{id}` — so the
transition rules, row lock and cache invalidation are the API's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from leadflow.api.deps import CacheDep, SessionDep
from leadflow.api.pagination import DEFAULT_LIMIT, Page, PageParams, Total, fetch_page
from leadflow.cache import views
from leadflow.customers import service as customer_service
from leadflow.dashboard.service import local_midnight
from leadflow.dashboard.web import labels
from leadflow.dashboard.web.deps import CsrfForm, page_router
from leadflow.dashboard.web.labels import N_
from leadflow.dashboard.web.templating import render
from leadflow.errors import Conflict, Unprocessable
from leadflow.leads import service as lead_service
from leadflow.leads.schemas import LeadOut, LeadUpdate
from leadflow.leads.transitions import allowed_targets
from leadflow.models import LeadStatus, utcnow
from leadflow.settings import Settings

router = page_router()
# Ids beyond the database's integer column are a 422, not a database error.
LeadId = Annotated[int, Path(ge=1, le=2**31 - 1)]
PAGE_SIZE = DEFAULT_LIMIT  # the size of the API's cached first page
# Dates a filter accepts: beyond them a local midnight (and the day after) cannot be formed.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2999, 12, 31)


@dataclass(frozen=True)
class LeadFilters:
    status: LeadStatus | None = None
    source: str | None = None
    date_from: date | None = None
    date_to: date | None = None  # inclusive: the whole local day
    page: int = 1
    awaiting: bool = False  # only leads waiting for a first answer, oldest first
    errors: list[str] = field(default_factory=list)

    @property
    def unfiltered(self) -> bool:
        return not (self.status or self.source or self.date_from or self.date_to or self.awaiting)

    def query(self, **changes: Any) -> str:
        """The list's query string with these filters (and `changes`), for links."""
        values = {
            "status": self.status.value if self.status else None,
            "source": self.source,
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "awaiting": 1 if self.awaiting else None,
            "page": self.page if self.page > 1 else None,
        } | changes
        return urlencode(
            {
                k: v
                for k, v in values.items()
                if v is not None and v != "" and (k != "page" or v != 1)
            }
        )


def parse_filters(params: dict[str, str]) -> LeadFilters:
    """Read the filter form leniently: a bad value is named in `errors` and left out."""
    errors: list[str] = []
    status = None
    if params.get("status"):
        try:
            status = LeadStatus(params["status"])
        except ValueError:
            errors.append(N_("Unknown status."))
    source = (params.get("source") or "").strip()[:50] or None
    days: dict[str, date | None] = {}
    for key in ("from", "to"):
        raw = (params.get(key) or "").strip()
        days[key] = None
        if raw:
            try:
                day = date.fromisoformat(raw)
            except ValueError:
                errors.append(N_("A date must look like 2026-12-01."))
                continue
            if not FIRST_DAY <= day <= LAST_DAY:
                errors.append(N_("A date must lie between the years 1900 and 2999."))
                continue
            days[key] = day
    if days["from"] and days["to"] and days["from"] > days["to"]:
        errors.append(N_("The first day must not be after the last day."))
        days["to"] = None
    try:
        page = max(1, min(int(params.get("page") or 1), 10_000))
    except ValueError:
        page = 1
    awaiting = params.get("awaiting", "").lower() in {"1", "true", "on", "yes"}
    return LeadFilters(status, source, days["from"], days["to"], page, awaiting, errors)


async def _lead_page(
    request: Request, session: SessionDep, cache: CacheDep, filters: LeadFilters
) -> tuple[list[LeadOut], Total]:
    if filters.unfiltered and filters.page == 1:
        body, total = await views.read_first_page(request, cache, "leads")
        return Page[LeadOut].model_validate_json(body).items, total
    settings: Settings = request.app.state.settings
    tz = ZoneInfo(settings.timezone)
    stmt = lead_service.list_query(
        statuses=[filters.status] if filters.status else (),
        source=filters.source,
        received_from=local_midnight(filters.date_from, tz) if filters.date_from else None,
        received_to=local_midnight(filters.date_to + timedelta(days=1), tz)
        if filters.date_to
        else None,
        awaiting_reply=True if filters.awaiting else None,
    )
    page = PageParams(limit=PAGE_SIZE, offset=(filters.page - 1) * PAGE_SIZE)
    rows, total = await fetch_page(session, stmt, page)
    return [LeadOut.model_validate(row) for row in rows], total


@router.get("/leads", name="dashboard.leads")
async def leads(request: Request, session: SessionDep, cache: CacheDep) -> HTMLResponse:
    filters = parse_filters(dict(request.query_params))
    # Cached reads first: a miss loads in a session of its own, which on SQLite would wait for
    # this request's transaction (every one takes the write lock) once that has begun.
    sources = await _sources(request, cache)
    items, total = await _lead_page(request, session, cache, filters)
    first = (filters.page - 1) * PAGE_SIZE
    return render(
        request,
        "leads.html",
        {
            "filters": filters,
            "leads": items,
            "total": total,
            "first": first + 1 if items else 0,
            "last": first + len(items),
            "sources": sources,
            "statuses": list(LeadStatus),
            "labels": labels,
        },
        status_code=422 if filters.errors else 200,
        page="dashboard.leads",
    )


async def _sources(request: Request, cache: CacheDep) -> list[str]:
    """The sources leads came from, for the filter (from the cached dashboard stats)."""
    return sorted((await views.read_dashboard_stats(request, cache)).leads.by_source)


@router.get("/leads/{lead_id}", name="dashboard.lead")
async def lead_detail(request: Request, session: SessionDep, lead_id: LeadId) -> HTMLResponse:
    return await _render_lead(request, session, lead_id)


async def _render_lead(
    request: Request,
    session: SessionDep,
    lead_id: int,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    lead = await lead_service.get(session, lead_id=lead_id)
    message, thread = await lead_service.source_mail(session, lead=lead)
    customer = (
        await customer_service.get(session, customer_id=lead.customer_id)
        if lead.customer_id is not None
        else None
    )
    changed = request.query_params.get("changed")
    return render(
        request,
        "lead.html",
        {
            "lead": LeadOut.model_validate(lead),
            "message": message,
            "thread": thread,
            "customer": customer,
            "targets": allowed_targets(lead.status),
            "changed": changed if changed in {s.value for s in LeadStatus} else None,
            "error": error,
            "now": utcnow(),
            "labels": labels,
        },
        status_code=status_code,
        page="dashboard.leads",
    )


@router.post("/leads/{lead_id}/status", name="dashboard.lead_status")
async def change_status(
    request: Request, session: SessionDep, form: CsrfForm, lead_id: LeadId
) -> Response:
    raw = form.get("status")
    try:
        target = LeadStatus(raw if isinstance(raw, str) else "")
    except ValueError:
        raise Unprocessable(
            "unknown status", details=[{"field": "status", "message": "not a lead status"}]
        ) from None
    try:
        await lead_service.update_lead(session, lead_id=lead_id, data=LeadUpdate(status=target))
    except Conflict:
        # Another tab or person moved the lead first: show where it stands now.
        return await _render_lead(
            request, session, lead_id, error="transition_refused", status_code=409
        )
    url = request.app.url_path_for("dashboard.lead", lead_id=str(lead_id))
    return RedirectResponse(f"{url}?changed={target.value}", status_code=303)
