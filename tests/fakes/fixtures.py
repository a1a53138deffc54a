"""Fixtures shared by the Gmail client tests: a fake clock, the fake mailbox, an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.fakes.clock import FakeClock
from tests.fakes.gmail import FakeMailbox

FAKE_GMAIL_BASE = "http://gmail.test"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def mailbox(clock: FakeClock) -> FakeMailbox:
    return FakeMailbox(clock=clock)


@pytest.fixture
async def http(mailbox: FakeMailbox) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose requests are answered in-process by the fake."""
    transport = httpx.ASGITransport(app=mailbox.app)
    async with httpx.AsyncClient(transport=transport, base_url=FAKE_GMAIL_BASE) as client:
        yield client
