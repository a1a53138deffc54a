"""Bookings (/dashboard/bookings): the week (Europe/Copenhagen, Monday first), the list of
coming bookings, a booking's page; create, reschedule and cancel.

Reads are the query of `GET /api/bookings` (`bookings.service.list_query`: bookings overlapping
a time range). Writes are CSRF-checked form POSTs to the services behind `POST /api/bookings`,
`PATCH /api/bookings/{id}` and `POST /api/bookings/{id}/cancel`, so the overlap rule, the row
locks and the counters are the API's own. An overlap is the service's 409: the form is shown
again with the booking it collides with (in Copenhagen time) and nothing is stored.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.api.deps import SessionDep
from leadflow.api.pagination import MAX_LIMIT, PageParams, fetch_page
from leadflow.bookings import service as booking_service
from leadflow.bookings.schemas import BookingCreate, BookingOut, BookingUpdate
from leadflow.customers import service as customer_service
from leadflow.customers.schemas import CustomerOut
from leadflow.dashboard.web import booking_form, calendar, labels
from leadflow.dashboard.web.deps import CsrfForm, page_router
from leadflow.dashboard.web.forms import (
    FieldErrors,
    PathId,
    field_errors,
    page_number,
    row_id,
    text,
)
from leadflow.dashboard.web.labels import N_
from leadflow.dashboard.web.pages.customers import find_customers, search_text
from leadflow.dashboard.web.templating import render
from leadflow.errors import Conflict, Unprocessable
from leadflow.leads import service as lead_service
from leadflow.leads.schemas import LeadOut
from leadflow.models import ACTIVE_BOOKING_STATUSES, BookingStatus, utcnow
from leadflow.settings import Settings

router = page_router()
WEEK_LIMIT = MAX_LIMIT  # bookings shown in one week (a small business has far fewer)
LIST_SIZE = 50
SEARCH_RESULTS = 10
CUSTOMER_LEADS = 50


def _tz(request: Request) -> ZoneInfo:
    settings: Settings = request.app.state.settings
    return ZoneInfo(settings.timezone)


async def _names_of(session: AsyncSession, bookings: list[BookingOut]) -> dict[int, str]:
    """The bookings' customers' display names, by customer id (one query)."""
    return await customer_service.display_names(
        session, customer_ids={b.customer_id for b in bookings}
    )


@router.get("/bookings", name="dashboard.bookings")
async def week(request: Request, session: SessionDep) -> HTMLResponse:
    tz = _tz(request)
    today = utcnow().astimezone(tz).date()
    monday, readable = calendar.parse_week(request.query_params.get("week"), today)
    start, end = calendar.week_bounds(monday, tz)
    rows, total = await fetch_page(
        session,
        booking_service.list_query(ends_after=start, starts_before=end),
        PageParams(limit=WEEK_LIMIT, offset=0),
    )
    bookings = [BookingOut.model_validate(row) for row in rows]
    return render(
        request,
        "bookings.html",
        {
            "monday": monday,
            "sunday": monday + timedelta(days=6),
            "iso_week": monday.isocalendar().week,
            "previous": (monday - timedelta(days=7)).isoformat(),
            "next": (monday + timedelta(days=7)).isoformat(),
            "this_week": calendar.monday_of(today),
            "today": today,
            "days": calendar.week_days(monday, bookings, tz),
            "count": len(bookings),
            "more": total.has_more,
            "names": await _names_of(session, bookings),
            "readable": readable,
            "labels": labels,
        },
        status_code=200 if readable else 422,
        page="dashboard.bookings",
    )


@router.get("/bookings/list", name="dashboard.bookings_list")
async def coming(request: Request, session: SessionDep) -> HTMLResponse:
    page = page_number(request.query_params.get("page"))
    show_all = request.query_params.get("status") == "all"
    stmt = booking_service.list_query(
        ends_after=utcnow(), statuses=() if show_all else ACTIVE_BOOKING_STATUSES
    )
    rows, total = await fetch_page(
        session, stmt, PageParams(limit=LIST_SIZE, offset=(page - 1) * LIST_SIZE)
    )
    bookings = [BookingOut.model_validate(row) for row in rows]
    return render(
        request,
        "bookings_list.html",
        {
            "bookings": bookings,
            "names": await _names_of(session, bookings),
            "total": total,
            "page_number": page,
            "show_all": show_all,
            "labels": labels,
        },
        page="dashboard.bookings",
    )


# -- create -----------------------------------------------------------------------------


async def _form_page(
    request: Request,
    session: AsyncSession,
    *,
    template: str,
    customer: CustomerOut,
    values: dict[str, str],
    errors: FieldErrors | None = None,
    conflict: dict[str, Any] | None = None,
    problem: str | None = None,
    status_code: int = 200,
    extra: dict[str, Any] | None = None,
) -> HTMLResponse:
    leads, _total = await fetch_page(
        session,
        lead_service.list_query(customer_id=customer.id),
        PageParams(limit=CUSTOMER_LEADS, offset=0),
    )
    return render(
        request,
        template,
        {
            "customer": customer,
            "values": values,
            "errors": errors or {},
            "conflict": conflict,
            "problem": problem,
            "leads": [LeadOut.model_validate(lead) for lead in leads],
            "labels": labels,
            **(extra or {}),
        },
        status_code=status_code,
        page="dashboard.bookings",
    )


@router.get("/bookings/new", name="dashboard.booking_new")
async def new_booking(request: Request, session: SessionDep) -> HTMLResponse:
    params = request.query_params
    customer_id = row_id(params.get("customer_id") or "")
    tz = _tz(request)
    if customer_id is None:
        q = search_text(params)
        results = await find_customers(session, q, limit=SEARCH_RESULTS)
        return render(
            request,
            "booking_pick_customer.html",
            {"q": q, "results": results, "day": params.get("day") or ""},
            page="dashboard.bookings",
        )
    customer = CustomerOut.model_validate(
        await customer_service.get(session, customer_id=customer_id)
    )
    tomorrow = utcnow().astimezone(tz).date() + timedelta(days=1)
    chosen = params.get("day") or ""
    values = {
        "customer_id": str(customer.id),
        "start_date": chosen if _is_date(chosen) else tomorrow.isoformat(),
        "start_clock": "09:00",
        "end_date": "",
        "end_clock": "12:00",
        "team": "default",
        "address": " ".join(
            part for part in (customer.address, customer.postal_code, customer.city) if part
        ),
        "status": "scheduled",
    }
    return await _form_page(
        request, session, template="booking_new.html", customer=customer, values=values
    )


def _is_date(raw: str) -> bool:
    try:
        date.fromisoformat(raw)
    except ValueError:
        return False
    return True


async def _conflict_of(session: AsyncSession, exc: Conflict) -> dict[str, Any] | None:
    """The booking an overlap 409 names, with its customer, for the message; None otherwise."""
    details = exc.details if isinstance(exc.details, dict) else {}
    if "conflicting_booking_id" not in details:
        return None
    other_id = details["conflicting_booking_id"]
    if other_id is None:
        return {"booking": None, "customer_name": None, "team": details.get("team")}
    other = BookingOut.model_validate(await booking_service.get(session, booking_id=other_id))
    names = await _names_of(session, [other])
    return {"booking": other, "customer_name": names.get(other.customer_id), "team": other.team}


def _unprocessable_fields(exc: Unprocessable) -> FieldErrors:
    errors: FieldErrors = {}
    for detail in exc.details if isinstance(exc.details, list) else []:
        name = str(detail.get("field", "")).removeprefix("body.")
        if name == "lead_id":
            errors[name] = N_("Choose one of the customer's leads, or none.")
        elif name == "customer_id":
            errors[name] = N_("This customer no longer exists.")
    return errors or {"form": N_("This value is not valid.")}


@router.post("/bookings/new", name="dashboard.booking_create")
async def create(request: Request, session: SessionDep, form: CsrfForm) -> Response:
    values = booking_form.form_values(form)
    customer_id = row_id(values.get("customer_id", ""))
    if customer_id is None:
        raise Unprocessable(
            "choose the customer first",
            details=[{"field": "customer_id", "message": "not a customer id"}],
        )
    customer = CustomerOut.model_validate(
        await customer_service.get(session, customer_id=customer_id)
    )
    times, errors = booking_form.read_times(values, _tz(request))
    conflict = None
    if times is not None:
        try:
            data = BookingCreate.model_validate(booking_form.body(values, times, creating=True))
            booking = await booking_service.create(session, data=data)
        except ValidationError as exc:
            errors = field_errors(exc)
        except Conflict as exc:
            await session.rollback()
            conflict = await _conflict_of(session, exc)
        except Unprocessable as exc:
            await session.rollback()
            errors = _unprocessable_fields(exc)
        else:
            url = request.app.url_path_for("dashboard.booking", booking_id=str(booking.id))
            return RedirectResponse(f"{url}?saved=created", status_code=303)
    return await _form_page(
        request,
        session,
        template="booking_new.html",
        customer=customer,
        values=values,
        errors=errors,
        conflict=conflict,
        status_code=409 if conflict else 422,
    )


# -- one booking: page, reschedule, cancel ------------------------------------------------


async def _booking_page(
    request: Request,
    session: AsyncSession,
    booking_id: int,
    *,
    values: dict[str, str] | None = None,
    original: dict[str, str] | None = None,
    errors: FieldErrors | None = None,
    conflict: dict[str, Any] | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    booking = BookingOut.model_validate(await booking_service.get(session, booking_id=booking_id))
    customer = CustomerOut.model_validate(
        await customer_service.get(session, customer_id=booking.customer_id)
    )
    stored = booking_form.values_of(
        start=booking.start_time,
        end=booking.end_time,
        tz=_tz(request),
        team=booking.team,
        service_type=booking.service_type,
        address=booking.address,
        notes=booking.notes,
        lead_id=booking.lead_id,
    )
    if values is None:
        values = stored
    saved = request.query_params.get("saved")
    return await _form_page(
        request,
        session,
        template="booking.html",
        customer=customer,
        values=values,
        errors=errors,
        conflict=conflict,
        problem=problem,
        status_code=status_code,
        extra={
            "booking": booking,
            # A form shown again after an error keeps the originals it was first rendered with.
            "original": original if original is not None else stored,
            "original_prefix": booking_form.ORIGINAL,
            "active": booking.status in ACTIVE_BOOKING_STATUSES,
            "saved": saved if saved in {"created", "rescheduled", *BookingStatus} else None,
            "status_actions": STATUS_ACTIONS.get(booking.status, ()),
            "week_of": booking.start_time.astimezone(_tz(request)).date().isoformat(),
        },
    )


@router.get("/bookings/{booking_id}", name="dashboard.booking")
async def booking_detail(request: Request, session: SessionDep, booking_id: PathId) -> HTMLResponse:
    return await _booking_page(request, session, booking_id)


@router.post("/bookings/{booking_id}/edit", name="dashboard.booking_save")
async def reschedule(
    request: Request, session: SessionDep, form: CsrfForm, booking_id: PathId
) -> Response:
    values = booking_form.form_values(form)
    original = booking_form.original_values(form)
    times, errors = booking_form.read_times(values, _tz(request))
    conflict = problem = None
    if times is not None:
        try:
            body = booking_form.body(values, times, creating=False)
            data = BookingUpdate.model_validate(booking_form.changes_only(body, values, original))
            await booking_service.update_booking(session, booking_id=booking_id, data=data)
        except ValidationError as exc:
            errors = field_errors(exc)
        except Conflict as exc:
            await session.rollback()
            conflict = await _conflict_of(session, exc)
            if conflict is None:
                problem = N_("Only a scheduled or confirmed booking can be rescheduled.")
        except Unprocessable as exc:
            await session.rollback()
            errors = _unprocessable_fields(exc)
        else:
            url = request.app.url_path_for("dashboard.booking", booking_id=str(booking_id))
            return RedirectResponse(f"{url}?saved=rescheduled", status_code=303)
    return await _booking_page(
        request,
        session,
        booking_id,
        values=values,
        original=original or None,
        errors=errors,
        conflict=conflict,
        problem=problem,
        status_code=409 if conflict or problem else 422,
    )


# Status changes the booking page offers besides cancelling (the service checks the transition).
STATUS_ACTIONS = {
    BookingStatus.SCHEDULED: (BookingStatus.CONFIRMED, BookingStatus.COMPLETED),
    BookingStatus.CONFIRMED: (BookingStatus.COMPLETED, BookingStatus.SCHEDULED),
}


@router.post("/bookings/{booking_id}/status", name="dashboard.booking_status")
async def change_status(
    request: Request, session: SessionDep, form: CsrfForm, booking_id: PathId
) -> Response:
    try:
        target = BookingStatus(text(form, "status"))
    except ValueError:
        raise Unprocessable(
            "unknown status", details=[{"field": "status", "message": "not a booking status"}]
        ) from None
    try:
        await booking_service.update_booking(
            session, booking_id=booking_id, data=BookingUpdate(status=target)
        )
    except Conflict as exc:
        await session.rollback()
        conflict = await _conflict_of(session, exc)
        return await _booking_page(
            request,
            session,
            booking_id,
            conflict=conflict,
            problem=None if conflict else N_("The booking's status cannot change that way."),
            status_code=409,
        )
    url = request.app.url_path_for("dashboard.booking", booking_id=str(booking_id))
    return RedirectResponse(f"{url}?saved={target.value}", status_code=303)


@router.post("/bookings/{booking_id}/cancel", name="dashboard.booking_cancel")
async def cancel(
    request: Request, session: SessionDep, form: CsrfForm, booking_id: PathId
) -> Response:
    try:
        await booking_service.cancel(session, booking_id=booking_id)
    except Conflict:
        await session.rollback()
        return await _booking_page(
            request,
            session,
            booking_id,
            problem=N_("A completed booking cannot be cancelled."),
            status_code=409,
        )
    url = request.app.url_path_for("dashboard.booking", booking_id=str(booking_id))
    return RedirectResponse(f"{url}?saved=cancelled", status_code=303)
