"""POST /api/threads/rematch and GET /api/matching/stats."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.models import Customer, EmailThread, Mailbox
from leadflow.models.enums import MailProvider

_seq = itertools.count(1)


async def arrange(session: AsyncSession) -> dict[str, int]:
    """A customer, a thread of theirs, an unknown thread and a manually unlinked one."""
    mailbox = Mailbox(email=f"info{next(_seq)}@rendetalje.dk", provider=MailProvider.GMAIL)
    customer = Customer(name="Bo Tag", email="bo@tagrenderne.dk")
    session.add_all([mailbox, customer])
    await session.flush()

    def thread(participants: list[str], **kwargs: Any) -> EmailThread:
        return EmailThread(
            mailbox_id=mailbox.id,
            gmail_thread_id=f"t{next(_seq)}",
            participants=participants,
            **kwargs,
        )

    theirs = thread(["bo@tagrenderne.dk", "info@rendetalje.dk"])
    unknown = thread(["ukendt@gmail.com"])
    unlinked = thread(["bo@tagrenderne.dk"], matched_by="manual")
    session.add_all([theirs, unknown, unlinked])
    await session.commit()
    return {
        "customer": customer.id,
        "theirs": theirs.id,
        "unknown": unknown.id,
        "unlinked": unlinked.id,
    }


async def customer_of(session: AsyncSession, thread_id: int) -> int | None:
    stmt = (
        select(EmailThread.customer_id)
        .where(EmailThread.id == thread_id)
        .execution_options(populate_existing=True)
    )
    customer_id: int | None = (await session.execute(stmt)).scalar_one()
    return customer_id


async def test_rematch_without_a_body_matches_unmatched_threads(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    ids = await arrange(session)

    response = await client.post("/api/threads/rematch")

    assert response.status_code == 200, response.text
    assert response.json() == {
        "examined": 2,
        "matched": 1,
        "matched_by_rule": {"exact_email": 1},
        "ambiguous": 0,
        "unmatched": 1,
        "changed": 1,
    }
    assert await customer_of(session, ids["theirs"]) == ids["customer"]
    assert await customer_of(session, ids["unlinked"]) is None


async def test_rematch_all_re_evaluates_automatic_matches_but_not_manual_ones(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    ids = await arrange(session)
    await client.post("/api/threads/rematch")

    response = await client.post("/api/threads/rematch", json={"all": True})

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["examined"], body["changed"]) == (2, 0)
    assert await customer_of(session, ids["unlinked"]) is None


async def test_rematch_can_be_limited_to_some_threads(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    ids = await arrange(session)

    response = await client.post("/api/threads/rematch", json={"thread_ids": [ids["unknown"]]})

    assert response.status_code == 200, response.text
    assert response.json()["examined"] == 1
    assert await customer_of(session, ids["theirs"]) is None


async def test_stats_report_totals_per_rule_and_match_rate(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    await arrange(session)
    await client.post("/api/threads/rematch")

    response = await client.get("/api/matching/stats")

    assert response.status_code == 200, response.text
    assert response.json() == {
        "total_threads": 3,
        "matched": 1,
        "unmatched": 2,
        "ambiguous": 0,
        "matched_by_rule": {"exact_email": 1},
        "match_rate": 0.3333,
    }


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/api/matching/stats"), ("POST", "/api/threads/rematch")]
)
async def test_the_matching_routes_require_the_token(
    anon_client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await anon_client.request(method, path)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    "body",
    [
        {"all": "maybe"},
        {"all": 1},
        {"thread_ids": "7"},
        {"thread_ids": [0]},
        {"thread_ids": [-3]},
        {"thread_ids": list(range(1, 10_002))},
        {"everything": True},
        [1, 2],
    ],
)
async def test_rematch_rejects_a_bad_body(client: httpx.AsyncClient, body: object) -> None:
    response = await client.post("/api/threads/rematch", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


async def test_rematch_rejects_a_body_that_is_not_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/threads/rematch",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422


async def test_rematch_moves_the_customers_last_contact_with_the_match(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    ids = await arrange(session)
    when = datetime(2026, 10, 5, 14, 0, tzinfo=UTC)
    thread = await session.get(EmailThread, ids["theirs"])
    assert thread is not None
    thread.last_message_at = when
    await session.commit()

    assert (await client.post("/api/threads/rematch")).status_code == 200
    customer = (await client.get(f"/api/customers/{ids['customer']}")).json()
    assert datetime.fromisoformat(customer["last_contact_at"]) == when
