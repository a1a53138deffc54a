from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.models import Direction
from tests.factories_mail import make_customer, make_mailbox, make_message, make_thread

T0 = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


def error_fields(response: httpx.Response) -> list[str]:
    return [item["field"] for item in response.json()["error"]["details"]]


async def thread_ids(
    client: httpx.AsyncClient, path: str = "/api/threads", **params: Any
) -> list[int]:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def test_it_lists_threads_newest_first_with_undated_ones_last(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    mailbox = await make_mailbox(session)
    undated = await make_thread(session, mailbox_id=mailbox.id, last_message_at=None)
    old = await make_thread(session, mailbox_id=mailbox.id, last_message_at=T0)
    tie_first = await make_thread(session, mailbox_id=mailbox.id, last_message_at=T0 + timedelta(1))
    tie_second = await make_thread(
        session, mailbox_id=mailbox.id, last_message_at=T0 + timedelta(1)
    )
    await session.commit()

    assert await thread_ids(client) == [tie_second.id, tie_first.id, old.id, undated.id]


async def test_it_pages_threads_with_total_and_next_link(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    mailbox = await make_mailbox(session)
    for hour in range(3):
        await make_thread(
            session, mailbox_id=mailbox.id, last_message_at=T0 + timedelta(hours=hour)
        )
    await session.commit()

    first = (await client.get("/api/threads", params={"limit": 2})).json()
    assert first["total"] == 3
    assert len(first["items"]) == 2
    assert first["next"] is not None
    second = (await client.get(first["next"])).json()
    assert len(second["items"]) == 1
    assert second["next"] is None
    seen = {item["id"] for item in first["items"] + second["items"]}
    assert len(seen) == 3


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 201}, "query.limit"),
        ({"limit": 0}, "query.limit"),
        ({"matched": "maybe"}, "query.matched"),
        ({"customer_id": "abc"}, "query.customer_id"),
    ],
)
async def test_it_rejects_bad_thread_list_parameters(
    client: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    response = await client.get("/api/threads", params=params)
    assert response.status_code == 422
    assert field in error_fields(response)


async def test_it_filters_threads_by_match_state_and_customer(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    alice = await make_customer(session)
    bob = await make_customer(session)
    mailbox = await make_mailbox(session)
    alices = await make_thread(
        session, mailbox_id=mailbox.id, customer_id=alice.id, is_matched=True, last_message_at=T0
    )
    bobs = await make_thread(
        session,
        mailbox_id=mailbox.id,
        customer_id=bob.id,
        is_matched=True,
        last_message_at=T0 + timedelta(hours=1),
    )
    loose = await make_thread(session, mailbox_id=mailbox.id, last_message_at=T0)
    await session.commit()

    assert await thread_ids(client, matched="true") == [bobs.id, alices.id]
    assert await thread_ids(client, matched="false") == [loose.id]
    assert await thread_ids(client, customer_id=alice.id) == [alices.id]
    assert await thread_ids(client, customer_id=alice.id, matched="false") == []


async def test_it_shows_a_thread_with_its_messages_in_sent_order(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    thread = await make_thread(session, subject="Hovedrengøring", message_count=3)
    other = await make_thread(session, mailbox_id=thread.mailbox_id)
    reply = await make_message(
        session,
        thread=thread,
        sent_at=T0 + timedelta(hours=2),
        direction=Direction.OUTBOUND,
        body_text="Vi kan komme tirsdag.",
    )
    first = await make_message(
        session,
        thread=thread,
        sent_at=T0,
        body_text="Hej, kan I gøre rent hos mig?",
        to_addresses=["info@rendetalje.dk"],
        attachments=[{"filename": "plan.pdf", "mime_type": "application/pdf", "size_bytes": 10}],
        has_attachments=True,
    )
    undated = await make_message(session, thread=thread, sent_at=None)
    await make_message(session, thread=other, sent_at=T0 + timedelta(hours=1))
    await session.commit()

    response = await client.get(f"/api/threads/{thread.id}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["subject"] == "Hovedrengøring"
    assert body["message_count"] == 3
    messages = body["messages"]
    assert [m["id"] for m in messages] == [first.id, reply.id, undated.id]
    assert messages[0]["body_text"] == "Hej, kan I gøre rent hos mig?"
    assert messages[0]["to_addresses"] == ["info@rendetalje.dk"]
    assert messages[0]["attachments"][0]["filename"] == "plan.pdf"
    assert messages[1]["direction"] == "outbound"


async def test_it_shows_a_thread_without_messages(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    thread = await make_thread(session)
    await session.commit()
    response = await client.get(f"/api/threads/{thread.id}")
    assert response.status_code == 200
    assert response.json()["messages"] == []


async def test_it_answers_404_for_a_missing_thread(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/threads/4242")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_it_links_a_thread_to_a_customer_by_hand(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    thread = await make_thread(
        session, is_matched=False, matched_by="rule", confidence=0.4, match_note="weak match"
    )
    await session.commit()

    before = datetime.now(UTC)
    response = await client.post(
        f"/api/threads/{thread.id}/link", json={"customer_id": customer.id}
    )
    after = datetime.now(UTC)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["customer_id"] == customer.id
    assert body["is_matched"] is True
    assert body["matched_by"] == "manual"
    assert body["confidence"] == 1.0
    assert body["match_note"] is None
    assert before <= datetime.fromisoformat(body["matched_at"]) <= after
    assert await thread_ids(client, f"/api/customers/{customer.id}/threads") == [thread.id]


@pytest.mark.parametrize(
    "payload",
    [{}, {"customer_id": "abc"}, {"customer_id": 0}, {"customer_id": None}],
)
async def test_it_rejects_a_bad_link_body(
    client: httpx.AsyncClient, session: AsyncSession, payload: dict[str, Any]
) -> None:
    thread = await make_thread(session)
    await session.commit()
    response = await client.post(f"/api/threads/{thread.id}/link", json=payload)
    assert response.status_code == 422
    assert "body.customer_id" in error_fields(response)


async def test_it_answers_422_when_linking_to_a_missing_customer(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    thread = await make_thread(session)
    await session.commit()
    response = await client.post(f"/api/threads/{thread.id}/link", json={"customer_id": 9999})
    assert response.status_code == 422  # a body naming a missing row; 404 is for the path
    assert "customer 9999" in response.json()["error"]["message"]
    assert error_fields(response) == ["body.customer_id"]
    unchanged = (await client.get(f"/api/threads/{thread.id}")).json()
    assert unchanged["customer_id"] is None
    assert unchanged["matched_by"] is None


async def test_it_answers_404_when_linking_a_missing_thread(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    await session.commit()
    response = await client.post("/api/threads/4242/link", json={"customer_id": customer.id})
    assert response.status_code == 404
    assert "thread 4242" in response.json()["error"]["message"]


async def test_it_unlinks_a_thread_as_a_manual_decision(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    thread = await make_thread(
        session,
        customer_id=customer.id,
        is_matched=True,
        matched_by="email",
        confidence=0.9,
        matched_at=T0,
    )
    await session.commit()

    response = await client.delete(f"/api/threads/{thread.id}/link")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["customer_id"] is None
    assert body["is_matched"] is False
    assert body["matched_by"] == "manual"
    assert body["confidence"] is None
    assert datetime.fromisoformat(body["matched_at"]) > T0
    assert await thread_ids(client, f"/api/customers/{customer.id}/threads") == []
    assert await thread_ids(client, matched="false") == [thread.id]


async def test_it_answers_404_when_unlinking_a_missing_thread(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/threads/4242/link")
    assert response.status_code == 404


async def test_it_lists_the_threads_of_one_customer_newest_first(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    other = await make_customer(session)
    mailbox = await make_mailbox(session)
    older = await make_thread(
        session, mailbox_id=mailbox.id, customer_id=customer.id, last_message_at=T0
    )
    newer = await make_thread(
        session,
        mailbox_id=mailbox.id,
        customer_id=customer.id,
        last_message_at=T0 + timedelta(days=1),
    )
    await make_thread(session, mailbox_id=mailbox.id, customer_id=other.id, last_message_at=T0)
    await session.commit()

    response = await client.get(f"/api/customers/{customer.id}/threads", params={"limit": 1})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 2
    assert [item["id"] for item in body["items"]] == [newer.id]
    following = (await client.get(body["next"])).json()
    assert [item["id"] for item in following["items"]] == [older.id]


async def test_it_answers_404_for_the_threads_of_a_missing_customer(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/customers/9999/threads")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/threads"),
        ("GET", "/api/threads/1"),
        ("POST", "/api/threads/1/link"),
        ("DELETE", "/api/threads/1/link"),
        ("GET", "/api/customers/1/threads"),
    ],
)
async def test_it_requires_a_token_for_thread_routes(
    anon_client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await anon_client.request(method, path, json={"customer_id": 1})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_linking_and_unlinking_moves_the_customers_last_contact(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    when = datetime(2026, 10, 5, 14, 0, tzinfo=UTC)
    first = await make_customer(session)
    second = await make_customer(session)
    thread = await make_thread(session, last_message_at=when)
    await session.commit()

    async def last_contact(customer_id: int) -> object:
        return (await client.get(f"/api/customers/{customer_id}")).json()["last_contact_at"]

    linked = await client.post(f"/api/threads/{thread.id}/link", json={"customer_id": first.id})
    assert linked.status_code == 200
    assert datetime.fromisoformat(str(await last_contact(first.id))) == when
    moved = await client.post(f"/api/threads/{thread.id}/link", json={"customer_id": second.id})
    assert moved.status_code == 200
    assert await last_contact(first.id) is None
    assert datetime.fromisoformat(str(await last_contact(second.id))) == when
    assert (await client.delete(f"/api/threads/{thread.id}/link")).status_code == 200
    assert await last_contact(second.id) is None
