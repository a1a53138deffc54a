"""Alert a web-hook when a new lead waits past the response target (LEADFLOW_RESPONSE_ALERT_…).

Runs beside the sync in `serve` and `worker` (its own task, its own short transactions), so a
slow or failing web-hook never holds up the sync. Once per lead, across restarts and several
processes:

1. claim: one atomic UPDATE sets `response_alert_claimed_at` only while the lead is still
   waiting, unsent and unclaimed (or its claim went stale): of two workers racing for a lead,
   exactly one sees its row updated, and it commits before it sends;
2. send: POST the JSON alert, retried with exponential backoff on transport errors, 429 and 5xx
   (other 4xx are permanent);
3. mark sent, fenced on the claim: `response_alert_sent_at` is set only while our claim stands.

A worker that dies between sending and marking leaves a claim that goes stale after
`claim_ttl`; the alert is then sent again (at least once, not at most once). A claim whose
sending failed also waits out `claim_ttl` before the next try: a broken endpoint is retried
every quarter hour, not hammered. The alert carries `lead_id`, so a receiver can drop repeats.

The URL may hold a secret (Slack-style hook paths): it is never logged, and errors name only
the exception type or the status code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow.db import transaction
from leadflow.leads.responses import awaiting_reply_filter
from leadflow.models import Lead, utcnow
from leadflow.settings import Settings

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Now = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    attempts: int = 5
    first_delay: float = 2.0
    max_delay: float = 60.0
    claim_ttl: timedelta = timedelta(minutes=15)
    # Leads older than this are not alerted on: turning alerts on must not page for every lead
    # that was left unanswered months ago.
    max_age: timedelta = timedelta(days=7)
    batch: int = 50
    interval: float = 60.0  # seconds between two looks for leads to alert on
    timeout: float = 10.0


def backoff_delays(policy: AlertPolicy) -> list[float]:
    """The waits between the attempts: doubling from `first_delay`, capped at `max_delay`."""
    return [min(policy.first_delay * 2**n, policy.max_delay) for n in range(policy.attempts - 1)]


def alert_payload(lead: Lead, *, now: datetime, target_minutes: int) -> dict[str, Any]:
    """The JSON body of one alert (pure)."""
    assert lead.received_at is not None
    waiting = int((now - lead.received_at).total_seconds() // 60)
    name = lead.name or lead.email or f"lead {lead.id}"
    return {
        "event": "lead.response_overdue",
        "text": f"Lead {lead.id} ({name}, {lead.source}) has waited {waiting} minutes for an "
        f"answer (target {target_minutes}).",
        "lead_id": lead.id,
        "source": lead.source,
        "name": lead.name,
        "email": lead.email,
        "phone": lead.phone,
        "received_at": lead.received_at.isoformat(),
        "waiting_minutes": waiting,
        "target_minutes": target_minutes,
    }


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


async def post_alert(
    client: httpx.AsyncClient,
    url: str,
    payload: dict[str, Any],
    *,
    policy: AlertPolicy,
    sleep: Sleep,
) -> bool:
    """POST `payload`, retrying transient failures; True once the receiver answered 2xx."""
    delays = backoff_delays(policy)
    for attempt in range(policy.attempts):
        try:
            response = await client.post(url, json=payload, timeout=policy.timeout)
        except httpx.HTTPError as exc:
            problem, retry = type(exc).__name__, True
        else:
            if response.is_success:
                return True
            problem, retry = f"HTTP {response.status_code}", _retryable(response.status_code)
        if not retry or attempt == len(delays):
            log.warning(
                "response alert for lead %s not delivered: %s (attempt %d of %d)",
                payload["lead_id"],
                problem,
                attempt + 1,
                policy.attempts,
            )
            return False
        log.info("response alert for lead %s: %s, retrying", payload["lead_id"], problem)
        await sleep(delays[attempt])
    return False


def _due(now: datetime, target_minutes: int, policy: AlertPolicy) -> Any:
    stale = now - policy.claim_ttl
    return and_(
        awaiting_reply_filter(),
        Lead.received_at < now - timedelta(minutes=target_minutes),
        Lead.received_at >= now - policy.max_age,
        Lead.response_alert_sent_at.is_(None),
        or_(Lead.response_alert_claimed_at.is_(None), Lead.response_alert_claimed_at < stale),
    )


async def due_leads(
    session: AsyncSession, *, now: datetime, target_minutes: int, policy: AlertPolicy
) -> list[int]:
    """Leads that should be alerted on now, longest waiting first."""
    stmt = (
        select(Lead.id)
        .where(_due(now, target_minutes, policy))
        .order_by(Lead.received_at, Lead.id)
        .limit(policy.batch)
    )
    return list((await session.execute(stmt)).scalars())


async def claim(
    session: AsyncSession, lead_id: int, *, now: datetime, target_minutes: int, policy: AlertPolicy
) -> bool:
    """Claim the lead's alert for this worker: True for exactly one of several racing workers."""
    result = await session.execute(
        update(Lead)
        .where(Lead.id == lead_id, _due(now, target_minutes, policy))
        # Bookkeeping of the alert, not a change to the lead: updated_at stays.
        .values(response_alert_claimed_at=now, updated_at=Lead.updated_at)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def mark_sent(
    session: AsyncSession, lead_id: int, *, claimed_at: datetime, now: datetime
) -> bool:
    """Record the alert as sent, only while our claim stands; True when it did."""
    result = await session.execute(
        update(Lead)
        .where(Lead.id == lead_id, Lead.response_alert_claimed_at == claimed_at)
        .values(response_alert_sent_at=now, updated_at=Lead.updated_at)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


@dataclass
class AlertReport:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    sent_ids: list[int] = field(default_factory=list)


async def send_due_alerts(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    client: httpx.AsyncClient,
    url: str,
    target_minutes: int,
    policy: AlertPolicy = AlertPolicy(),
    now: Now = utcnow,
    sleep: Sleep = asyncio.sleep,
) -> AlertReport:
    """One round: claim each due lead, send its alert, mark it sent (each step committed)."""
    report = AlertReport()
    async with transaction(sessionmaker) as session:
        candidates = await due_leads(
            session, now=now(), target_minutes=target_minutes, policy=policy
        )
    for lead_id in candidates:
        claimed_at = now()
        async with transaction(sessionmaker) as session:
            won = await claim(
                session, lead_id, now=claimed_at, target_minutes=target_minutes, policy=policy
            )
            lead = await session.get(Lead, lead_id) if won else None
            payload = (
                alert_payload(lead, now=claimed_at, target_minutes=target_minutes)
                if lead is not None
                else None
            )
        if payload is None:
            continue  # another worker has it, or the lead was answered meanwhile
        report.claimed += 1
        if not await post_alert(client, url, payload, policy=policy, sleep=sleep):
            report.failed += 1
            continue
        async with transaction(sessionmaker) as session:
            if await mark_sent(session, lead_id, claimed_at=claimed_at, now=now()):
                report.sent += 1
                report.sent_ids.append(lead_id)
    return report


async def run_alert_loop(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    stop: asyncio.Event,
    policy: AlertPolicy = AlertPolicy(),
) -> None:
    """Send the due alerts every `policy.interval` seconds until `stop` is set."""
    secret = settings.response_alert_webhook_url
    if secret is None:
        return
    url = secret.get_secret_value()
    host = httpx.URL(url).host
    log.info(
        "response alerts on: leads waiting over %d min, to %s",
        settings.response_target_minutes,
        host,
    )
    async with httpx.AsyncClient() as client:
        while not stop.is_set():
            try:
                report = await send_due_alerts(
                    sessionmaker,
                    client=client,
                    url=url,
                    target_minutes=settings.response_target_minutes,
                    policy=policy,
                )
                if report.claimed:
                    log.info("response alerts: %d sent, %d failed", report.sent, report.failed)
            except Exception as exc:
                # Never the URL: an exception's text may quote it.
                log.error("response alerts: round failed (%s)", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=policy.interval)
