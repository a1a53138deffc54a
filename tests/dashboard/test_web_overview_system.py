"""The overview and system pages: their figures are the API's, empty states when there is none."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.models import (
    IngestStatus,
    LeadStatus,
    MonitorState,
    UptimeIncident,
    UptimeMonitor,
    utcnow,
)
from tests.factories_bookings import make_booking, make_run
from tests.factories_mail import make_customer, make_lead, make_mailbox, make_thread


def _kpi(html: str, label: str) -> str:
    # The label may be a link to its page (the unmatched threads lead to the inbox).
    found = re.search(
        r'kpi-value">([^<]+)</span><span class="kpi-label">(?:<a href="[^"]*">)?'
        + re.escape(label),
        html,
    )
    assert found is not None, label
    return found.group(1)


async def test_the_overview_of_an_empty_business(browser: httpx.AsyncClient) -> None:
    page = await browser.get("/dashboard")
    assert page.status_code == 200
    assert _kpi(page.text, "Nye leads i dag") == "0"
    assert _kpi(page.text, "Konvertering") == "–"
    for empty in (
        "Ingen leads de seneste 30 dage",
        "Ingen bookinger de næste 7 dage",
        "Ingen postkasse er synkroniseret endnu",
    ):
        assert empty in page.text
    assert "<svg" not in page.text


async def test_the_overview_shows_the_apis_figures(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    now = utcnow()
    customer = await make_customer(session, name="Hans Ærø")
    for status in (LeadStatus.NEW, LeadStatus.WON, LeadStatus.WON, LeadStatus.LOST):
        await make_lead(
            session, status=status, source="adhelp", received_at=now - timedelta(hours=1)
        )
    await make_lead(session, source="website", received_at=now - timedelta(days=20))
    mailbox = await make_mailbox(session, email="info@rendetalje.dk", last_error="token expired")
    await make_thread(session, mailbox_id=mailbox.id)
    await make_run(
        session, mailbox=mailbox, started_at=now - timedelta(minutes=3), status=IngestStatus.FAILED
    )
    await make_booking(
        session,
        customer=customer,
        start=now + timedelta(days=2),
        end=now + timedelta(days=2, hours=2),
    )
    await session.commit()
    stats = (await client.get("/api/dashboard/stats")).json()
    page = await browser.get("/dashboard")
    assert _kpi(page.text, "Nye leads, 30 dage") == str(stats["leads"]["new_30d"]) == "5"
    assert _kpi(page.text, "Åbne leads") == str(stats["leads"]["open"])
    assert _kpi(page.text, "Konvertering") == "40,0\xa0%"  # 2 won of 5
    assert _kpi(page.text, "Ikke-tilknyttede mailtråde") == "1"
    assert '<a href="/dashboard/inbox">Ikke-tilknyttede mailtråde</a>' in page.text
    assert "Hans Ærø" in page.text
    assert "token expired" in page.text
    assert "Fejlet" in page.text  # the last run's result
    assert page.text.count('class="bar"') == 30 + 2 + 6  # days, sources, statuses
    assert "AdHelp: 4" in page.text


async def test_the_system_page_of_a_fresh_install(browser: httpx.AsyncClient) -> None:
    page = await browser.get("/dashboard/system")
    assert page.status_code == 200
    assert "Der har ikke kørt nogen synkronisering endnu" in page.text
    assert "Ingen hændelser registreret" in page.text
    assert "database:responseTime" in page.text
    assert "email_messages" in page.text  # the database report lists every table


async def test_the_system_page_shows_runs_errors_incidents_and_the_cache(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    now = utcnow()
    mailbox = await make_mailbox(session, email="info@rendetalje.dk")
    await make_run(
        session,
        mailbox=mailbox,
        started_at=now - timedelta(hours=1),
        finished_at=now - timedelta(minutes=58),
        status=IngestStatus.PARTIAL,
        new_emails=1234,
        errors=2,
        error_log=[
            {"message_id": "18c0ffee", "reason": "body could not be decoded"},
            {"message_id": None, "reason": "history expired: full resync"},
        ],
    )
    monitor = UptimeMonitor(
        external_id="797",
        friendly_name="leadflow ready",
        url="https://leadflow.example/health/ready",
        state=MonitorState.UP,
        first_seen_at=now - timedelta(days=3),
    )
    session.add(monitor)
    await session.flush()
    session.add(
        UptimeIncident(
            monitor_id=monitor.id,
            started_at=now - timedelta(hours=5),
            ended_at=now - timedelta(hours=4),
            duration_seconds=3600,
            cause="Connection Timeout",
        )
    )
    await session.commit()
    await browser.get("/dashboard")  # a cache miss, then counted on the system page
    page = await browser.get("/dashboard/system")
    for shown in (
        "Delvist gennemført",
        "1.234",
        "body could not be decoded",
        "history expired: full resync",
        "2 bemærkninger eller fejl",
        "leadflow ready",
        "Connection Timeout",
        "60 minutter",
        "Kun hukommelse (ingen Redis sat op)",
    ):
        assert shown in page.text, shown


async def test_the_overview_opens_with_the_leads_waiting_for_an_answer(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    now = utcnow()
    # Target 60 minutes (the default): two past it, one within it, one answered, one closed.
    older = await make_lead(session, name="Ældste Kunde", received_at=now - timedelta(days=2))
    old = await make_lead(session, name="Anden Kunde", received_at=now - timedelta(hours=3))
    fresh = await make_lead(session, name="Ny Kunde", received_at=now - timedelta(minutes=20))
    await make_lead(
        session,
        name="Besvaret Kunde",
        received_at=now - timedelta(hours=5),
        first_response_at=now - timedelta(hours=4),
    )
    await make_lead(
        session, name="Tabt Kunde", status=LeadStatus.LOST, received_at=now - timedelta(days=3)
    )
    await session.commit()
    page = (await browser.get("/dashboard")).text
    section = page.split('id="waiting-heading"')[1].split("</section>")[0]
    listed = re.findall(r'href="/dashboard/leads/(\d+)"', section)
    assert listed == [str(older.id), str(old.id), str(fresh.id)]  # oldest first
    assert "ventet 2 dage" in section
    assert "ventet 3 timer" in section
    assert "ventet 20 minutter" in section
    assert section.count('class="waited-long nowrap"') == 2  # past the target
    assert "2 leads har ventet længere end 60 minutter" in section
    assert "Besvaret Kunde" not in section
    assert "Tabt Kunde" not in section
    # It comes first: before the key figures.
    assert page.index('id="waiting-heading"') < page.index('id="kpi-heading"')
    assert _kpi(page, "Median svartid, 7 dage") == "60 minutter"


async def test_when_every_lead_is_answered_the_overview_says_so(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    now = utcnow()
    await make_lead(
        session, received_at=now - timedelta(hours=2), first_response_at=now - timedelta(hours=1)
    )
    await session.commit()
    page = (await browser.get("/dashboard")).text
    assert "Alle nye leads er besvaret." in page
