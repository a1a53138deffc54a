"""The customers, inbox and bookings pages in a real browser (Chromium, headless).

Reuses the harness of `test_browser.py` (Debian's Chromium, the app on a real server).
Screenshots go to test-artifacts/dashboard/ (git-ignored).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import Page
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.models import Booking, EmailThread, utcnow
from tests.dashboard.browser import (
    PHONE,
    PageProblems,
    has_no_horizontal_scroll,
    log_in,
    screenshot,
    visit_at_every_size,
)
from tests.dashboard.test_browser import chromium, page, site
from tests.factories_bookings import make_booking
from tests.factories_mail import make_customer, make_lead, make_mailbox, make_message, make_thread

pytestmark = pytest.mark.slow
__all__ = ["chromium", "page", "site"]  # the harness's fixtures, used here by name


async def _world(session: AsyncSession) -> dict[str, int]:
    """Customers with mail, leads and bookings; an unmatched thread with a near miss."""
    now = utcnow()
    mailbox = await make_mailbox(session, email="info@rendetalje.dk")
    birthe = await make_customer(
        session,
        name="Birthe Østergaard",
        email="birthe.ostergaard@hotmail.com",
        phone="+4522113344",
        address="Vestergade 1",
        postal_code="8000",
        city="Aarhus C",
        tags=["fast kunde"],
        notes="Nøglen ligger under måtten.",
    )
    karl = await make_customer(session, name="Karl Vinter", email="karl@vinterbyg.dk")
    matched = await make_thread(
        session,
        mailbox_id=mailbox.id,
        subject="Tilbud på flytterengøring",
        customer_id=birthe.id,
        is_matched=True,
    )
    await make_message(
        session,
        thread=matched,
        sent_at=now - timedelta(days=2),
        from_name="Birthe Østergaard",
        body_text="Hej\n\nKan I gøre lejligheden ren til 1. januar?\n\nVenlig hilsen Birthe",
    )
    lead = await make_lead(
        session, customer_id=birthe.id, task_type="Flytterengøring", received_at=now
    )
    unmatched = await make_thread(
        session,
        mailbox_id=mailbox.id,
        subject="Spørgsmål om vinduespudsning",
        participants=["birthe.ostergaard@gmail.com"],
        last_message_at=now - timedelta(hours=1),
    )
    await make_message(
        session,
        thread=unmatched,
        sent_at=now - timedelta(hours=1),
        from_name="Birthe Østergaard",
        from_address="birthe.ostergaard@gmail.com",
        body_text="Hvad koster vinduespudsning af et rækkehus?",
    )
    week_start = (now + timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)
    booking = await make_booking(
        session,
        customer=birthe,
        start=week_start,
        end=week_start + timedelta(hours=3),
        team="hold a",
        service_type="Flytterengøring",
        lead_id=lead.id,
    )
    await make_booking(
        session,
        customer=karl,
        start=week_start + timedelta(hours=4),
        end=week_start + timedelta(hours=6),
        team="hold b",
    )
    await session.commit()
    return {
        "birthe": birthe.id,
        "karl": karl.id,
        "matched": matched.id,
        "unmatched": unmatched.id,
        "booking": booking.id,
    }


async def test_every_new_page_loads_cleanly_at_desk_and_phone_size(
    page: Page, site: str, session: AsyncSession
) -> None:
    ids = await _world(session)
    problems = PageProblems().watch(page)
    await log_in(page, site)
    pages = {
        "customers": "/dashboard/customers",
        "customers-search": "/dashboard/customers?q=østergaard",
        "customer": f"/dashboard/customers/{ids['birthe']}",
        "customer-edit": f"/dashboard/customers/{ids['birthe']}/edit",
        "inbox": "/dashboard/inbox",
        "thread": f"/dashboard/threads/{ids['unmatched']}?q=birthe",
        "thread-matched": f"/dashboard/threads/{ids['matched']}",
        "bookings-week": "/dashboard/bookings",
        "bookings-list": "/dashboard/bookings/list",
        "booking": f"/dashboard/bookings/{ids['booking']}",
        "booking-pick-customer": "/dashboard/bookings/new?q=vinter",
        "booking-new": f"/dashboard/bookings/new?customer_id={ids['karl']}",
    }
    await visit_at_every_size(page, site, pages)
    assert problems.all == []


async def test_the_new_pages_load_cleanly_with_no_data(page: Page, site: str) -> None:
    problems = PageProblems().watch(page)
    await log_in(page, site)
    await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    for path in (
        "/dashboard/customers",
        "/dashboard/inbox",
        "/dashboard/bookings",
        "/dashboard/bookings/list",
    ):
        answer = await page.goto(site + path, wait_until="networkidle")
        assert answer is not None
        assert answer.status == 200
        assert await page.locator(".empty").count() > 0, path
        assert await has_no_horizontal_scroll(page), path
        await screenshot(page, path.strip("/").replace("/", "-") + "-empty")
    assert problems.all == []


async def test_searching_customers_by_keyboard(
    page: Page, site: str, session: AsyncSession
) -> None:
    ids = await _world(session)
    problems = PageProblems().watch(page)
    await log_in(page, site)
    await page.goto(site + "/dashboard/customers")
    await page.get_by_label("Søg på navn, e-mail eller telefon").fill("ØSTERGAARD")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/dashboard/customers?q=*")
    results = page.locator(".customer-list .item-title")
    assert await results.all_inner_texts() == ["Birthe Østergaard"]
    await results.first.click()
    await page.wait_for_url(f"{site}/dashboard/customers/{ids['birthe']}")
    assert "Kan I gøre lejligheden ren" in await page.locator("#main").inner_text()
    await screenshot(page, "customer-after-search")
    assert problems.all == []


async def test_linking_an_unmatched_thread_to_its_suggested_customer(
    page: Page, site: str, session: AsyncSession
) -> None:
    ids = await _world(session)
    problems = PageProblems().watch(page)
    await log_in(page, site)
    await page.goto(site + "/dashboard/inbox")
    thread = page.locator(f"article[aria-labelledby='t-{ids['unmatched']}']")
    assert "samme navn før @ på et andet domæne" in await thread.inner_text()
    await screenshot(page, "inbox-before-link")
    await thread.get_by_role(
        "button", name="Knyt “Spørgsmål om vinduespudsning” til Birthe Østergaard"
    ).click()
    await page.wait_for_url(f"{site}/dashboard/inbox?linked={ids['unmatched']}")
    notice = await page.get_by_role("status").inner_text()
    assert "“Spørgsmål om vinduespudsning” er knyttet til Birthe Østergaard" in notice
    assert "Alle mailtråde er knyttet til kunder" in await page.locator("#main").inner_text()
    await screenshot(page, "inbox-after-link")
    stored = (
        await session.execute(
            select(EmailThread.customer_id, EmailThread.matched_by).where(
                EmailThread.id == ids["unmatched"]
            )
        )
    ).one()
    await session.commit()
    assert tuple(stored) == (ids["birthe"], "manual")
    # Unlink from the thread page, then link again through the search.
    await page.goto(f"{site}/dashboard/threads/{ids['unmatched']}")
    await page.get_by_role("button", name="Fjern tilknytningen til kunden").click()
    await page.wait_for_url(f"**/dashboard/threads/{ids['unmatched']}?unlinked=*")
    await page.get_by_label("Find en kunde at knytte til").fill("vinter")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**?q=vinter")
    await page.get_by_role(
        "button", name="Knyt “Spørgsmål om vinduespudsning” til Karl Vinter"
    ).click()
    await page.wait_for_url(f"**/dashboard/threads/{ids['unmatched']}?linked=*")
    assert "knyttet til Karl Vinter" in await page.get_by_role("status").inner_text()
    assert problems.all == []


async def test_creating_a_booking_and_seeing_the_conflict_of_an_overlapping_one(
    page: Page, site: str, session: AsyncSession
) -> None:
    ids = await _world(session)
    problems = PageProblems().watch(page)
    await log_in(page, site)
    await page.goto(f"{site}/dashboard/bookings/new?q=vinter")
    await page.get_by_role("link", name="Karl Vinter").click()
    await page.wait_for_url(f"**/dashboard/bookings/new?customer_id={ids['karl']}")
    await page.get_by_label("Dato", exact=True).fill("2031-06-10")
    await page.get_by_label("Fra", exact=True).fill("09:00")
    await page.get_by_label("Til", exact=True).fill("12:00")
    await page.get_by_label("Hold", exact=True).fill("Hold C")
    await page.get_by_label("Ydelse", exact=True).fill("Hovedrengøring")
    await page.get_by_role("button", name="Opret booking").click()
    await page.wait_for_url("**/dashboard/bookings/*?saved=created")
    assert "Bookingen er oprettet" in await page.get_by_role("status").inner_text()
    first_url = page.url
    # The same team an hour later overlaps it: the form says with which booking, and when.
    await page.goto(f"{site}/dashboard/bookings/new?customer_id={ids['birthe']}")
    await page.get_by_label("Dato", exact=True).fill("2031-06-10")
    await page.get_by_label("Fra", exact=True).fill("10:00")
    await page.get_by_label("Til", exact=True).fill("13:00")
    await page.get_by_label("Hold", exact=True).fill("hold c")
    await page.get_by_role("button", name="Opret booking").click()
    alert = page.locator("#conflict")
    await alert.wait_for()
    text = await alert.inner_text()
    assert "Ikke gemt: holdet “hold c” er allerede booket på det tidspunkt" in text
    assert "for Karl Vinter" in text
    assert "tirs. 10. jun. 09.00–12.00" in text
    problems.expect_refusal()  # the refused booking answers 409
    await screenshot(page, "booking-conflict")
    await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    assert await has_no_horizontal_scroll(page)
    await screenshot(page, "booking-conflict-phone")
    count = (
        await session.execute(
            select(Booking.id).where(Booking.start_time == datetime(2031, 6, 10, 8, tzinfo=UTC))
        )
    ).all()
    await session.commit()
    assert count == []
    # The conflict links to the booking in the way.
    await alert.get_by_role("link").click()
    await page.wait_for_url(first_url.split("?")[0])
    assert problems.all == []
