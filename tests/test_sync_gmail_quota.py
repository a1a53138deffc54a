"""Whole syncs through the Gmail fake's strict quota, and through a flaky token endpoint.

Client and fake share one virtual clock, so the pacing, the fake's 1 s window and every backoff
run in virtual time; the database work takes real time but no virtual time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.responses import Response

from leadflow.models import IngestStatus
from leadflow.settings import Settings
from leadflow.sync.gmail import GmailClient
from leadflow.sync.gmail.auth import load_credentials
from leadflow.sync.job import GmailClientFactory
from tests.fakes.clock import FakeClock
from tests.fakes.gmail import FakeMailbox
from tests.fakes.gmail_server import RecordingMailbox, write_credentials
from tests.sync_helpers import FAKE_BASE, Harness, fake_contents, sync_settings


def paced_factory(fake: FakeMailbox, clock: FakeClock, credentials_dir: Path) -> GmailClientFactory:
    """GmailClients paced by the settings (not unthrottled), on the fake's own clock."""
    credentials = credentials_dir / "gmail-credentials.json"
    write_credentials(fake, FAKE_BASE, credentials)

    @asynccontextmanager
    async def factory(settings: Settings) -> AsyncIterator[GmailClient]:
        transport = httpx.ASGITransport(app=fake.app)
        async with httpx.AsyncClient(transport=transport, base_url=FAKE_BASE) as http:
            yield GmailClient(
                base_url=FAKE_BASE,
                user=settings.gmail_user,
                http=http,
                credentials=load_credentials(credentials, user=settings.gmail_user, http=http),
                units_per_second=settings.gmail_quota_units_per_second,
                min_units_per_second=settings.gmail_quota_min_units_per_second,
                max_attempts=settings.gmail_max_attempts,
                concurrency=settings.gmail_concurrency,
                batch_size=settings.gmail_batch_size,
                clock=clock,
                wall_clock=clock.wall,
            )

    return factory


class RefreshMeets503(FakeMailbox):
    """A fake whose token endpoint answers 503 to the refresh that each 401 brings about."""

    def _take_fault(self, method: str, message_id: str | None) -> Response | None:
        refusal = super()._take_fault(method, message_id)
        if refusal is not None and refusal.status_code == 401:
            self.inject(503, method="token")
        return refusal


def harness(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    tmp_path: Path,
    fake_class: type[FakeMailbox] = FakeMailbox,
    **fake_options: Any,
) -> Harness:
    clock = FakeClock()
    fake = fake_class(clock=clock, **fake_options)
    return Harness(
        fake,
        sync_settings(settings, sync_batch_size=100),
        sessionmaker,
        paced_factory(fake, clock, tmp_path),
    )


def api_calls(fake: FakeMailbox) -> int:
    return sum(n for method, n in fake.calls.items() if method != "token")


@pytest.mark.parametrize("refusal", [429, 403])
async def test_a_full_sync_through_the_strict_quota_completes_without_being_throttled(
    refusal: int,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    tmp_path: Path,
) -> None:
    h = harness(
        sessionmaker,
        settings,
        tmp_path,
        quota_units_per_second=250,
        quota_mode="strict",
        quota_refusal=refusal,
    )
    h.fake.add_synthetic_messages(600)

    result = await h.sync()

    assert (result.status, result.new, result.errors) == (IngestStatus.COMPLETED, 600, 0)
    state = await h.state()
    assert set(state.messages) == set(fake_contents(h.fake))
    assert h.fake.throttled <= 0.02 * api_calls(h.fake)
    assert h.fake.throttled == 0  # with no latency to hide, the pacer never overfills a second
    assert result.retries == 0


async def test_a_full_sync_with_quota_shared_with_another_client_slows_down_and_completes(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, tmp_path: Path
) -> None:
    # Only 120 of the 250 units/s the client may use are left for it.
    h = harness(
        sessionmaker,
        settings,
        tmp_path,
        RecordingMailbox,
        quota_units_per_second=120,
        quota_mode="strict",
    )
    h.fake.add_synthetic_messages(600)

    result = await h.sync()

    assert (result.status, result.new, result.errors) == (IngestStatus.COMPLETED, 600, 0)
    calls = api_calls(h.fake)
    assert isinstance(h.fake, RecordingMailbox)
    # Finding the lower rate takes a few cuts (250 → 175 → 122 units/s) in the first seconds;
    # after that the rate creeps past the quota every several seconds, and Gmail refuses at
    # most the one request (a fifth of a second's units) that overran it.
    assert 0 < h.fake.throttled <= 0.05 * calls
    start = h.fake.first_charge
    assert start is not None
    late = [at for at in h.fake.throttle_times if at > start + 5.0]
    assert len(late) <= 0.03 * calls


async def test_a_401_in_a_batch_and_a_503_from_the_token_endpoint_do_not_fail_the_sync(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, tmp_path: Path
) -> None:
    h = harness(sessionmaker, settings, tmp_path, RefreshMeets503)
    added = h.fake.add_synthetic_messages(60)
    h.fake.inject(401, method="messages.get", message_id=added[30].id)

    result = await h.sync()

    assert (result.status, result.new, result.errors) == (IngestStatus.COMPLETED, 60, 0)
    assert set((await h.state()).messages) == {m.id for m in added}
    # The first token; the refresh after the 401, answered 503; that refresh retried.
    assert h.fake.calls["token"] == 3
