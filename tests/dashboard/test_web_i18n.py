"""UI language: Danish by default, English on request; every text has its Danish translation."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from leadflow.api.app import create_app
from leadflow.dashboard.web import i18n
from leadflow.settings import Settings, UiLanguage
from tests.dashboard.web import log_in

WEB_DIR = Path(i18n.__file__).parent
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _extracted() -> set[str]:
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(WEB_DIR), method_map, options, keywords=keywords
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def _catalog(language: UiLanguage) -> dict[str, object]:
    with i18n.po_path(language).open("rb") as po:
        catalog = read_po(po, locale=language.value)
    return {(m.id if isinstance(m.id, str) else m.id[0]): m.string for m in catalog if m.id}


def test_every_text_of_the_dashboard_has_a_danish_translation() -> None:
    danish = _catalog(UiLanguage.DA)
    extracted = _extracted()
    assert extracted, "nothing extracted: the extraction itself is broken"

    def translated(message: str) -> bool:
        found = danish.get(message)
        forms = found if isinstance(found, tuple) else (found,)
        return all(forms)  # every plural form, too

    missing = sorted(m for m in extracted if not translated(m))
    assert not missing, f"add these to locale/da/LC_MESSAGES/messages.po: {missing}"


def test_the_catalogues_hold_no_stale_texts() -> None:
    extracted = _extracted()
    for language in UiLanguage:
        stale = sorted(set(_catalog(language)) - extracted)
        assert not stale, f"{language}: texts no page uses any more: {stale}"


def test_a_translation_keeps_the_placeholders_of_its_text() -> None:
    for message, translated in _catalog(UiLanguage.DA).items():
        forms = translated if isinstance(translated, tuple) else (translated,)
        for form in forms:
            assert set(_PLACEHOLDER.findall(form)) <= set(_PLACEHOLDER.findall(message)) | {
                "num"
            }, message


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, None),
        ("", None),
        ("en-GB,en;q=0.9", UiLanguage.EN),
        ("da-DK,da;q=0.9,en;q=0.8", UiLanguage.DA),
        ("en;q=0.5, da;q=0.6", UiLanguage.DA),
        ("de-DE,de;q=0.9", None),
        ("nb-NO", UiLanguage.DA),
        ("de, en;q=0.1", UiLanguage.EN),
        ("en;q=0, da;q=0", None),
        ("en;q=abc", None),
    ],
)
def test_it_reads_the_browsers_preference(header: str | None, language: UiLanguage | None) -> None:
    assert i18n.from_accept_language(header) is language


@given(st.text(max_size=100))
def test_any_accept_language_header_is_read_without_an_error(header: str) -> None:
    assert i18n.from_accept_language(header) in {None, *UiLanguage}


async def test_the_pages_are_danish_by_default(browser: httpx.AsyncClient) -> None:
    page = await browser.get("/dashboard")
    assert '<html lang="da">' in page.text
    assert "Nye leads i dag" in page.text


async def test_an_english_browser_gets_english(browser: httpx.AsyncClient) -> None:
    page = await browser.get("/dashboard", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in page.text
    assert "New leads today" in page.text


async def test_the_setting_wins_over_the_browser(settings: Settings, engine: AsyncEngine) -> None:
    app = create_app(settings.model_copy(update={"ui_language": UiLanguage.DA}))
    async with (
        LifespanManager(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
        ) as browser,
    ):
        await log_in(browser)
        page = await browser.get("/dashboard", headers={"Accept-Language": "en"})
    assert '<html lang="da">' in page.text


def test_the_language_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADFLOW_UI_LANGUAGE", "en")
    assert Settings(_env_file=None).ui_language is UiLanguage.EN  # type: ignore[call-arg]
    monkeypatch.setenv("LEADFLOW_UI_LANGUAGE", "sv")
    with pytest.raises(ValueError, match="ui_language"):
        Settings(_env_file=None)  # type: ignore[call-arg]
