"""Slow-answer alerts: once per lead, retried with backoff, claimed atomically, URL never logged.

The web-hook is a real HTTP server (a small ASGI app on uvicorn in a thread) that answers with
a scripted list of status codes and records what it received.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from leadflow.api.app import create_app
from leadflow.db import transaction
from leadflow.leads.response_alerts import (
    AlertPolicy,
    backoff_delays,
    claim,
    send_due_alerts,
)
from leadflow.logs import JsonFormatter, SecretMasker, settings_secrets
from leadflow.models import Lead, LeadStatus, utcnow
from leadflow.settings import Settings
from tests.cache_helpers import wait_until
from tests.factories_mail import make_lead
from tests.fakes.clock import FakeClock
from tests.threaded_server import serve_in_thread

NOW = datetime(2031, 6, 15, 10, 0, tzinfo=UTC)
SECRET_PATH = "/hooks/T000/B000/s3cr3t-hook-token"
POLICY = AlertPolicy(attempts=4, first_delay=2.0, max_delay=5.0)


class Hook:
    """The receiving end: answers each POST with the next scripted status (then 200)."""

    def __init__(self) -> None:
        self.script: list[int] = []
        self.received: list[dict[str, object]] = []
        self._lock = threading.Lock()

    async def endpoint(self, request: Request) -> JSONResponse:
        body = json.loads(await request.body())
        with self._lock:
            self.received.append(body)
            status = self.script.pop(0) if self.script else 200
        return JSONResponse({"ok": status < 300}, status_code=status)


@pytest.fixture
def hook() -> Iterator[tuple[Hook, str]]:
    receiver = Hook()
    app = Starlette(routes=[Route(SECRET_PATH, receiver.endpoint, methods=["POST"])])
    with serve_in_thread(app, name="alert-hook") as base:
        yield receiver, base + SECRET_PATH


async def _waiting(session: AsyncSession, minutes: int, **fields: object) -> Lead:
    lead = await make_lead(session, received_at=NOW - timedelta(minutes=minutes), **fields)
    await session.commit()
    return lead


async def _round(
    sessionmaker: async_sessionmaker[AsyncSession],
    url: str,
    clock: FakeClock,
    *,
    at: datetime = NOW,
) -> tuple[int, int, list[int]]:
    async with httpx.AsyncClient() as client:
        report = await send_due_alerts(
            sessionmaker,
            client=client,
            url=url,
            target_minutes=60,
            policy=POLICY,
            now=lambda: at,
            sleep=clock.sleep,
        )
    return report.sent, report.failed, report.sent_ids


def test_backoff_doubles_up_to_its_cap() -> None:
    assert backoff_delays(POLICY) == [2.0, 4.0, 5.0]
    assert backoff_delays(AlertPolicy(attempts=1)) == []


async def test_a_5xx_is_retried_with_backoff_then_the_alert_is_sent_once(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    hook: tuple[Hook, str],
) -> None:
    receiver, url = hook
    receiver.script = [503, 500]
    lead = await _waiting(session, 90, name="Ida Hansen")
    clock = FakeClock()
    assert await _round(sessionmaker, url, clock) == (1, 0, [lead.id])
    assert clock.sleeps == [2.0, 4.0]
    assert len(receiver.received) == 3
    body = receiver.received[-1]
    assert body["lead_id"] == lead.id
    assert body["waiting_minutes"] == 90
    assert "Ida Hansen" in str(body["text"])
    # Once per lead: another round, as after a restart (new client), sends nothing.
    assert await _round(sessionmaker, url, FakeClock(), at=NOW + timedelta(hours=2)) == (0, 0, [])
    assert len(receiver.received) == 3
    async with sessionmaker() as check:
        sent = await check.scalar(select(Lead.response_alert_sent_at).where(Lead.id == lead.id))
    assert sent == NOW


async def test_a_permanent_error_waits_for_the_claim_to_go_stale(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    hook: tuple[Hook, str],
) -> None:
    receiver, url = hook
    receiver.script = [404]
    await _waiting(session, 120)
    clock = FakeClock()
    assert await _round(sessionmaker, url, clock) == (0, 1, [])
    assert (len(receiver.received), clock.sleeps) == (1, [])
    assert await _round(sessionmaker, url, clock, at=NOW + timedelta(minutes=5)) == (0, 0, [])
    later = NOW + POLICY.claim_ttl + timedelta(minutes=1)
    sent, failed, _ = await _round(sessionmaker, url, clock, at=later)
    assert (sent, failed, len(receiver.received)) == (1, 0, 2)


async def test_it_gives_up_after_the_last_attempt(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    hook: tuple[Hook, str],
) -> None:
    receiver, url = hook
    receiver.script = [500] * POLICY.attempts
    await _waiting(session, 61)
    clock = FakeClock()
    assert await _round(sessionmaker, url, clock) == (0, 1, [])
    assert len(receiver.received) == POLICY.attempts
    assert clock.sleeps == backoff_delays(POLICY)


async def test_an_unreachable_hook_is_retried_and_reported(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    await _waiting(session, 61)
    clock = FakeClock()
    # Port 9 (discard) on loopback: nothing listens, the connection is refused.
    assert await _round(sessionmaker, "http://127.0.0.1:9/hook", clock) == (0, 1, [])
    assert clock.sleeps == backoff_delays(POLICY)


async def test_only_unanswered_new_leads_past_the_target_and_recent_enough_alert(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    hook: tuple[Hook, str],
) -> None:
    receiver, url = hook
    due = await _waiting(session, 61)
    await _waiting(session, 59)  # within the target
    await _waiting(session, 90, first_response_at=NOW - timedelta(minutes=10))  # answered
    await _waiting(session, 90, status=LeadStatus.CONTACTED)
    await _waiting(session, 90, status=LeadStatus.SPAM)
    await _waiting(session, int(POLICY.max_age.total_seconds() // 60) + 5)  # too old
    assert await _round(sessionmaker, url, FakeClock()) == (1, 0, [due.id])
    assert [body["lead_id"] for body in receiver.received] == [due.id]


async def test_two_workers_racing_for_one_lead_send_one_alert(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    hook: tuple[Hook, str],
) -> None:
    receiver, url = hook
    lead = await _waiting(session, 75)
    results = await asyncio.gather(*(_round(sessionmaker, url, FakeClock()) for _ in range(2)))
    assert sorted(sent for sent, _, _ in results) == [0, 1]
    assert [body["lead_id"] for body in receiver.received] == [lead.id]


async def test_a_claim_succeeds_for_only_one_of_two_sessions(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> None:
    lead = await _waiting(session, 75)
    outcomes = []
    for _ in range(2):
        async with transaction(sessionmaker) as worker:
            outcomes.append(await claim(worker, lead.id, now=NOW, target_minutes=60, policy=POLICY))
    assert outcomes == [True, False]


async def test_the_hook_url_is_never_logged(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    hook: tuple[Hook, str],
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver, url = hook
    receiver.script = [500, 500, 500, 500]
    await _waiting(session, 61)
    with caplog.at_level(logging.DEBUG):
        await _round(sessionmaker, url, FakeClock())
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("leadflow")]
    assert ours, "the failure is logged"
    assert not any("s3cr3t" in line for line in ours)
    # Every line, httpx's own included, as the configured formatter writes it.
    configured = settings.model_copy(update={"response_alert_webhook_url": SecretStr(url)})
    formatter = JsonFormatter(SecretMasker(settings_secrets(configured)))
    written = "\n".join(formatter.format(record) for record in caplog.records)
    assert "s3cr3t" not in written


@pytest.mark.postgres_only
async def test_two_workers_that_both_found_the_lead_due_send_one_alert(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    hook: tuple[Hook, str],
) -> None:
    """Both workers list the lead, then claim it at the same moment: one claim wins."""
    receiver, url = hook
    lead = await _waiting(session, 75)
    async with sessionmaker() as blocker, blocker.begin():
        # Hold the row: both workers get past their (plain) due-list query and wait in the
        # claim's UPDATE; released together, PostgreSQL re-checks the second one's WHERE.
        await blocker.execute(select(Lead.id).where(Lead.id == lead.id).with_for_update())
        workers = [asyncio.create_task(_round(sessionmaker, url, FakeClock())) for _ in range(2)]
        await _until_waiting(blocker, workers, count=2)
    results = await asyncio.gather(*workers)
    assert sorted(sent for sent, _, _ in results) == [0, 1]
    assert [body["lead_id"] for body in receiver.received] == [lead.id]


async def _until_waiting(
    session: AsyncSession, tasks: list[asyncio.Task[tuple[int, int, list[int]]]], *, count: int
) -> None:
    """Return once `count` other transactions wait for a lock (bounded; no task may finish)."""
    query = text("SELECT count(*) FROM pg_locks WHERE NOT granted")
    for _ in range(2000):
        assert not any(task.done() for task in tasks), "a worker finished without waiting"
        if (await session.execute(query)).scalar_one() >= count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the workers never waited for the locked row")


async def test_serve_sends_alerts_in_the_background_without_gmail(
    settings: Settings, session: AsyncSession, hook: tuple[Hook, str]
) -> None:
    receiver, url = hook
    lead = await make_lead(session, received_at=utcnow() - timedelta(hours=2))
    await session.commit()
    configured = settings.model_copy(update={"response_alert_webhook_url": SecretStr(url)})
    app = create_app(configured, background_sync=True)
    async with LifespanManager(app):
        await wait_until(lambda: len(receiver.received) == 1)
    assert receiver.received[0]["lead_id"] == lead.id
