"""The leads pages: list with filters and pages, a lead beside its email, the status change."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.dashboard.web.pages.leads import PAGE_SIZE, parse_filters
from leadflow.models import Lead, LeadStatus, utcnow
from tests.dashboard.web import csrf_of, log_in
from tests.factories_mail import make_customer, make_lead, make_message, make_thread

_LEAD_LINK = re.compile(r'href="/dashboard/leads/(\d+)"')


def _listed(html: str) -> list[int]:
    return [int(n) for n in _LEAD_LINK.findall(html)]


async def _status(session: AsyncSession, lead_id: int) -> LeadStatus:
    status = (await session.execute(select(Lead.status).where(Lead.id == lead_id))).scalar_one()
    await session.commit()  # ends the read: on SQLite a transaction holds the write lock
    return status


async def test_the_list_says_when_there_are_no_leads(browser: httpx.AsyncClient) -> None:
    page = await browser.get("/dashboard/leads")
    assert page.status_code == 200
    assert "Ingen leads endnu" in page.text


async def test_the_list_shows_leads_newest_first_in_pages(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    start = utcnow() - timedelta(days=3)
    ids = [
        (await make_lead(session, received_at=start + timedelta(minutes=i))).id
        for i in range(PAGE_SIZE + 7)
    ]
    await session.commit()
    first = await browser.get("/dashboard/leads")
    assert _listed(first.text) == ids[::-1][:PAGE_SIZE]
    assert 'rel="next" href="?page=2"' in first.text
    second = await browser.get("/dashboard/leads?page=2")
    assert _listed(second.text) == ids[::-1][PAGE_SIZE:]
    assert 'rel="next"' not in second.text
    assert "51–57 af 57" in second.text


async def test_it_filters_by_status_and_source(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    won = await make_lead(session, status=LeadStatus.WON, source="leadpoint")
    await make_lead(session, status=LeadStatus.NEW, source="leadpoint")
    other = await make_lead(session, status=LeadStatus.WON, source="website")
    await session.commit()
    assert _listed((await browser.get("/dashboard/leads?status=won&source=leadpoint")).text) == [
        won.id
    ]
    page = await browser.get("/dashboard/leads?status=won")
    assert sorted(_listed(page.text)) == sorted([won.id, other.id])
    empty = await browser.get("/dashboard/leads?status=spam")
    assert "Ingen leads passer til filtrene" in empty.text


async def test_the_date_filter_cuts_days_in_copenhagen(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    # 22:30 UTC on the 14th of June is 00:30 on the 15th in Copenhagen (summer time).
    late = await make_lead(session, received_at=datetime(2031, 6, 14, 22, 30, tzinfo=UTC))
    early = await make_lead(session, received_at=datetime(2031, 6, 14, 21, 30, tzinfo=UTC))
    last = await make_lead(session, received_at=datetime(2031, 6, 15, 21, 59, tzinfo=UTC))
    await make_lead(session, received_at=datetime(2031, 6, 15, 22, 0, tzinfo=UTC))
    await session.commit()
    page = await browser.get("/dashboard/leads?from=2031-06-15&to=2031-06-15")
    assert sorted(_listed(page.text)) == sorted([late.id, last.id])
    page = await browser.get("/dashboard/leads?to=2031-06-14")
    assert _listed(page.text) == [early.id]


async def test_a_bad_filter_is_named_and_the_rest_still_applies(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    lead = await make_lead(session, status=LeadStatus.LOST)
    await session.commit()
    page = await browser.get("/dashboard/leads?status=lost&from=1.12.2026&page=x")
    assert page.status_code == 422
    assert "En dato skal skrives som 2026-12-01" in page.text
    assert _listed(page.text) == [lead.id]
    page = await browser.get("/dashboard/leads?from=2031-06-16&to=2031-06-15")
    assert "Første dag må ikke ligge efter sidste dag" in page.text


@given(
    st.dictionaries(
        st.sampled_from(["status", "source", "from", "to", "page", "awaiting"]),
        st.text(max_size=30),
    )
)
def test_any_filter_input_is_read_without_an_error(params: dict[str, str]) -> None:
    filters = parse_filters(params)
    assert filters.page >= 1
    for day in (filters.date_from, filters.date_to):
        assert day is None or date(1900, 1, 1) <= day <= date(2999, 12, 31)


async def test_a_date_at_the_end_of_the_calendar_is_refused_not_a_crash(
    browser: httpx.AsyncClient,
) -> None:
    page = await browser.get("/dashboard/leads?to=9999-12-31&from=0001-01-01")
    assert page.status_code == 422
    assert "mellem årene 1900 og 2999" in page.text


def test_filters_round_trip_through_their_links() -> None:
    filters = parse_filters(
        {"status": "new", "source": "adhelp", "from": "2031-01-02", "page": "3"}
    )
    assert filters.errors == []
    again = parse_filters(dict(pair.split("=") for pair in filters.query().split("&")))
    assert again == filters
    assert parse_filters({"to": "2031-01-02"}).date_to == date(2031, 1, 2)
    assert parse_filters({"status": "nope"}).status is None


async def test_a_lead_shows_its_fields_beside_the_original_email(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session, name="Birthe Østergaard")
    thread = await make_thread(session, subject="Nyt lead fra Leadpoint")
    message = await make_message(
        session, thread=thread, sent_at=utcnow(), body_text="Navn: Birthe\nOpgave: Flytterengøring"
    )
    lead = await make_lead(
        session,
        source="leadpoint",
        name="Birthe Østergaard",
        customer_id=customer.id,
        task_type="Flytterengøring",
        square_meters=84.5,
        details={"Etage": "2. sal"},
        mailbox_id=thread.mailbox_id,
        gmail_message_id=message.gmail_message_id,
        gmail_thread_id=thread.gmail_thread_id,
    )
    await session.commit()
    page = await browser.get(f"/dashboard/leads/{lead.id}")
    assert page.status_code == 200
    for shown in (
        "Flytterengøring",
        "84 m²",
        "Etage",
        "2. sal",
        "Leadpoint",
        "Nyt lead fra Leadpoint",
    ):
        assert shown in page.text
    assert "Navn: Birthe\nOpgave: Flytterengøring</pre>" in page.text
    assert "Birthe Østergaard" in page.text  # the customer, as text until its page exists


async def test_a_lead_typed_in_says_it_has_no_email(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    lead = await make_lead(session)
    await session.commit()
    page = await browser.get(f"/dashboard/leads/{lead.id}")
    assert "Leadet er indtastet manuelt" in page.text


async def test_an_unknown_lead_is_the_404_page(browser: httpx.AsyncClient) -> None:
    page = await browser.get("/dashboard/leads/987654")
    assert page.status_code == 404
    assert "Siden findes ikke" in page.text
    for impossible in ("99999999999999999999", "0", "-5", "abc"):
        page = await browser.get(f"/dashboard/leads/{impossible}")
        assert page.status_code == 422, impossible
        assert page.headers["content-type"].startswith("text/html")


async def test_the_page_offers_only_the_allowed_transitions(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    quoted = await make_lead(session, status=LeadStatus.QUOTED)
    won = await make_lead(session, status=LeadStatus.WON)
    await session.commit()
    page = await browser.get(f"/dashboard/leads/{quoted.id}")
    offered = re.findall(r'name="status" value="(\w+)"', page.text)
    assert offered == ["contacted", "won", "lost"]
    page = await browser.get(f"/dashboard/leads/{won.id}")
    assert re.findall(r'name="status" value="(\w+)"', page.text) == []
    assert "Et vundet lead beholder sin status" in page.text


async def test_changing_the_status_in_one_click(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    lead = await make_lead(session)
    await session.commit()
    overview = await browser.get("/dashboard")  # caches the stats: the change must clear them
    assert "Konvertering" in overview.text
    page = await browser.get(f"/dashboard/leads/{lead.id}")
    answer = await browser.post(
        f"/dashboard/leads/{lead.id}/status",
        data={"csrf_token": csrf_of(page.text), "status": "won"},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/dashboard/leads/{lead.id}?changed=won"
    assert await _status(session, lead.id) is LeadStatus.WON
    shown = await browser.get(answer.headers["location"])
    assert "Status ændret til Vundet" in shown.text
    overview = await browser.get("/dashboard")
    assert "100,0\xa0%" in overview.text  # conversion: the cached stats were invalidated


async def test_a_transition_the_rules_refuse_changes_nothing(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    lead = await make_lead(session, status=LeadStatus.WON)
    await session.commit()
    page = await browser.get(f"/dashboard/leads/{lead.id}")
    answer = await browser.post(
        f"/dashboard/leads/{lead.id}/status",
        data={"csrf_token": csrf_of(page.text), "status": "new"},
    )
    assert answer.status_code == 409
    assert 'role="alert"' in answer.text
    assert await _status(session, lead.id) is LeadStatus.WON


@pytest.mark.parametrize("token", [None, "", "forged-token"])
async def test_a_status_change_without_the_right_csrf_token_is_refused(
    browser: httpx.AsyncClient, session: AsyncSession, token: str | None
) -> None:
    lead = await make_lead(session)
    await session.commit()
    data = {"status": "contacted"} | ({"csrf_token": token} if token is not None else {})
    answer = await browser.post(f"/dashboard/leads/{lead.id}/status", data=data)
    assert answer.status_code == 403
    assert "text/html" in answer.headers["content-type"]
    assert await _status(session, lead.id) is LeadStatus.NEW


async def test_the_csrf_token_of_another_session_is_refused(
    browser: httpx.AsyncClient, visitor: httpx.AsyncClient, session: AsyncSession, app: object
) -> None:
    lead = await make_lead(session)
    await session.commit()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        base_url="http://127.0.0.1:8000",
    ) as other:
        await log_in(other)
        foreign = csrf_of((await other.get("/dashboard/system")).text)
    answer = await browser.post(
        f"/dashboard/leads/{lead.id}/status", data={"csrf_token": foreign, "status": "lost"}
    )
    assert answer.status_code == 403
    assert await _status(session, lead.id) is LeadStatus.NEW


async def test_an_unknown_status_is_refused(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    lead = await make_lead(session)
    await session.commit()
    page = await browser.get(f"/dashboard/leads/{lead.id}")
    answer = await browser.post(
        f"/dashboard/leads/{lead.id}/status",
        data={"csrf_token": csrf_of(page.text), "status": "paid"},
    )
    assert answer.status_code == 422
    assert await _status(session, lead.id) is LeadStatus.NEW


async def test_a_logged_out_visitor_cannot_change_a_status(
    app: object, session: AsyncSession
) -> None:
    lead = await make_lead(session)
    await session.commit()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        base_url="http://127.0.0.1:8000",
    ) as anonymous:
        answer = await anonymous.post(f"/dashboard/leads/{lead.id}/status", data={"status": "won"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard/login"
    assert await _status(session, lead.id) is LeadStatus.NEW


async def test_the_lead_links_its_customer_and_thread_to_their_pages(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session, name="Karen Blixen")
    thread = await make_thread(session, subject="Tilbud", customer_id=customer.id)
    message = await make_message(session, thread=thread, sent_at=utcnow())
    lead = await make_lead(
        session,
        customer_id=customer.id,
        mailbox_id=thread.mailbox_id,
        gmail_message_id=message.gmail_message_id,
    )
    await session.commit()
    page = (await browser.get(f"/dashboard/leads/{lead.id}")).text
    assert f'<a href="/dashboard/customers/{customer.id}">Karen Blixen</a>' in page
    assert f'<a href="/dashboard/threads/{thread.id}">Tilbud</a>' in page


async def test_the_waiting_filter_lists_unanswered_new_leads_oldest_first(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    now = utcnow()
    first = await make_lead(session, received_at=now - timedelta(days=3))
    second = await make_lead(session, received_at=now - timedelta(hours=2))
    await make_lead(
        session, received_at=now - timedelta(days=4), first_response_at=now - timedelta(days=3)
    )
    await make_lead(session, status=LeadStatus.QUOTED, received_at=now - timedelta(days=5))
    await session.commit()
    page = await browser.get("/dashboard/leads?awaiting=1")
    assert _listed(page.text) == [first.id, second.id]
    assert 'name="awaiting" type="checkbox" value="1" checked' in page.text


async def test_a_lead_shows_when_it_was_first_answered_or_how_long_it_waits(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    now = utcnow()
    answered = await make_lead(
        session,
        received_at=now - timedelta(hours=5),
        first_response_at=now - timedelta(hours=3),
    )
    waiting = await make_lead(session, received_at=now - timedelta(hours=4))
    await session.commit()
    shown = (await browser.get(f"/dashboard/leads/{answered.id}")).text
    assert "(efter 2 timer)" in shown
    shown = (await browser.get(f"/dashboard/leads/{waiting.id}")).text
    assert "Ikke besvaret endnu: har ventet 4 timer" in shown
