"""GET /api/threads/{id}/suggestions: the customers that came close to matching a thread."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories_mail import make_customer, make_message, make_thread


async def test_it_lists_near_misses_best_first_with_their_reasons(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    a = await make_customer(session, name="Hansen VVS", email="kontor@hansen-vvs.dk")
    b = await make_customer(session, name="Hansen VVS Syd", email="syd@hansen-vvs.dk")
    phone = await make_customer(session, name="Bo", email="bo@gmail.com", phone="+4522113344")
    thread = await make_thread(session, participants=["info@hansen-vvs.dk"])
    await make_message(
        session, thread=thread, sent_at=None, body_text="Ring på 22 11 33 44", from_name="Bo"
    )
    await session.commit()
    answer = await client.get(f"/api/threads/{thread.id}/suggestions")
    assert answer.status_code == 200
    body = answer.json()
    assert [item["customer"]["id"] for item in body] == [phone.id, a.id, b.id]
    assert body[0]["reasons"] == ["phone", "same_name"]
    assert body[1]["reasons"] == ["domain"]
    assert body[0]["score"] > body[1]["score"]


async def test_a_matched_threads_own_customer_is_left_out(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session, email="kunde@gmail.com")
    thread = await make_thread(
        session, participants=["kunde@gmail.com"], customer_id=customer.id, is_matched=True
    )
    await session.commit()
    answer = await client.get(f"/api/threads/{thread.id}/suggestions")
    assert answer.json() == []


async def test_an_unknown_thread_is_404_and_the_token_is_required(
    client: httpx.AsyncClient, anon_client: httpx.AsyncClient, session: AsyncSession
) -> None:
    missing = await client.get("/api/threads/999999/suggestions")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert (await anon_client.get("/api/threads/1/suggestions")).status_code == 401
