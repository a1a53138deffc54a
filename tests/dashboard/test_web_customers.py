"""The customers pages: search, the customer 360 page, and editing a customer's details."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.models import Customer, Direction, utcnow
from tests.dashboard.web import csrf_of
from tests.factories_bookings import make_booking
from tests.factories_mail import make_customer, make_lead, make_message, make_thread
from tests.query_plans import capture

_CUSTOMER_LINK = re.compile(r'href="/dashboard/customers/(\d+)"')


def _listed(html: str) -> list[int]:
    return [int(n) for n in _CUSTOMER_LINK.findall(html)]


async def _row(session: AsyncSession, customer_id: int) -> Customer:
    session.expire_all()
    customer = (
        await session.execute(select(Customer).where(Customer.id == customer_id))
    ).scalar_one()
    await session.commit()  # ends the read: on SQLite a transaction holds the write lock
    return customer


async def test_the_list_says_when_there_are_no_customers(browser: httpx.AsyncClient) -> None:
    page = await browser.get("/dashboard/customers")
    assert page.status_code == 200
    assert "Ingen kunder endnu" in page.text
    page = await browser.get("/dashboard/customers?q=nobody")
    assert "Ingen kunde passer til “nobody”" in page.text


async def test_it_lists_customers_by_name_and_searches_name_email_and_phone(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    birthe = await make_customer(session, name="Birthe Østergaard", phone="+4522113344")
    karl = await make_customer(session, name="Karl Vinter", email="karl@vinterbyg.dk")
    anna = await make_customer(session, name="Anna Ågård")
    await session.commit()
    assert _listed((await browser.get("/dashboard/customers")).text) == [
        anna.id,
        birthe.id,
        karl.id,
    ]
    # Danish letters fold like the API's search: ø finds Ø, å finds Å.
    assert _listed((await browser.get("/dashboard/customers?q=østergaard")).text) == [birthe.id]
    assert _listed((await browser.get("/dashboard/customers?q=ÅGÅRD")).text) == [anna.id]
    assert _listed((await browser.get("/dashboard/customers?q=vinterbyg")).text) == [karl.id]
    assert _listed((await browser.get("/dashboard/customers?q=22 11 33 44")).text) == [birthe.id]
    page = await browser.get("/dashboard/customers?q=" + "x" * 500 + "&page=abc")
    assert page.status_code == 200


async def test_the_customer_page_shows_profile_threads_with_messages_leads_and_bookings(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    now = utcnow()
    customer = await make_customer(
        session, name="Birthe Østergaard", phone="+4522113344", notes="Nøgle under måtten"
    )
    thread = await make_thread(
        session, subject="Tilbud på flytterengøring", customer_id=customer.id
    )
    await make_message(
        session, thread=thread, sent_at=now - timedelta(days=2), body_text="Hej, kan I komme?"
    )
    await make_message(
        session,
        thread=thread,
        sent_at=now - timedelta(days=1),
        body_text="Ja, vi kommer tirsdag.",
        direction=Direction.OUTBOUND,
    )
    lead = await make_lead(session, customer_id=customer.id, task_type="Flytterengøring")
    await make_booking(
        session,
        customer=customer,
        start=now + timedelta(days=3),
        end=now + timedelta(days=3, hours=2),
        service_type="Vinduespudsning",
    )
    await session.commit()
    page = await browser.get(f"/dashboard/customers/{customer.id}")
    assert page.status_code == 200
    for shown in (
        "Birthe Østergaard",
        "+4522113344",
        "Nøgle under måtten",
        "Tilbud på flytterengøring",
        "Flytterengøring",
        "Vinduespudsning",
        "Sendt af os",
        f'href="/dashboard/threads/{thread.id}"',
        f'href="/dashboard/leads/{lead.id}"',
    ):
        assert shown in page.text, shown
    # The thread's messages in the order they were sent.
    assert page.text.index("Hej, kan I komme?") < page.text.index("Ja, vi kommer tirsdag.")


async def test_an_empty_customer_says_so_and_an_unknown_one_is_404(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    await session.commit()
    page = await browser.get(f"/dashboard/customers/{customer.id}")
    assert "Ingen mailtråde med denne kunde" in page.text
    assert "Ingen kommende bookinger" in page.text
    assert "Ingen leads fra denne kunde" in page.text
    missing = await browser.get("/dashboard/customers/999999")
    assert missing.status_code == 404
    assert "text/html" in missing.headers["content-type"]
    assert (await browser.get("/dashboard/customers/999999/edit")).status_code == 404
    # An id no integer column can hold is refused, not looked up.
    assert (await browser.get("/dashboard/customers/99999999999999999999")).status_code == 422


async def _edit(
    browser: httpx.AsyncClient, customer_id: int, **changes: str
) -> tuple[httpx.Response, dict[str, str]]:
    form_page = await browser.get(f"/dashboard/customers/{customer_id}/edit")
    assert form_page.status_code == 200
    fields = dict(
        re.findall(r'<input id="e-\w+" name="(\w+)" type="\w+" value="([^"]*)"', form_page.text)
    )
    originals = dict(re.findall(r'name="(original_\w+)" value="([^"]*)"', form_page.text))
    data = {**fields, **originals, "status": "active", "notes": "", **changes}
    data["csrf_token"] = csrf_of(form_page.text)
    return await browser.post(f"/dashboard/customers/{customer_id}/edit", data=data), data


async def test_editing_saves_through_the_customer_service(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session, name="Birthe", phone="+4522113344", tags=["vip"])
    await session.commit()
    assert (
        "Birthe Østergaard" not in (await browser.get(f"/dashboard/customers/{customer.id}")).text
    )
    answer, _data = await _edit(
        browser, customer.id, name="Birthe Østergaard", phone="40 50 60 70", tags="vip, flyt"
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/dashboard/customers/{customer.id}?saved=1"
    row = await _row(session, customer.id)
    assert (row.name, row.phone, row.tags) == ("Birthe Østergaard", "+4540506070", ["vip", "flyt"])
    page = await browser.get(answer.headers["location"])
    # The cached 360 view was invalidated by the form's write, as by the API's PATCH.
    assert "Birthe Østergaard" in page.text
    assert "Kundens oplysninger er gemt" in page.text


async def test_a_bad_value_is_named_beside_its_field_and_nothing_is_saved(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session, name="Karl", email="karl@example.dk")
    await session.commit()
    answer, _data = await _edit(browser, customer.id, name="Karl Vinter", email="not-an-email")
    assert answer.status_code == 422
    assert 'id="e-email" name="email" type="email" value="not-an-email"' in answer.text
    assert 'aria-invalid="true" aria-describedby="e-email-error"' in answer.text
    assert "Skriv en gyldig e-mailadresse" in answer.text
    assert "Intet blev gemt" in answer.text
    answer, _data = await _edit(browser, customer.id, phone="12")
    assert answer.status_code == 422
    assert 'id="e-phone-error"' in answer.text
    answer, _data = await _edit(browser, customer.id, postal_code="1" * 17)
    assert answer.status_code == 422
    assert 'id="e-postal_code-error"' in answer.text
    row = await _row(session, customer.id)
    assert (row.name, row.email, row.phone) == ("Karl", "karl@example.dk", None)


async def test_an_email_another_customer_has_is_a_409_on_the_email_field(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    await make_customer(session, email="taken@example.dk")
    customer = await make_customer(session, name="Ida", email="ida@example.dk")
    await session.commit()
    answer, _data = await _edit(browser, customer.id, name="Ida Holm", email="Taken@Example.dk")
    assert answer.status_code == 409
    assert "En anden kunde har allerede denne e-mailadresse" in answer.text
    row = await _row(session, customer.id)
    assert (row.name, row.email) == ("Ida", "ida@example.dk")


async def test_two_edits_of_different_fields_both_stay_as_with_the_api(
    browser: httpx.AsyncClient, client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session, name="Bo", city="Aarhus")
    await session.commit()
    first = await browser.get(f"/dashboard/customers/{customer.id}/edit")
    # Someone else changes the city (through the API) after the form was opened.
    answer = await client.patch(f"/api/customers/{customer.id}", json={"city": "Odense"})
    assert answer.status_code == 200
    fields = dict(
        re.findall(r'<input id="e-\w+" name="(\w+)" type="\w+" value="([^"]*)"', first.text)
    )
    originals = dict(re.findall(r'name="(original_\w+)" value="([^"]*)"', first.text))
    data = {**fields, **originals, "status": "active", "notes": "", "name": "Bo Holm"}
    data["csrf_token"] = csrf_of(first.text)
    saved = await browser.post(f"/dashboard/customers/{customer.id}/edit", data=data)
    assert saved.status_code == 303
    row = await _row(session, customer.id)
    assert (row.name, row.city) == ("Bo Holm", "Odense")


async def test_a_form_without_a_valid_csrf_token_changes_nothing(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session, name="Ole")
    await session.commit()
    for token in (None, "forged"):
        data = {"name": "Hacked"} | ({"csrf_token": token} if token else {})
        answer = await browser.post(f"/dashboard/customers/{customer.id}/edit", data=data)
        assert answer.status_code == 403
    assert (await _row(session, customer.id)).name == "Ole"


async def test_the_customer_page_reads_its_threads_messages_in_one_query(
    browser: httpx.AsyncClient, session: AsyncSession, app: FastAPI
) -> None:
    now = utcnow()
    statements: list[int] = []
    for threads in (1, 6):
        customer = await make_customer(session, name=f"Kunde med {threads} tråde")
        for number in range(threads):
            thread = await make_thread(session, subject=f"Tråd {number}", customer_id=customer.id)
            await make_message(session, thread=thread, sent_at=now - timedelta(hours=number))
        await session.commit()
        url = f"/dashboard/customers/{customer.id}"
        assert (await browser.get(url)).status_code == 200  # the cached 360 view is filled
        with capture(app.state.engine) as captured:
            page = await browser.get(url)
        assert page.status_code == 200
        assert page.text.count('href="/dashboard/threads/') >= threads
        statements.append(len(captured.statements))
    assert statements[0] == statements[1], statements
