"""UI language: gettext catalogues (`locale/<lang>/LC_MESSAGES/messages.po`) compiled by Babel.

The `.po` files are the source; they are compiled in memory the first time a language is used
(a few milliseconds), so no `.mo` binary is kept in the repository or has to be rebuilt by hand.
Messages are written in English in the templates and code; `en/messages.po` may stay empty.

Update the catalogues after changing texts (from the repository root):

    cd src/leadflow/dashboard/web
    uv run pybabel extract -F babel.cfg -k N_ --no-location -o /tmp/messages.pot .
    uv run pybabel update -i /tmp/messages.pot -d locale --no-location --no-fuzzy-matching

A test fails when a message of a template or page module has no Danish translation.
"""

from __future__ import annotations

import functools
import gettext
import io
from pathlib import Path

from babel import Locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from fastapi import Request

from leadflow.settings import Settings, UiLanguage

LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT_LANGUAGE = UiLanguage.DA
# Babel locales used for dates and numbers: Danish formats in both languages' home market.
_FORMAT_LOCALES = {UiLanguage.DA: "da_DK", UiLanguage.EN: "en_DK"}


def po_path(language: UiLanguage) -> Path:
    return LOCALE_DIR / language.value / "LC_MESSAGES" / "messages.po"


@functools.cache
def translations(language: UiLanguage) -> gettext.GNUTranslations:
    """The language's catalogue, compiled from its `.po` file once per process."""
    with po_path(language).open("rb") as po:
        catalog = read_po(po, locale=language.value)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def format_locale(language: UiLanguage) -> Locale:
    return Locale.parse(_FORMAT_LOCALES[language])


def from_accept_language(header: str | None) -> UiLanguage | None:
    """The supported language the header prefers most (by q-value, then order), or None."""
    if not header:
        return None
    ranked: list[tuple[float, int, UiLanguage]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        # Norwegian and Swedish readers get Danish rather than English.
        if primary in {"nb", "no", "nn", "sv"}:
            primary = "da"
        if quality > 0 and primary in {lang.value for lang in UiLanguage}:
            ranked.append((-quality, position, UiLanguage(primary)))
    return min(ranked)[2] if ranked else None


def choose_language(request: Request) -> UiLanguage:
    """The setting when given, else the browser's preference, else Danish."""
    settings: Settings = request.app.state.settings
    if settings.ui_language is not None:
        return settings.ui_language
    return from_accept_language(request.headers.get("accept-language")) or DEFAULT_LANGUAGE
