"""What `leadflow db seed` builds: the scales, the seed's fixed identity, and its random source.

Everything the seed writes is a pure function of (`--seed`, scale, anchor day, own domain): the
generators draw from `random.Random` instances derived from the seed, never from the clock. Dates
are laid out backwards from the anchor (midnight UTC of the day the seed runs, unless given), so
"recent" data stays recent; the same seed on the same anchor day writes the same rows.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# Rows the seed writes are recognisable: its mailbox has this address (never a real mailbox: the
# .invalid TLD is reserved) and its customers carry this tag.
SEED_MAILBOX = "seed@leadflow.invalid"
SEED_TAG = "seed"
SEED_MAILBOX_ID = 1


@dataclass(frozen=True)
class Scale:
    """Target row counts of one seed size (messages and bookings are approximate)."""

    name: str
    customers: int
    leads: int
    threads: int
    messages: int
    bookings: int
    ingest_days: int  # hourly sync runs over this many days

    def __post_init__(self) -> None:
        if self.threads < self.leads:
            raise ValueError("a seed needs at least one thread per lead (each lead is an email)")
        if min(self.customers, self.leads, self.threads, self.messages) < 1:
            raise ValueError("every seed scale needs customers, leads, threads and messages")


SMALL = Scale("small", 1_000, 5_000, 10_000, 50_000, 5_000, ingest_days=60)
REFERENCE = Scale("reference", 20_000, 100_000, 200_000, 1_000_000, 100_000, ingest_days=180)
SCALES = {scale.name: scale for scale in (SMALL, REFERENCE)}

# Leads are spread over two years; bookings reach this far into the future.
HISTORY = timedelta(days=730)
BOOKING_HORIZON = timedelta(days=90)


@dataclass(frozen=True)
class SeedPlan:
    """One seed run's fixed inputs."""

    scale: Scale
    seed: int
    anchor: datetime  # "now" for the data: every timestamp is at or before it (bookings aside)
    own_domain: str = "rendetalje.dk"
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Copenhagen"))

    @property
    def own_address(self) -> str:
        return f"info@{self.own_domain}"

    def rng(self, purpose: str) -> random.Random:
        """A random source for one part of the data, independent of the order parts are built."""
        # Reproducible synthetic data, not secrets.
        return random.Random(f"{self.seed}:{purpose}")  # noqa: S311


def anchor_for(day: date | None = None) -> datetime:
    """Midnight UTC at the start of `day` (default: today)."""
    day = day or datetime.now(UTC).date()
    return datetime.combine(day, time(), tzinfo=UTC)


def recent_skewed(rng: random.Random, anchor: datetime, span: timedelta, power: float) -> datetime:
    """A time in (anchor - span, anchor]; power > 1 crowds the draws towards the anchor."""
    back = span.total_seconds() * (rng.random() ** power)
    return anchor - timedelta(seconds=int(back) + 1)


def ascii_local(text: str) -> str:
    """A name as an email local part: lower case, Danish letters spelt out, no spaces."""
    text = text.lower().replace("æ", "ae").replace("ø", "oe").replace("å", "aa")
    return "".join(ch for ch in text if ch.isalnum() or ch in ".-_")
