"""The inbox: unmatched threads with suggested customers, the thread page, link and unlink."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.models import Customer, EmailThread, utcnow
from tests.dashboard.web import csrf_of
from tests.factories_mail import make_customer, make_lead, make_message, make_thread

_THREAD_LINK = re.compile(r'<h2 id="t-\d+"><a href="/dashboard/threads/(\d+)"')


async def _thread(session: AsyncSession, thread_id: int) -> EmailThread:
    session.expire_all()
    thread = (
        await session.execute(select(EmailThread).where(EmailThread.id == thread_id))
    ).scalar_one()
    await session.commit()
    return thread


async def _customer(session: AsyncSession, customer_id: int) -> Customer:
    session.expire_all()
    customer = (
        await session.execute(select(Customer).where(Customer.id == customer_id))
    ).scalar_one()
    await session.commit()
    return customer


async def test_an_empty_inbox_says_there_is_nothing_to_do(browser: httpx.AsyncClient) -> None:
    page = await browser.get("/dashboard/inbox")
    assert page.status_code == 200
    assert "Alle mailtråde er knyttet til kunder" in page.text
    assert "Ikke flere tråde uden kunde" in (await browser.get("/dashboard/inbox?page=3")).text


async def test_unmatched_threads_come_newest_first_with_suggested_customers(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    now = utcnow()
    shared_a = await make_customer(session, name="Hansen VVS", email="kontor@hansen-vvs.dk")
    shared_b = await make_customer(session, name="Hansen VVS Syd", email="syd@hansen-vvs.dk")
    birthe = await make_customer(session, name="Birthe Holm", email="birthe.holm@hotmail.com")
    old = await make_thread(
        session,
        subject="Rengøring af trappe",
        participants=["info@hansen-vvs.dk"],
        last_message_at=now - timedelta(days=3),
        match_note="domain: 2 candidates",
    )
    new = await make_thread(
        session,
        subject="Spørgsmål om pris",
        participants=["birthe.holm@gmail.com"],
        last_message_at=now - timedelta(hours=1),
    )
    await make_thread(
        session,
        subject="Allerede fundet",
        customer_id=birthe.id,
        is_matched=True,
        last_message_at=now,
    )
    await session.commit()
    page = await browser.get("/dashboard/inbox")
    assert page.status_code == 200
    assert [int(n) for n in _THREAD_LINK.findall(page.text)] == [new.id, old.id]
    assert "Allerede fundet" not in page.text
    assert "2 tråde uden kunde" in page.text
    first, second = page.text.split(f'id="t-{old.id}"')
    # The new thread: the same mailbox name at another domain.
    assert "Birthe Holm" in first
    assert "samme navn før @ på et andet domæne" in first
    # The old one: both customers of the company domain, and the matching's note.
    assert "Hansen VVS" in second
    assert "Hansen VVS Syd" in second
    assert "samme firmadomæne" in second
    assert "Flere kunder passer" in second
    for customer in (shared_a, shared_b):
        assert f'name="customer_id" value="{customer.id}"' in second


async def test_linking_a_thread_in_one_action_updates_the_thread_and_the_counters(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    now = utcnow()
    customer = await make_customer(session, name="Birthe Holm", email="birthe.holm@hotmail.com")
    thread = await make_thread(
        session,
        subject="Spørgsmål om pris",
        participants=["birthe.holm@gmail.com"],
        last_message_at=now - timedelta(hours=1),
    )
    await session.commit()
    customer_id = customer.id
    before = await browser.get(f"/dashboard/customers/{customer_id}")  # now cached
    assert "Spørgsmål om pris" not in before.text
    inbox = await browser.get("/dashboard/inbox")
    answer = await browser.post(
        f"/dashboard/threads/{thread.id}/link",
        data={
            "csrf_token": csrf_of(inbox.text),
            "customer_id": str(customer.id),
            "next": "/dashboard/inbox",
        },
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/dashboard/inbox?linked={thread.id}"
    stored = await _thread(session, thread.id)
    assert (stored.customer_id, stored.is_matched, stored.matched_by) == (
        customer_id,
        True,
        "manual",
    )
    assert (await _customer(session, customer_id)).last_contact_at is not None
    page = await browser.get(answer.headers["location"])
    assert "“Spørgsmål om pris” er knyttet til" in page.text
    assert "Alle mailtråde er knyttet til kunder" in page.text
    # The customer's cached 360 view shows the thread: the form's write invalidated it.
    assert "Spørgsmål om pris" in (await browser.get(f"/dashboard/customers/{customer_id}")).text


async def test_the_thread_page_searches_customers_to_link_and_unlinks(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    now = utcnow()
    customer = await make_customer(session, name="Åse Ørum", email="aase@example.dk")
    thread = await make_thread(session, subject="Ny henvendelse", last_message_at=now)
    await make_message(session, thread=thread, sent_at=now - timedelta(hours=2), body_text="Først")
    await make_message(session, thread=thread, sent_at=now - timedelta(hours=1), body_text="Så")
    await session.commit()
    page = await browser.get(f"/dashboard/threads/{thread.id}?q=ørum")
    assert page.status_code == 200
    assert page.text.index("Først") < page.text.index("Så")
    assert "Åse Ørum" in page.text
    assert "Ikke knyttet til en kunde" in page.text
    linked = await browser.post(
        f"/dashboard/threads/{thread.id}/link",
        data={"csrf_token": csrf_of(page.text), "customer_id": str(customer.id)},
    )
    assert linked.status_code == 303
    assert linked.headers["location"] == f"/dashboard/threads/{thread.id}?linked={thread.id}"
    page = await browser.get(linked.headers["location"])
    assert "Fjern tilknytningen til kunden" in page.text
    assert "knyttet manuelt" in page.text
    unlinked = await browser.post(
        f"/dashboard/threads/{thread.id}/unlink",
        data={"csrf_token": csrf_of(page.text), "next": "https://evil.example/steal"},
    )
    assert unlinked.status_code == 303
    # A `next` off the dashboard is ignored: back to the thread's own page.
    assert unlinked.headers["location"] == f"/dashboard/threads/{thread.id}?unlinked={thread.id}"
    stored = await _thread(session, thread.id)
    assert (stored.customer_id, stored.is_matched, stored.matched_by) == (None, False, "manual")
    page = await browser.get(unlinked.headers["location"])
    assert "er ikke længere knyttet til en kunde" in page.text
    assert (
        "Ingen kunde passer til “nobody”"
        in (await browser.get(f"/dashboard/threads/{thread.id}?q=nobody")).text
    )


async def test_a_thread_with_no_messages_and_an_unknown_thread(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    thread = await make_thread(session, subject=None)
    await session.commit()
    page = await browser.get(f"/dashboard/threads/{thread.id}")
    assert "Tråden har ingen gemte beskeder" in page.text
    assert "(intet emne)" in page.text
    assert (await browser.get("/dashboard/threads/999999")).status_code == 404
    assert (await browser.get("/dashboard/threads/99999999999")).status_code == 422


async def test_linking_to_an_unknown_customer_is_refused_and_changes_nothing(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    thread = await make_thread(session)
    await session.commit()
    csrf = csrf_of((await browser.get("/dashboard/inbox")).text)
    for customer_id in ("999999", "abc", "", "-1", "99999999999999999999"):
        answer = await browser.post(
            f"/dashboard/threads/{thread.id}/link",
            data={"csrf_token": csrf, "customer_id": customer_id},
        )
        assert answer.status_code == 422, customer_id
        assert "text/html" in answer.headers["content-type"]
    missing = await browser.post(
        "/dashboard/threads/999999/link", data={"csrf_token": csrf, "customer_id": "1"}
    )
    assert missing.status_code == 404
    stored = await _thread(session, thread.id)
    assert (stored.customer_id, stored.matched_by) == (None, None)


async def test_link_and_unlink_need_the_forms_csrf_token(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    free = await make_thread(session)
    taken = await make_thread(session, customer_id=customer.id, is_matched=True)
    await session.commit()
    customer_id, free_id, taken_id = customer.id, free.id, taken.id
    answer = await browser.post(
        f"/dashboard/threads/{free.id}/link",
        data={"csrf_token": "forged", "customer_id": str(customer.id)},
    )
    assert answer.status_code == 403
    answer = await browser.post(f"/dashboard/threads/{taken.id}/unlink", data={})
    assert answer.status_code == 403
    assert (await _thread(session, free_id)).customer_id is None
    assert (await _thread(session, taken_id)).customer_id == customer_id


async def test_a_lead_in_the_thread_suggests_its_customer(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session, name="Ida Lund", email="ida@lund.dk")
    other = await make_customer(session, name="Ida Lund", email="ida.lund@gmail.com")
    thread = await make_thread(session, participants=["leads@leadpoint.dk"])
    await make_lead(
        session,
        email="ida@lund.dk",
        mailbox_id=thread.mailbox_id,
        gmail_thread_id=thread.gmail_thread_id,
        gmail_message_id="m-lead",
    )
    await make_message(
        session, thread=thread, sent_at=utcnow(), from_name="Ida Lund", from_address="x@y.dk"
    )
    await session.commit()
    page = await browser.get(f"/dashboard/threads/{thread.id}")
    suggestions = page.text.split("Foreslåede kunder")[1].split("Find en kunde at knytte til")[0]
    assert suggestions.index(f'value="{customer.id}"') < suggestions.index(f'value="{other.id}"')
    assert "nævnt i lead-mailen" in suggestions
    assert "samme navn som afsenderen" in suggestions


async def test_two_links_at_once_leave_the_thread_with_one_customer(
    browser: httpx.AsyncClient, session: AsyncSession
) -> None:
    now = utcnow()
    first = await make_customer(session)
    second = await make_customer(session)
    thread = await make_thread(session, last_message_at=now - timedelta(hours=1))
    await session.commit()
    ids = (first.id, second.id)
    thread_id = thread.id
    csrf = csrf_of((await browser.get("/dashboard/inbox")).text)
    answers = await asyncio.gather(
        *(
            browser.post(
                f"/dashboard/threads/{thread_id}/link",
                data={"csrf_token": csrf, "customer_id": str(customer_id)},
            )
            for customer_id in ids
        )
    )
    assert [a.status_code for a in answers] == [303, 303]
    owner = (await _thread(session, thread_id)).customer_id
    assert owner in ids
    # Only the thread's final customer keeps it as their last contact (the counters follow).
    for customer_id in ids:
        last_contact = (await _customer(session, customer_id)).last_contact_at
        assert (last_contact is not None) == (customer_id == owner)
