"""The seed's generators (pure) keep their promises for any seed: unique people, leads in
arrival order with duplicates by the ingest rule, bookings that never collide, mail in order."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from leadflow.leads.ingest import DUPLICATE_WINDOW
from leadflow.maintenance.seed_bookings import booking_rows
from leadflow.maintenance.seed_mail import MailBuilder
from leadflow.maintenance.seed_people import make_customers, make_leads
from leadflow.maintenance.seed_plan import Scale
from leadflow.maintenance.seed_threads import plan_threads
from leadflow.models import OPEN_LEAD_STATUSES
from tests.seeded_fixtures import tiny_plan

scales = st.builds(
    Scale,
    name=st.just("generated"),
    customers=st.integers(5, 60),
    leads=st.integers(60, 150),
    threads=st.integers(150, 300),
    messages=st.integers(300, 900),
    bookings=st.integers(0, 150),
    ingest_days=st.just(1),
)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), scale=scales)
def test_people_leads_and_bookings_keep_their_invariants(seed: int, scale: Scale) -> None:
    plan = tiny_plan(seed, scale)
    customers = make_customers(plan)
    assert len({c.email for c in customers}) == len(customers)
    assert len({c.phone for c in customers}) == len(customers)
    per_domain = Counter(c.domain for c in customers if c.domain)
    assert all(c.shared_domain == (per_domain[c.domain] > 1) for c in customers if c.domain)
    leads = make_leads(plan, customers)
    assert [lead.id for lead in leads] == list(range(1, len(leads) + 1))
    assert all(a.received_at <= b.received_at for a, b in pairwise(leads))
    assert {lead.customer.id for lead in leads} == {c.id for c in customers}
    by_id = {lead.id: lead for lead in leads}
    for lead in leads:
        if lead.duplicate_of_id is None:
            continue
        original = by_id[lead.duplicate_of_id]
        assert original.id < lead.id
        assert original.customer.email == lead.customer.email
        assert original.duplicate_of_id is None
        assert original.status in OPEN_LEAD_STATUSES
        assert lead.received_at - original.received_at <= DUPLICATE_WINDOW
    bookings = booking_rows(plan, customers, leads)
    assert len(bookings) == scale.bookings
    slots = Counter((b["team"], b["start_time"]) for b in bookings)
    assert max(slots.values(), default=1) == 1
    assert all(b["end_time"] - b["start_time"] == timedelta(hours=3) for b in bookings)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), scale=scales)
def test_mail_is_in_order_and_threads_sum_their_messages(seed: int, scale: Scale) -> None:
    plan = tiny_plan(seed, scale)
    customers = make_customers(plan)
    leads = make_leads(plan, customers)
    threads = plan_threads(plan, customers, leads)
    assert len(threads) == scale.threads
    shared: dict[str, list[int]] = {}
    for c in customers:
        if c.shared_domain and c.domain:
            shared.setdefault(c.domain, []).append(c.id)
    builder = MailBuilder(plan, 1, shared)
    gmail_ids: set[str] = set()
    for thread in threads:
        built = builder.build(thread)
        times = [m["sent_at"] for m in built.messages]
        assert times == sorted(times)
        assert times[-1] <= plan.anchor
        assert built.row["message_count"] == len(built.messages)
        assert built.row["last_message_at"] == times[-1]
        assert built.row["is_matched"] == (built.row["customer_id"] is not None)
        for message in built.messages:
            assert message["gmail_message_id"] not in gmail_ids
            gmail_ids.add(message["gmail_message_id"])
            assert message["from_address"] in built.row["participants"]
    assert all(lead.gmail_id in gmail_ids for lead in leads)


@given(st.lists(st.one_of(st.text(), st.integers(), st.dictionaries(st.text(), st.integers()))))
def test_copy_json_is_the_same_json(value: list[object]) -> None:
    import json

    from leadflow.maintenance.seed_write import json_text

    assert json.loads(json_text(value)) == value
