"""Seed bookings and sync runs (pure).

Bookings fill fixed slots (four three-hour slots a day, local time) of enough teams that no two
bookings of one team ever overlap, so PostgreSQL's exclusion constraint and the SQLite check agree
with the data. Heavy customers (regular cleaning) have many bookings; past ones are completed or
cancelled, future ones scheduled, confirmed or cancelled. A customer's first booking points at
their latest original lead before it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from typing import Any

from leadflow.maintenance.seed_people import SeedCustomer, SeedLead
from leadflow.maintenance.seed_plan import BOOKING_HORIZON, SeedPlan

SLOT_HOURS = (7, 10, 13, 16)
SLOT_LENGTH = timedelta(hours=3)
SLOT_HEADROOM = 1.3  # slots per booking: room for the search to find a free one nearby


def booking_rows(
    plan: SeedPlan, customers: list[SeedCustomer], leads: list[SeedLead]
) -> list[dict[str, Any]]:
    """Bookings ordered by id; times from the first lead of each customer to the horizon."""
    n = plan.scale.bookings
    if n == 0:
        return []
    rng = plan.rng("bookings")
    first_lead: dict[int, datetime] = {}
    originals: dict[int, list[SeedLead]] = defaultdict(list)
    for lead in leads:
        first_lead.setdefault(lead.customer.id, lead.received_at)
        if lead.duplicate_of_id is None:
            originals[lead.customer.id].append(lead)
    first_day = (plan.anchor - timedelta(days=730)).date()
    days = (plan.anchor + BOOKING_HORIZON).date().toordinal() - first_day.toordinal()
    per_team = days * len(SLOT_HOURS)
    teams = max(1, math.ceil(n * SLOT_HEADROOM / per_team))
    free = _SlotFinder(per_team, teams)
    owners = rng.choices(customers, weights=[c.weight**1.3 for c in customers], k=n)
    slots: list[tuple[int, SeedCustomer]] = []
    for customer in owners:
        since = first_lead[customer.id] + timedelta(days=2)
        earliest = max(0, (since.date().toordinal() - first_day.toordinal()) * len(SLOT_HOURS))
        earliest = min(earliest, per_team - 1)
        slots.append((free.take(rng.randint(earliest, per_team - 1), earliest), customer))
    slots.sort(key=lambda pair: (pair[0] % per_team, pair[0] // per_team))
    rows: list[dict[str, Any]] = []
    booked: set[int] = set()
    for position, (slot, customer) in enumerate(slots):
        team, index = divmod(slot, per_team)
        day = first_day + timedelta(days=index // len(SLOT_HOURS))
        local = datetime.combine(day, time(SLOT_HOURS[index % len(SLOT_HOURS)]), plan.timezone)
        start = local.astimezone(UTC)
        lead_id = None
        if customer.id not in booked:
            booked.add(customer.id)
            before = [lead for lead in originals[customer.id] if lead.received_at < start]
            lead_id = before[-1].id if before else None
        created = min(start - timedelta(days=rng.randint(1, 30)), plan.anchor)
        created = max(created, first_lead[customer.id])
        rows.append(
            {
                "id": position + 1,
                "customer_id": customer.id,
                "lead_id": lead_id,
                "service_type": "Fast rengøring" if customer.weight > 1 else "Hovedrengøring",
                "address": customer.address,
                "team": f"team-{team + 1:02d}",
                "start_time": start,
                "end_time": start + SLOT_LENGTH,
                "status": _status(rng.random(), past=start < plan.anchor),
                "notes": None,
                "created_at": created,
                "updated_at": created,
            }
        )
    return rows


class _SlotFinder:
    """Free (day, slot) positions with a team left: next-free pointers with path compression."""

    def __init__(self, positions: int, teams: int) -> None:
        self.positions = positions
        self.teams = teams
        self.used = [0] * positions
        self.next = list(range(positions + 1))  # positions = "none left after this"

    def _find(self, position: int) -> int:
        root = position
        while self.next[root] != root:
            root = self.next[root]
        while self.next[position] != root:
            self.next[position], position = root, self.next[position]
        return root

    def take(self, wanted: int, earliest: int) -> int:
        """A slot at the first position from `wanted` on with a free team (wrapping to
        `earliest`, then to the start); returns team * positions + position."""
        position = self._find(wanted)
        if position == self.positions:
            position = self._find(earliest)
        if position == self.positions:
            position = self._find(0)
        if position == self.positions:
            raise ValueError("more bookings than slots")
        team = self.used[position]
        self.used[position] += 1
        if self.used[position] == self.teams:
            self.next[position] = position + 1
        return team * self.positions + position


def _status(draw: float, *, past: bool) -> str:
    if past:
        return "completed" if draw < 0.88 else "cancelled"
    if draw < 0.6:
        return "scheduled"
    return "confirmed" if draw < 0.9 else "cancelled"


def ingest_run_rows(plan: SeedPlan, mailbox_id: int) -> list[dict[str, Any]]:
    """An hourly sync history: the first run full, the rest incremental, a few failed."""
    rng = plan.rng("ingest-runs")
    hours = plan.scale.ingest_days * 24
    rows: list[dict[str, Any]] = []
    for index in range(hours):
        started = (
            plan.anchor - timedelta(hours=hours - index) + timedelta(seconds=rng.randint(0, 59))
        )
        full = index == 0
        failed = rng.random() < 0.01
        new = rng.randint(200, 2_000) if full else rng.randint(0, 12)
        rows.append(
            {
                "id": index + 1,
                "mailbox_id": mailbox_id,
                "mode": "full" if full else "incremental",
                "started_at": started,
                "finished_at": started + timedelta(seconds=rng.randint(1, 300 if full else 20)),
                "status": "failed" if failed else "completed",
                "total_emails": new,
                "new_emails": 0 if failed else new,
                "updated_emails": rng.randint(0, 3),
                "errors": 1 if failed else 0,
                "error_log": [{"message_id": None, "reason": "sync failed: Gmail answered 503"}]
                if failed
                else [],
                "api_calls": 2 + new,
                "retries": 3 if failed else 0,
            }
        )
    return rows
