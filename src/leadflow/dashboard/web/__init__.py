"""The dashboard's web pages: server-rendered HTML under /dashboard, served by the API's app.

How it fits together
--------------------
- `install_dashboard(app)` (called by `create_app`) includes the login router and every page
  module in `PAGE_MODULES`, serves `static/` at /dashboard/static, redirects `/` to /dashboard
  and makes errors on dashboard paths answer HTML (`errors.py`).
- `session.py`: the signed, HTTP-only session cookie (log in with the API token) and the CSRF
  token of its forms. `deps.py`: `page_router()`, `LoginDep`, `CsrfForm`.
- `templating.py`: Jinja2 with gettext (`i18n.py`, catalogues in `locale/`), `render()`, the menu
  (`NAV`). `formatting.py`: Europe/Copenhagen times, Danish numbers and dates (`fmt` in templates).
- `charts.py`: server-rendered SVG charts. `static/`: our own CSS and the little JS there is.
- Pages read through the same services and cached views as the API (`leadflow.cache.views`,
  `leadflow.<domain>.service`) — never a query of their own for something the API already has.

Adding a page (e.g. `customers`)
--------------------------------
1. `pages/customers.py`: `router = page_router()`; routes named `dashboard.<page>[.<part>]`,
   the page's main route named as its `NAV` entry (`dashboard.customers`), and each handler
   returns `render(request, "customers.html", {...}, page="dashboard.customers")`. Forms POST
   with `{{ csrf_field() }}` and the handler takes `form: CsrfForm`; after a change, redirect
   (303) back to a GET page. Use the domain's service with `SessionDep` (the request owns the
   transaction, as in the API), so a change invalidates the cache as an API write does.
   Read cached views (`leadflow.cache.views.read_*`) and run the readiness checks before the
   request session's first query: they use connections of their own, and on SQLite every
   transaction takes the write lock (BEGIN IMMEDIATE), so they would wait for the request's.
2. `templates/customers.html`: `{% extends "layout.html" %}`, fill `title` and `content`; texts
   in `{{ _("English text") }}`; no inline script or style (the CSP refuses them).
3. Add `"customers"` to `PAGE_MODULES` below (the menu entry appears by itself), add the Danish
   translations to `locale/da/LC_MESSAGES/messages.po`, and styles to `static/app.css`.
4. Tests: `tests/dashboard/` — the route table drives the login and render checks, so a new
   GET page is covered by them once it renders with an empty database; add its own tests with
   data, and its browser test in `tests/dashboard/test_browser.py`.
5. A form POST that changes data goes in `leadflow.cache.invalidation.PAGE_WRITES`, naming the
   API write it performs (a test checks that every dashboard POST is listed there).
`leadflow check-frontend` finds the new page in the route table by itself; an item page takes
its id from the API list of the same path (`/dashboard/threads/{thread_id}` from `/api/threads`),
so give item pages the API's path below /dashboard.

Pages link to each other by route name through `page_url(name, **ids)` in templates, which
gives None until a module serves the name (the link then shows as text): `dashboard.lead`
(lead_id), `dashboard.customer` (customer_id), `dashboard.thread` (thread_id),
`dashboard.booking` (booking_id).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from leadflow.dashboard.web.deps import PREFIX

PAGE_MODULES: tuple[str, ...] = ("overview", "leads", "customers", "inbox", "bookings", "system")
STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = PREFIX + "/static"


def install_dashboard(app: FastAPI) -> None:
    """Put the dashboard on `app` (after the error handlers are installed)."""
    from leadflow.dashboard.web.errors import install_html_errors
    from leadflow.dashboard.web.login import router as login_router

    root = APIRouter(include_in_schema=False)

    @root.get("/", include_in_schema=False)
    async def to_dashboard() -> RedirectResponse:
        return RedirectResponse(PREFIX, status_code=307)

    app.include_router(root)
    app.include_router(login_router)
    for name in PAGE_MODULES:
        module = importlib.import_module(f"leadflow.dashboard.web.pages.{name}")
        app.include_router(module.router)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="dashboard.static")
    install_html_errors(app)
