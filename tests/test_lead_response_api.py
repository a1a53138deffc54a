"""Lead response time in the API: lead fields, ?awaiting_reply, dashboard figures and metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.dashboard.service import compute_stats
from leadflow.leads.response_time import percentile
from leadflow.leads.responses import refresh_leads
from leadflow.models import Direction, EmailThread, Lead, LeadStatus, Mailbox, utcnow
from tests.factories_mail import make_customer, make_lead, make_mailbox, make_message, make_thread
from tests.monitoring.promtool import check_metrics
from tests.monitoring.scrape import parse, value

T0 = datetime(2031, 6, 10, 8, 0, tzinfo=UTC)
NOW = datetime(2031, 6, 15, 10, 0, tzinfo=UTC)


async def _reply(session: AsyncSession, thread: EmailThread, *, to: str, at: datetime) -> None:
    await make_message(
        session,
        thread=thread,
        sent_at=at,
        direction=Direction.OUTBOUND,
        from_address="info@rendetalje.dk",
        to_addresses=[to],
        labels=["SENT"],
    )


async def _mailbox_thread(session: AsyncSession) -> tuple[Mailbox, EmailThread]:
    mailbox = await make_mailbox(session)
    return mailbox, await make_thread(session, mailbox_id=mailbox.id)


async def test_a_manual_lead_gets_the_reply_already_sent_to_its_address(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, thread = await _mailbox_thread(session)
    await _reply(session, thread, to="ida@example.dk", at=T0 - timedelta(minutes=5))  # before
    await _reply(session, thread, to="ida@example.dk", at=T0 + timedelta(minutes=45))
    await session.commit()
    response = await client.post(
        "/api/leads", json={"email": "Ida@Example.dk", "received_at": T0.isoformat()}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert datetime.fromisoformat(body["first_response_at"]) == T0 + timedelta(minutes=45)
    assert body["response_seconds"] == 45 * 60
    unanswered = await client.post("/api/leads", json={"email": "bo@example.dk"})
    assert unanswered.json()["first_response_at"] is None
    assert unanswered.json()["response_seconds"] is None


async def test_editing_a_leads_email_or_arrival_recomputes_its_answer(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, thread = await _mailbox_thread(session)
    await _reply(session, thread, to="ny@example.dk", at=T0 + timedelta(hours=2))
    lead = await make_lead(session, email="gammel@example.dk", received_at=T0)
    await session.commit()
    moved = await client.patch(f"/api/leads/{lead.id}", json={"email": "ny@example.dk"})
    assert moved.json()["response_seconds"] == 2 * 3600
    later = (T0 + timedelta(hours=3)).isoformat()
    after = await client.patch(f"/api/leads/{lead.id}", json={"received_at": later})
    assert after.json()["first_response_at"] is None


async def test_linking_a_thread_answers_the_customers_leads_and_refreshes_the_cached_list(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    customer = await make_customer(session)
    lead = await make_lead(session, email=customer.email, customer_id=customer.id, received_at=T0)
    _, thread = await _mailbox_thread(session)
    # Written to another address of the customer: only the link makes it an answer.
    await _reply(session, thread, to="kontor@firma.dk", at=T0 + timedelta(minutes=30))
    await session.commit()
    first = await client.get("/api/leads")
    assert first.json()["items"][0]["first_response_at"] is None
    linked = await client.post(f"/api/threads/{thread.id}/link", json={"customer_id": customer.id})
    assert linked.status_code == 200, linked.text
    listed = await client.get("/api/leads")
    assert listed.json()["items"][0]["id"] == lead.id
    assert listed.json()["items"][0]["response_seconds"] == 30 * 60
    unlinked = await client.delete(f"/api/threads/{thread.id}/link")
    assert unlinked.status_code == 200, unlinked.text
    assert (await client.get(f"/api/leads/{lead.id}")).json()["first_response_at"] is None


async def test_awaiting_reply_lists_unanswered_new_leads_oldest_first(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, thread = await _mailbox_thread(session)
    newer = await make_lead(session, email="a@example.dk", received_at=T0 + timedelta(hours=1))
    older = await make_lead(session, email="b@example.dk", received_at=T0)
    answered = await make_lead(session, email="c@example.dk", received_at=T0)
    await _reply(session, thread, to="c@example.dk", at=T0 + timedelta(minutes=10))
    contacted = await make_lead(
        session, email="d@example.dk", received_at=T0, status=LeadStatus.CONTACTED
    )
    spam = await make_lead(session, email="e@example.dk", received_at=T0, status=LeadStatus.SPAM)
    # The rows were written behind the services' back: recompute as the sync would have.
    assert await refresh_leads(session, [answered.id, older.id, newer.id]) == 1
    await session.commit()

    waiting = await client.get("/api/leads", params={"awaiting_reply": "true"})
    assert waiting.status_code == 200, waiting.text
    assert [item["id"] for item in waiting.json()["items"]] == [older.id, newer.id]
    assert waiting.json()["total"] == 2
    others = await client.get("/api/leads", params={"awaiting_reply": "false"})
    assert {item["id"] for item in others.json()["items"]} == {answered.id, contacted.id, spam.id}
    both = await client.get("/api/leads", params={"awaiting_reply": "true", "status": "contacted"})
    assert both.json()["items"] == []


async def test_a_bad_awaiting_reply_value_is_a_422_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/leads", params={"awaiting_reply": "maybe"})
    assert response.status_code == 422
    assert "awaiting_reply" in response.text


async def _answered(
    session: AsyncSession, minutes: float, *, days_ago: int, **fields: object
) -> Lead:
    received = NOW - timedelta(days=days_ago, hours=1)
    answered = received + timedelta(minutes=minutes)
    return await make_lead(session, received_at=received, first_response_at=answered, **fields)


async def test_dashboard_response_times_over_7_and_30_days(session: AsyncSession) -> None:
    recent = [10, 20, 30, 40, 600]
    for minutes in recent:
        await _answered(session, minutes, days_ago=1)
    await _answered(session, 100, days_ago=20)
    await _answered(session, 5000, days_ago=40)  # outside both windows
    await _answered(session, 1, days_ago=1, status=LeadStatus.SPAM)
    original = await _answered(session, 50, days_ago=2)
    await _answered(session, 2, days_ago=1, duplicate_of_id=original.id)
    await make_lead(session, received_at=NOW - timedelta(hours=2))  # past the 60 min target
    await make_lead(session, received_at=NOW - timedelta(minutes=30))
    await make_lead(session, received_at=NOW - timedelta(days=3), status=LeadStatus.QUOTED)
    await session.commit()

    stats = await compute_stats(session, now=NOW, timezone="UTC", response_target_minutes=60)
    times = stats.response_times
    week = sorted([*recent, 50])
    month = sorted([*week, 100])
    assert times.last_7d.answered == len(week)
    assert times.last_7d.median_minutes == percentile(week, 0.5)
    assert times.last_7d.p90_minutes == pytest.approx(percentile(week, 0.9), abs=0.05)
    assert times.last_30d.answered == len(month)
    assert times.last_30d.median_minutes == percentile(month, 0.5)
    assert times.last_30d.p90_minutes == pytest.approx(percentile(month, 0.9), abs=0.05)
    assert (times.waiting, times.waiting_past_target) == (2, 1)
    assert times.oldest_waiting_since == NOW - timedelta(hours=2)
    assert times.target_minutes == 60


async def test_no_answers_give_null_figures(session: AsyncSession) -> None:
    stats = await compute_stats(session, now=NOW, timezone="UTC")
    assert stats.response_times.last_7d.median_minutes is None
    assert stats.response_times.waiting == 0
    assert stats.response_times.oldest_waiting_since is None


async def test_the_stats_endpoint_and_metrics_show_the_same_response_figures(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    now = utcnow()
    for minutes in (15, 45, 240):
        await make_lead(
            session,
            received_at=now - timedelta(hours=5),
            first_response_at=now - timedelta(hours=5) + timedelta(minutes=minutes),
        )
    await make_lead(session, received_at=now - timedelta(hours=3))
    await session.commit()
    stats = (await client.get("/api/dashboard/stats")).json()["response_times"]
    metrics = await client.get("/metrics")
    assert check_metrics(metrics.text).returncode == 0, check_metrics(metrics.text).stdout
    samples = parse(metrics.text)
    assert stats["last_7d"]["answered"] == 3
    assert value(samples, "leadflow_leads_answered", window="7d") == 3
    median = value(samples, "leadflow_lead_response_median_seconds", window="7d")
    assert median == stats["last_7d"]["median_minutes"] * 60 == 45 * 60
    p90 = value(samples, "leadflow_lead_response_p90_seconds", window="30d")
    assert p90 == pytest.approx(stats["last_30d"]["p90_minutes"] * 60)
    assert value(samples, "leadflow_leads_awaiting_reply") == stats["waiting"] == 1
    assert value(samples, "leadflow_leads_awaiting_reply_past_target") == 1
    assert value(samples, "leadflow_lead_response_target_seconds") == 3600
