"""Downloads bounded by bytes: chunk planning, the fetch-ahead rule, base64url decoding."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from leadflow.settings import Settings
from leadflow.sync.fetch import Fetcher, Probe, plan_chunks, take_raw
from leadflow.sync.gmail import GmailClient
from leadflow.sync.pipeline import RawMessage, SourceItem
from tests.fakes.gmail import FakeMailbox
from tests.fakes.gmail_wire import large_raw_email
from tests.sync_helpers import Harness, fake_client_factory, fake_contents, sync_settings

probes = st.lists(
    st.builds(
        Probe,
        id=st.uuids().map(str),
        labels=st.just(("INBOX",)),
        size=st.integers(min_value=0, max_value=5_000),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(items=probes, budget=st.integers(1, 8_000), max_count=st.integers(1, 12))
def test_chunks_keep_the_order_and_stay_within_count_and_bytes(
    items: list[Probe], budget: int, max_count: int
) -> None:
    chunks = plan_chunks(items, budget=budget, max_count=max_count)

    assert [p for chunk in chunks for p in chunk] == items
    for index, chunk in enumerate(chunks):
        size = sum(p.size for p in chunk)
        assert 1 <= len(chunk) <= max_count
        assert size <= budget or len(chunk) == 1  # a message over budget goes alone
        if index + 1 < len(chunks) and len(chunk) < max_count:
            # Greedy: the next message would not have fitted.
            assert size + chunks[index + 1][0].size > budget


class RecordingFetcher(Fetcher):
    """Notes the ids whose downloads have started; the downloads themselves return stubs."""

    def __init__(self, budget: int, sizes: dict[str, int]) -> None:
        super().__init__(client=GmailClient.__new__(GmailClient), budget=budget, max_count=5)
        self.sizes = sizes
        self.started: list[str] = []

    async def fetch(self, ids: Sequence[str]) -> list[SourceItem]:
        self.started.extend(ids)
        return [RawMessage(b"x", gmail_message_id=i, gmail_thread_id=i) for i in ids]


@settings(max_examples=200, deadline=None)
@given(sizes=st.lists(st.integers(0, 3_000), max_size=30), budget=st.integers(2, 4_000))
async def test_downloaded_but_unstored_bytes_never_exceed_the_budget(
    sizes: list[int], budget: int
) -> None:
    probed = [Probe(f"m{n}", ("INBOX",), size) for n, size in enumerate(sizes)]
    fetcher = RecordingFetcher(budget, {p.id: p.size for p in probed})
    done: set[str] = set()
    async for items in fetcher.fetch_ahead(probed):
        # In flight: everything started and not yet handed over and stored.
        held = [i for i in fetcher.started if i not in done]
        bytes_held = sum(fetcher.sizes[i] for i in held)
        assert bytes_held <= budget or len(items) == len(held) == 1
        done.update(item.gmail_message_id for item in items if isinstance(item, RawMessage))
        del items
    assert fetcher.started == [p.id for p in probed]


@given(data=st.binary(max_size=2_000), padded=st.booleans())
def test_raw_text_decodes_with_or_without_padding(data: bytes, padded: bool) -> None:
    text = base64.urlsafe_b64encode(data).decode()
    message = {"raw": text if padded else text.rstrip("=")}

    assert take_raw(message) == data
    assert "raw" not in message  # taken out: the text is as large as the mail


async def test_a_sync_with_messages_larger_than_the_budget_stores_them_all(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, tmp_path: Path
) -> None:
    fake = FakeMailbox()
    fake.add_synthetic_messages(12)
    for n in range(3):
        fake.add_message(large_raw_email(n, 700_000))  # each more than half the budget
    harness = Harness(
        fake,
        sync_settings(settings, sync_fetch_bytes=1024 * 1024),
        sessionmaker,
        fake_client_factory(fake, tmp_path),
    )

    result = await harness.sync()

    assert (result.new, result.errors) == (15, 0)
    state = await harness.state()
    assert {mid: (m["thread"], m["labels"]) for mid, m in state.messages.items()} == {
        mid: (thread, labels) for mid, (thread, labels) in fake_contents(fake).items()
    }
