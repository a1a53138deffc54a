"""The dashboard in a real browser (Chromium, headless): pages load cleanly, on a phone too.

Screenshots of every page (desk and phone size) go to test-artifacts/dashboard/ (git-ignored).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from playwright.async_api import Browser, Page, async_playwright
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from leadflow.api.app import create_app
from leadflow.models import IngestStatus, LeadStatus, utcnow
from leadflow.settings import Settings
from tests.dashboard.browser import (
    CHROMIUM,
    DESK,
    PHONE,
    PageProblems,
    has_no_horizontal_scroll,
    log_in,
    screenshot,
    visit_at_every_size,
)
from tests.factories_bookings import make_booking, make_run
from tests.factories_mail import make_customer, make_lead, make_mailbox, make_message, make_thread
from tests.served import served
from tests.services import require_service

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[Browser]:
    require_service("Chromium (/usr/bin/chromium; apt-get install -y chromium)", CHROMIUM.exists())
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--lang=da-DK"]
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def site(settings: Settings, engine: AsyncEngine) -> AsyncIterator[str]:
    """The app on a real server (uvicorn on 127.0.0.1); yields its base URL."""
    async with served(create_app(settings)) as client:
        yield str(client.base_url).rstrip("/")


@pytest.fixture
async def page(chromium: Browser) -> AsyncIterator[Page]:
    context = await chromium.new_context(viewport=DESK, locale="da-DK")  # type: ignore[arg-type]
    page = await context.new_page()
    try:
        yield page
    finally:
        await context.close()


async def _world(session: AsyncSession) -> int:
    """A small business's data: leads of several sources and statuses, mail, bookings, a sync."""
    now = utcnow()
    mailbox = await make_mailbox(session, email="info@rendetalje.dk")
    customer = await make_customer(session, name="Birthe Østergaard", email="birthe@example.dk")
    thread = await make_thread(session, mailbox_id=mailbox.id, subject="Nyt lead fra Leadpoint")
    message = await make_message(
        session,
        thread=thread,
        sent_at=now - timedelta(hours=2),
        body_text="Navn: Birthe Østergaard\nOpgave: Flytterengøring\nStørrelse: 84 m2",
    )
    lead = await make_lead(
        session,
        source="leadpoint",
        name="Birthe Østergaard",
        email="birthe@example.dk",
        customer_id=customer.id,
        task_type="Flytterengøring",
        square_meters=84,
        mailbox_id=mailbox.id,
        gmail_message_id=message.gmail_message_id,
        gmail_thread_id=thread.gmail_thread_id,
        received_at=now - timedelta(hours=2),
    )
    sources = ["rengoring_nu", "adhelp", "website", "leadpoint"]
    for i, status in enumerate([*LeadStatus] * 3):
        await make_lead(
            session,
            source=sources[i % len(sources)],
            status=status,
            received_at=now - timedelta(days=i * 2, hours=i),
        )
    await make_thread(session, mailbox_id=mailbox.id, subject="Spørgsmål om pris")
    await make_booking(
        session,
        customer=customer,
        start=now + timedelta(days=1),
        end=now + timedelta(days=1, hours=3),
    )
    await make_run(
        session,
        mailbox=mailbox,
        started_at=now - timedelta(minutes=5),
        finished_at=now - timedelta(minutes=4),
        status=IngestStatus.PARTIAL,
        errors=1,
        error_log=[{"message_id": "m-1", "reason": "could not decode body"}],
    )
    await session.commit()
    return lead.id


async def _visit(page: Page, url: str) -> PageProblems:
    problems = PageProblems().watch(page)
    answer = await page.goto(url, wait_until="networkidle")
    assert answer is not None
    assert answer.status == 200, url
    return problems


async def test_every_page_loads_cleanly_with_data_and_on_a_phone(
    page: Page, site: str, session: AsyncSession
) -> None:
    lead_id = await _world(session)
    problems = PageProblems().watch(page)
    await log_in(page, site)
    pages = {
        "overview": "/dashboard",
        "leads": "/dashboard/leads",
        "leads-filtered": "/dashboard/leads?status=won",
        "lead": f"/dashboard/leads/{lead_id}",
        "system": "/dashboard/system",
    }
    await visit_at_every_size(page, site, pages)
    assert problems.all == []


async def test_the_pages_load_cleanly_with_no_data(page: Page, site: str) -> None:
    problems = PageProblems().watch(page)
    await log_in(page, site)
    for path in ("/dashboard", "/dashboard/leads", "/dashboard/system"):
        answer = await page.goto(site + path, wait_until="networkidle")
        assert answer is not None
        assert answer.status == 200
        assert await page.locator(".empty").count() > 0, path
    await screenshot(page, "overview-empty")
    assert problems.all == []


async def test_the_overview_fits_a_phone_without_sideways_scrolling(
    chromium: Browser, site: str, session: AsyncSession
) -> None:
    await _world(session)
    context = await chromium.new_context(
        viewport=PHONE,  # type: ignore[arg-type]
        device_scale_factor=3,
        is_mobile=True,
        has_touch=True,
        locale="da-DK",
    )
    try:
        page = await context.new_page()
        problems = PageProblems().watch(page)
        await log_in(page, site)
        assert await has_no_horizontal_scroll(page)
        # Touch-sized controls: every link of the menu and every button at least 44 px high.
        heights = await page.eval_on_selector_all(
            ".mainnav a, button", "els => els.map(e => e.getBoundingClientRect().height)"
        )
        assert heights
        assert min(heights) >= 44
        await screenshot(page, "overview-phone-390x844")
        assert problems.all == []
    finally:
        await context.close()


async def test_logging_in_and_out(page: Page, site: str) -> None:
    problems = PageProblems().watch(page)
    await page.goto(site + "/dashboard/leads")
    assert page.url.startswith(site + "/dashboard/login")
    await screenshot(page, "login")
    token = page.get_by_label("API-nøgle")
    await token.fill("wrong-token")
    await page.get_by_role("button", name="Log ind").click()
    await page.get_by_role("alert").wait_for()
    assert "Nøglen er forkert" in await page.get_by_role("alert").inner_text()
    problems.expect_refusal()  # the refused login answers 401
    await page.get_by_label("API-nøgle").fill("test-token-not-a-secret")
    await page.get_by_role("button", name="Log ind").click()
    await page.wait_for_url(site + "/dashboard/leads")  # back where the visitor was going
    await page.get_by_role("button", name="Log ud").click()
    await page.wait_for_url(site + "/dashboard/login")
    await page.goto(site + "/dashboard")
    assert page.url.startswith(site + "/dashboard/login")
    assert problems.all == []


async def test_changing_a_leads_status_in_the_browser(
    page: Page, site: str, session: AsyncSession
) -> None:
    lead_id = await _world(session)
    problems = PageProblems().watch(page)
    await log_in(page, site)
    await page.goto(f"{site}/dashboard/leads")
    await page.get_by_role("link", name="Birthe Østergaard").click()
    await page.wait_for_url(f"{site}/dashboard/leads/{lead_id}")
    assert await page.locator("#lead-status").inner_text() == "Ny"
    await page.get_by_role("button", name="Markér som kontaktet").click()
    await page.wait_for_url(f"{site}/dashboard/leads/{lead_id}?changed=contacted")
    assert await page.locator("#lead-status").inner_text() == "Kontaktet"
    assert "Status ændret til Kontaktet" in await page.get_by_role("status").inner_text()
    # The menu says the change, too: a new lead is no longer offered "contacted" again.
    assert await page.get_by_role("button", name="Markér som kontaktet").count() == 0
    await screenshot(page, "lead-after-status-change")
    assert problems.all == []


async def test_the_skip_link_is_the_first_stop_for_the_keyboard(page: Page, site: str) -> None:
    await log_in(page, site)
    await page.keyboard.press("Tab")
    focused = await page.evaluate("document.activeElement.className")
    assert focused == "skip-link"
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
