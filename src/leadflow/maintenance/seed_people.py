"""Seed customers and their leads (pure): who they are, when their leads came, which are duplicates.

Every customer exists because of a lead, as in the real pipeline (a lead email creates the
customer), so each has at least one; a few "heavy" customers have many more. Lead ids follow the
order the leads arrived. Duplicates follow the ingest rule (`leads.ingest`): a lead whose email
already has an open, non-duplicate lead received in the 30 days before it points at the earliest
such lead.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from leadflow.leads.ingest import DUPLICATE_WINDOW
from leadflow.leads.repair import SNAPSHOT_FIELDS, to_json
from leadflow.maintenance.sample_parts import CITIES, FIRST, FREEMAIL, HOMES, LAST, STREETS, TASKS
from leadflow.maintenance.seed_plan import HISTORY, SEED_TAG, SeedPlan, ascii_local, recent_skewed
from leadflow.models import OPEN_LEAD_STATUSES, LeadStatus

SOURCES = (("Rengøring.nu", 45), ("Leadpoint", 25), ("AdHelp", 15), ("Website", 15))
COMPANY_SHARE = 0.15  # customers that are businesses with their own mail domain
SHARED_DOMAIN_SHARE = 0.2  # of those: several customers under one domain (e.g. an association)
HEAVY_SHARE = 0.01  # customers with many leads, threads and bookings
_OPEN = frozenset(OPEN_LEAD_STATUSES)
_BUSINESS = ("Ejendomme", "Tandklinik", "Revision", "Arkitekter", "Boligforening", "Kontor", "Byg")


@dataclass(frozen=True, slots=True)
class SeedCustomer:
    id: int
    first: str
    last: str
    email: str
    phone: str  # E.164, unique among customers
    address: str
    postal_code: str
    city: str
    company_name: str | None
    domain: str | None  # the company's own mail domain
    shared_domain: bool  # other customers use the same domain (domain matching is ambiguous)
    weight: float  # how much mail and business this customer brings, relative to others
    active: bool

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


@dataclass(slots=True)
class SeedLead:
    id: int
    customer: SeedCustomer
    source: str
    received_at: datetime
    status: LeadStatus
    task_type: str
    property_type: str
    square_meters: float
    rooms: int
    needs_review: bool
    duplicate_of_id: int | None = None
    gmail_id: str | None = None  # set when its email is generated


def make_customers(plan: SeedPlan) -> list[SeedCustomer]:
    """The seed's customers, ids 1..n: private people on free mail, and some businesses."""
    rng = plan.rng("customers")
    n = plan.scale.customers
    phones = rng.sample(range(20_000_000, 100_000_000), n)
    companies = int(n * COMPANY_SHARE)
    shared = int(companies * SHARED_DOMAIN_SHARE)
    customers = []
    for index in range(n):
        cid = index + 1
        first, last = rng.choice(FIRST), rng.choice(LAST)
        postal, city = rng.choice(CITIES)
        company = domain = None
        local = f"{ascii_local(first)}.{ascii_local(last)}{cid}"
        if index < companies:
            # Groups of three share one domain; other businesses have a domain of their own.
            shared_group = index < shared
            group = index // 3 if shared_group else index
            key = f"g{group}" if shared_group else str(group)
            kind = _BUSINESS[group % len(_BUSINESS)]
            company = f"{last} {kind} ApS"
            domain = f"{ascii_local(kind)}-{key}.seed-kunde.dk"
            address_at = local if shared_group else rng.choice(("kontakt", ascii_local(first)))
            email = f"{address_at}@{domain}"
        else:
            email = f"{local}@{rng.choice(FREEMAIL)}"
        customers.append(
            SeedCustomer(
                id=cid,
                first=first,
                last=last,
                email=email,
                phone=f"+45{phones[index]}",
                address=f"{rng.choice(STREETS)} {rng.randint(1, 140)}",
                postal_code=postal,
                city=city,
                company_name=company,
                domain=domain,
                shared_domain=False,
                weight=rng.uniform(40, 120) if rng.random() < HEAVY_SHARE else 1.0,
                active=rng.random() < 0.95,
            )
        )
    return _finish(customers, rng)


def _finish(customers: list[SeedCustomer], rng: random.Random) -> list[SeedCustomer]:
    """Shuffle ids (so they do not reveal the kind) and mark domains used by several customers."""
    per_domain = Counter(c.domain for c in customers if c.domain)
    order = list(range(len(customers)))
    rng.shuffle(order)
    return [
        replace(
            customers[i],
            id=position + 1,
            shared_domain=per_domain.get(customers[i].domain or "", 0) > 1,
        )
        for position, i in enumerate(order)
    ]


def make_leads(plan: SeedPlan, customers: list[SeedCustomer]) -> list[SeedLead]:
    """Every customer's leads, ids in arrival order, with statuses and duplicates filled in."""
    rng = plan.rng("leads")
    anchor = plan.anchor
    owners: list[SeedCustomer] = list(customers)
    extra = plan.scale.leads - len(customers)
    if extra > 0:
        # Heavy customers bring much mail and many bookings, but only somewhat more leads.
        owners += rng.choices(customers, weights=[c.weight**0.5 for c in customers], k=extra)
    else:
        owners = owners[: plan.scale.leads]
    first_seen = {c.id: recent_skewed(rng, anchor, HISTORY, 0.8) for c in customers}
    leads: list[SeedLead] = []
    seen: set[int] = set()
    for customer in owners:
        start = first_seen[customer.id]
        received = start
        if customer.id in seen:
            # Later leads of a customer: any time since the first, often soon after it.
            span = max((anchor - start).total_seconds(), 60.0)
            received = start + timedelta(seconds=1 + int(rng.random() ** 1.5 * span))
        seen.add(customer.id)
        leads.append(_lead(rng, customer, min(received, anchor), anchor))
    leads.sort(key=lambda lead: (lead.received_at, lead.customer.id))
    for position, lead in enumerate(leads):
        lead.id = position + 1
    mark_duplicates(leads)
    return leads


def _lead(
    rng: random.Random, customer: SeedCustomer, received: datetime, anchor: datetime
) -> SeedLead:
    return SeedLead(
        id=0,
        customer=customer,
        source=rng.choices([s for s, _ in SOURCES], weights=[w for _, w in SOURCES])[0],
        received_at=received,
        status=status_for_age(rng, anchor - received),
        task_type=rng.choice(TASKS),
        property_type=rng.choice(HOMES),
        square_meters=float(rng.randint(35, 260)),
        rooms=rng.randint(1, 7),
        needs_review=rng.random() < 0.02,
    )


def status_for_age(rng: random.Random, age: timedelta) -> LeadStatus:
    """A plausible status for a lead this old: new ones open, old ones decided."""
    days = age.days
    table: tuple[tuple[LeadStatus, int], ...]
    if days < 7:
        table = ((LeadStatus.NEW, 60), (LeadStatus.CONTACTED, 25), (LeadStatus.QUOTED, 10))
    elif days < 60:
        table = (
            (LeadStatus.NEW, 10),
            (LeadStatus.CONTACTED, 25),
            (LeadStatus.QUOTED, 25),
            (LeadStatus.WON, 20),
            (LeadStatus.LOST, 15),
        )
    else:
        table = (
            (LeadStatus.CONTACTED, 3),
            (LeadStatus.QUOTED, 4),
            (LeadStatus.WON, 38),
            (LeadStatus.LOST, 50),
        )
    statuses = [s for s, _ in table] + [LeadStatus.SPAM]
    weights = [w for _, w in table] + [5]
    return rng.choices(statuses, weights=weights)[0]


def mark_duplicates(leads: list[SeedLead]) -> None:
    """Set duplicate_of_id as the ingest would, processing leads in id (arrival) order."""
    earlier: dict[str, list[SeedLead]] = defaultdict(list)
    for lead in leads:
        email = lead.customer.email
        window_start = lead.received_at - DUPLICATE_WINDOW
        candidates = [
            other
            for other in earlier[email]
            if other.duplicate_of_id is None
            and other.status in _OPEN
            and window_start <= other.received_at <= lead.received_at
        ]
        if candidates:
            lead.duplicate_of_id = min(candidates, key=lambda o: (o.received_at, o.id)).id
        earlier[email].append(lead)


def customer_rows(
    customers: list[SeedCustomer], first_lead: dict[int, datetime]
) -> list[dict[str, object]]:
    """Customer rows; counters start at zero and are recounted by `customers.counters`."""
    rows: list[dict[str, object]] = []
    for c in customers:
        created = first_lead[c.id]
        tags = [SEED_TAG, "erhverv"] if c.company_name else [SEED_TAG]
        if c.weight > 1:
            tags.append("fast-kunde")
        rows.append(
            {
                "id": c.id,
                "name": c.name,
                "email": c.email,
                "phone": c.phone,
                "address": c.address,
                "postal_code": c.postal_code,
                "city": c.city,
                "company_name": c.company_name,
                "notes": None,
                "status": "active" if c.active else "inactive",
                "tags": tags,
                "total_leads": 0,
                "total_bookings": 0,
                "last_contact_at": None,
                "created_at": created,
                "updated_at": created,
            }
        )
    return rows


def lead_rows(
    leads: list[SeedLead],
    plan: SeedPlan,
    mailbox_id: int,
    answered: Mapping[int, datetime | None],
) -> list[dict[str, object]]:
    """Lead rows as the ingest stores them (customer found by email, platform mail ids), with
    when each was first answered (`answered`, by lead id)."""
    rng = plan.rng("lead-rows")
    rows: list[dict[str, object]] = []
    for lead in leads:
        c = lead.customer
        created = lead.received_at + timedelta(seconds=rng.randint(5, 300))
        created = min(created, plan.anchor)
        decided = lead.status is not LeadStatus.NEW
        updated = created + timedelta(hours=rng.randint(1, 96)) if decided else created
        website = lead.source == "Website"
        rows.append(
            {
                "id": lead.id,
                "customer_id": c.id,
                "source": lead.source,
                "name": c.name,
                "email": c.email,
                "phone": c.phone,
                "address": None if website else c.address,
                "postal_code": None if website else c.postal_code,
                "city": None if website else c.city,
                "square_meters": None if website else lead.square_meters,
                "rooms": None if website else lead.rooms,
                "floor": None,
                "property_type": None if website else lead.property_type,
                "task_type": None if website else lead.task_type,
                "contact_type": "Privat" if c.company_name is None else "Erhverv",
                "preferred_date": (lead.received_at + timedelta(days=rng.randint(3, 40))).date(),
                "message": f"Vi ønsker tilbud på {lead.task_type.lower()}." if website else None,
                "status": lead.status.value,
                "needs_review": lead.needs_review,
                "duplicate_of_id": lead.duplicate_of_id,
                "mailbox_id": mailbox_id,
                "gmail_message_id": lead.gmail_id,
                "gmail_thread_id": lead.gmail_id,
                "received_at": lead.received_at,
                "first_response_at": answered.get(lead.id),
                "response_alert_claimed_at": None,
                "response_alert_sent_at": None,
                "created_at": created,
                "updated_at": min(updated, plan.anchor),
                "preferred_date_text": None,
                "details": {"Etage": str(lead.rooms % 4)} if lead.source == "Rengøring.nu" else {},
                "edited_fields": [],
            }
        )
        # What the parser read, as the ingest keeps it: these are the values it stored.
        rows[-1]["parsed"] = {name: to_json(rows[-1][name]) for name in SNAPSHOT_FIELDS}
    return rows
