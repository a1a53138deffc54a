"""Customers (/dashboard/customers): search, the customer 360 page, and editing a customer.

The list is the query of `GET /api/customers` (`customers.service.list_query`: name, email or phone,
every letter folded, Ø = ø); its first page without a search is the API's cached first page. A
customer's page is the API's cached 360 view (`views.customer_360`) with the listed threads'
messages (`mail.service.messages_of_threads`, one query). The edit form builds the API's
`CustomerUpdate` from the fields the owner changed (so two people editing different fields both keep
theirs, as two PATCH requests would) and saves it with `customers.service.update_customer` under the
row lock; a bad value re-renders the form with the message beside its field (422), an email another
customer has is a 409, and nothing is saved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.api.deps import CacheDep, SessionDep
from leadflow.api.pagination import DEFAULT_LIMIT, Page, PageParams, Total, fetch_page
from leadflow.cache import views
from leadflow.customers import service as customer_service
from leadflow.customers.overview import CustomerOverview
from leadflow.customers.schemas import CustomerOut, CustomerSort, CustomerUpdate
from leadflow.dashboard.web import labels
from leadflow.dashboard.web.deps import CsrfForm, page_router
from leadflow.dashboard.web.forms import FieldErrors, PathId, field_errors, page_number, text
from leadflow.dashboard.web.labels import N_
from leadflow.dashboard.web.templating import render
from leadflow.errors import Conflict
from leadflow.mail import service as thread_service
from leadflow.mail.schemas import MessageOut
from leadflow.models import CustomerStatus

router = page_router()
PAGE_SIZE = DEFAULT_LIMIT  # the size of the API's cached first page
MAX_QUERY = 200  # as `GET /api/customers?q=`
# The fields of the edit form, in order: (name, label, input type, max length).
EDIT_FIELDS: tuple[tuple[str, str, str, int], ...] = (
    ("name", N_("Name"), "text", 200),
    ("company_name", N_("Company"), "text", 200),
    ("email", N_("Email"), "email", 320),
    ("phone", N_("Phone"), "tel", 40),
    ("address", N_("Address"), "text", 300),
    ("postal_code", N_("Postal code"), "text", 16),
    ("city", N_("City"), "text", 100),
    ("tags", N_("Tags (separated by commas)"), "text", 2_000),
    ("notes", N_("Notes"), "textarea", 20_000),
)
_ORIGINAL = "original_"


@dataclass(frozen=True)
class Search:
    q: str
    page: int

    def query(self, **changes: Any) -> str:
        values = {"q": self.q or None, "page": self.page if self.page > 1 else None} | changes
        return urlencode({k: v for k, v in values.items() if v not in (None, "", 1)})


def parse_search(params: Mapping[str, str]) -> Search:
    return Search(q=search_text(params), page=page_number(params.get("page")))


def search_text(params: Mapping[str, str]) -> str:
    """The `?q=` of a customer search, trimmed to what the API accepts."""
    return (params.get("q") or "").strip()[:MAX_QUERY]


async def find_customers(session: AsyncSession, q: str, *, limit: int) -> list[CustomerOut]:
    """The first customers the API's search finds for `q` (for pickers: link, book)."""
    if not q:
        return []
    rows, _total = await fetch_page(
        session,
        customer_service.list_query(search=q, sort=CustomerSort.NAME),
        PageParams(limit=limit, offset=0),
    )
    return [CustomerOut.model_validate(row) for row in rows]


async def _customer_page(
    request: Request, session: SessionDep, cache: CacheDep, search: Search
) -> tuple[list[CustomerOut], Total]:
    if not search.q and search.page == 1:
        body, total = await views.read_first_page(request, cache, "customers")
        return Page[CustomerOut].model_validate_json(body).items, total
    stmt = customer_service.list_query(search=search.q or None, sort=CustomerSort.NAME)
    page = PageParams(limit=PAGE_SIZE, offset=(search.page - 1) * PAGE_SIZE)
    rows, total = await fetch_page(session, stmt, page)
    return [CustomerOut.model_validate(row) for row in rows], total


@router.get("/customers", name="dashboard.customers")
async def customers(request: Request, session: SessionDep, cache: CacheDep) -> HTMLResponse:
    search = parse_search(request.query_params)
    items, total = await _customer_page(request, session, cache, search)
    first = (search.page - 1) * PAGE_SIZE
    return render(
        request,
        "customers.html",
        {
            "search": search,
            "customers": items,
            "total": total,
            "first": first + 1 if items else 0,
            "last": first + len(items),
        },
        page="dashboard.customers",
    )


@router.get("/customers/{customer_id}", name="dashboard.customer")
async def customer_detail(
    request: Request, session: SessionDep, cache: CacheDep, customer_id: PathId
) -> HTMLResponse:
    # The cached view first: a miss loads it in a session of its own (see leads.py).
    body, _hit = await views.read_view(request, cache, views.customer_360(customer_id))
    overview = CustomerOverview.model_validate_json(body)
    found = await thread_service.messages_of_threads(
        session, thread_ids=[thread.id for thread in overview.threads.items]
    )
    messages = {
        thread.id: [MessageOut.model_validate(row) for row in found.get(thread.id, [])]
        for thread in overview.threads.items
    }
    return render(
        request,
        "customer.html",
        {
            "overview": overview,
            "customer": overview.customer,
            "messages": messages,
            "saved": request.query_params.get("saved") == "1",
            "labels": labels,
        },
        page="dashboard.customers",
    )


def _values_of(customer: CustomerOut) -> dict[str, str]:
    values = {name: getattr(customer, name) or "" for name, *_ in EDIT_FIELDS if name != "tags"}
    values["tags"] = ", ".join(customer.tags)
    values["status"] = customer.status.value
    return values


def _edit_page(
    request: Request,
    customer: CustomerOut,
    *,
    values: dict[str, str],
    original: dict[str, str],
    errors: FieldErrors | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "customer_edit.html",
        {
            "customer": customer,
            "values": values,
            "original": original,
            "original_prefix": _ORIGINAL,
            "errors": errors or {},
            "fields": EDIT_FIELDS,
            "statuses": list(CustomerStatus),
        },
        status_code=status_code,
        page="dashboard.customers",
    )


@router.get("/customers/{customer_id}/edit", name="dashboard.customer_edit")
async def edit_form(request: Request, session: SessionDep, customer_id: PathId) -> HTMLResponse:
    customer = CustomerOut.model_validate(
        await customer_service.get(session, customer_id=customer_id)
    )
    values = _values_of(customer)
    return _edit_page(request, customer, values=values, original=values)


def changed_fields(form: dict[str, str], original: dict[str, str]) -> dict[str, Any]:
    """The PATCH body of an edit: the fields sent whose value differs from the form's original
    (a field without an original is sent as it is).

    An emptied field is sent as None (cleared); tags are a comma-separated list.
    """
    body: dict[str, Any] = {}
    for name, value in form.items():
        if name in original and value == original[name]:
            continue
        if name == "tags":
            body[name] = [tag.strip() for tag in value.split(",") if tag.strip()]
        elif name == "status":
            body[name] = value
        else:
            body[name] = value or None
    return body


@router.post("/customers/{customer_id}/edit", name="dashboard.customer_save")
async def save(
    request: Request, session: SessionDep, form: CsrfForm, customer_id: PathId
) -> Response:
    names = [name for name, *_ in EDIT_FIELDS] + ["status"]
    submitted = {name: text(form, name) for name in names if name in form}
    original = {name: text(form, _ORIGINAL + name) for name in names if _ORIGINAL + name in form}
    current = CustomerOut.model_validate(
        await customer_service.get(session, customer_id=customer_id)
    )
    try:
        data = CustomerUpdate.model_validate(changed_fields(submitted, original))
    except ValidationError as exc:
        return _edit_page(
            request,
            current,
            values=submitted,
            original=original,
            errors=field_errors(exc),
            status_code=422,
        )
    try:
        await customer_service.update_customer(session, customer_id=customer_id, data=data)
    except Conflict:
        await session.rollback()
        return _edit_page(
            request,
            current,
            values=submitted,
            original=original,
            errors={"email": N_("Another customer already has this email address.")},
            status_code=409,
        )
    url = request.app.url_path_for("dashboard.customer", customer_id=str(customer_id))
    return RedirectResponse(f"{url}?saved=1", status_code=303)
