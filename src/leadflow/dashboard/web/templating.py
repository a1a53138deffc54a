"""Jinja2 templates: one environment per UI language, and `render` for every page.

Templates live in `templates/`; each extends `layout.html`. Every template gets `request`,
`lang`, `fmt` (a `Formatter`), `_`/`ngettext` (gettext of the request's language),
`csrf_token` (for forms: `{{ csrf_field() }}`), `nav` (the installed pages), `page` (the
current page's nav name) and `page_url(name, **params)` (a page's path, None when no module
serves it yet, so a link can fall back to text). Pages are answered `no-store` with a strict
Content-Security-Policy: no inline script or style attribute works, so use classes and
`static/app.js`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from starlette.routing import NoMatchFound

from leadflow.dashboard.web import i18n
from leadflow.dashboard.web import session as web_session
from leadflow.dashboard.web.formatting import Formatter
from leadflow.dashboard.web.labels import N_
from leadflow.models import utcnow
from leadflow.settings import Settings, UiLanguage

TEMPLATE_DIR = Path(__file__).parent / "templates"

# The dashboard's pages in menu order: (route name, label). A page appears in the menu once its
# module is installed (see `leadflow.dashboard.web.PAGE_MODULES`).
NAV: tuple[tuple[str, str], ...] = (
    ("dashboard.overview", N_("Overview")),
    ("dashboard.leads", N_("Leads")),
    ("dashboard.customers", N_("Customers")),
    ("dashboard.inbox", N_("Inbox")),
    ("dashboard.bookings", N_("Bookings")),
    ("dashboard.system", N_("System")),
)

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    # The language follows Accept-Language and the content the session.
    "Vary": "Accept-Language, Cookie",
}


@dataclass(frozen=True, slots=True)
class NavItem:
    name: str
    label: str
    url: str


@functools.cache
def environment(language: UiLanguage) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html", "svg"]),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(i18n.translations(language), newstyle=True)  # type: ignore[attr-defined]
    return env


def nav_items(request: Request) -> list[NavItem]:
    items = []
    for name, label in NAV:
        try:
            url = str(request.app.url_path_for(name))
        except NoMatchFound:
            continue
        items.append(NavItem(name=name, label=label, url=url))
    return items


def page_url(request: Request, name: str, **params: object) -> str | None:
    """The path of page `name`, or None while no module serves it (links degrade to text)."""
    try:
        return str(request.app.url_path_for(name, **{k: str(v) for k, v in params.items()}))
    except NoMatchFound:
        return None


def formatter(request: Request, language: UiLanguage) -> Formatter:
    settings: Settings = request.app.state.settings
    return Formatter(
        locale=i18n.format_locale(language), tz=ZoneInfo(settings.timezone), now=utcnow()
    )


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    page: str | None = None,
) -> HTMLResponse:
    """Render `template` for this request (language, formats, CSRF token, menu)."""
    language = i18n.choose_language(request)
    settings: Settings = request.app.state.settings
    current = getattr(request.state, "web_session", None) or web_session.read(request)
    token = web_session.csrf_token(current, settings) if current is not None else ""

    def csrf_field() -> Markup:
        return Markup('<input type="hidden" name="{}" value="{}">').format(
            web_session.CSRF_FIELD, escape(token)
        )

    html = (
        environment(language)
        .get_template(template)
        .render(
            request=request,
            lang=language.value,
            fmt=formatter(request, language),
            csrf_token=token,
            csrf_field=csrf_field,
            logged_in=bool(current and current.authenticated),
            nav=nav_items(request),
            page_url=lambda name, **params: page_url(request, name, **params),
            page=page,
            **(context or {}),
        )
    )
    response = HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
    pending = getattr(request.state, "web_session_to_set", None)
    if pending is not None:
        web_session.set_cookie(response, request, pending)
    return response
