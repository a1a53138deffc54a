"""List pages rendered by PostgreSQL (`api.page_json`) say exactly what the response models say.

The PostgreSQL renderer writes each field's JSON in SQL; the ORM renderer (SQLite's, and the
reference here) validates rows with the pydantic model. On generated rows — any text, times with
and without microseconds, whole and fractional floats, JSON columns, nulls — both must give the
same items in the same order with the same keys, and the same total.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Boolean, Select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from leadflow.api.page_json import (
    JsonFields,
    Parent,
    RenderedPage,
    _render_orm,
    _render_postgresql,
    statements_for,
)
from leadflow.api.pagination import (
    EXACT_COUNT_LIMIT,
    PageParams,
    PlannerEstimates,
    estimates_for,
)
from leadflow.bookings import service as booking_service
from leadflow.bookings.schemas import BOOKING_FIELDS
from leadflow.customers import service as customer_service
from leadflow.customers.schemas import CUSTOMER_FIELDS, CustomerSort
from leadflow.db import transaction
from leadflow.errors import NotFound
from leadflow.leads import service as lead_service
from leadflow.leads.schemas import LEAD_FIELDS
from leadflow.mail import service as thread_service
from leadflow.mail.schemas import THREAD_FIELDS
from leadflow.models import (
    Booking,
    BookingStatus,
    Customer,
    CustomerStatus,
    EmailIngestRun,
    EmailThread,
    IngestMode,
    IngestStatus,
    Lead,
    LeadStatus,
    Mailbox,
    MailProvider,
)
from leadflow.sync.router import RUN_FIELDS, _run_out
from leadflow.sync.runs import runs_query
from tests.db_reset import reset
from tests.query_plans import capture

# Text PostgreSQL can store (no NUL) and JSON must escape: quotes, backslashes, controls, ø, 😀.
texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=30,
)
maybe_text = st.none() | texts
# Whole seconds (written without a fraction) and any microsecond.
_any_instant = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)
instants = _any_instant | _any_instant.map(lambda moment: moment.replace(microsecond=0))
maybe_instant = st.none() | instants
floats = (
    st.none() | st.floats(allow_nan=False, allow_infinity=False) | st.integers(-9, 9).map(float)
)
words = st.lists(texts, max_size=4)
small = st.integers(0, 2_000_000_000)


@st.composite
def customers(draw: st.DrawFn, index: int) -> Customer:
    return Customer(
        name=draw(maybe_text),
        email=draw(st.none() | st.just(f"c{index}@example.dk")),
        phone=draw(st.none() | st.just(f"+45{20000000 + index}")),
        address=draw(maybe_text),
        city=draw(maybe_text),
        notes=draw(maybe_text),
        status=draw(st.sampled_from(list(CustomerStatus))),
        tags=draw(words),
        total_leads=draw(small),
        last_contact_at=draw(maybe_instant),
        created_at=draw(instants),
        updated_at=draw(instants),
    )


@st.composite
def leads(draw: st.DrawFn, index: int, customer_ids: list[int]) -> Lead:
    received = draw(maybe_instant)
    # Answered before arrival too (a clock skew): never a negative number of seconds.
    delay = draw(st.none() | st.integers(-100_000, 10**8))
    first_response = None
    if delay is not None and received is not None:
        micros = draw(st.integers(0, 999_999))
        first_response = received + timedelta(seconds=delay, microseconds=micros)
    return Lead(
        customer_id=draw(st.none() | st.sampled_from(customer_ids)),
        source=draw(st.sampled_from(["website", "leadpoint", "rengoring.nu"])),
        name=draw(maybe_text),
        email=draw(st.none() | st.just(f"l{index}@example.dk")),
        square_meters=draw(floats),
        rooms=draw(st.none() | st.integers(0, 50)),
        preferred_date=draw(
            st.none() | st.dates(min_value=date(1971, 1, 1), max_value=date(2099, 1, 1))
        ),
        message=draw(maybe_text),
        details=draw(st.dictionaries(texts, texts, max_size=3)),
        edited_fields=draw(words),
        status=draw(st.sampled_from(list(LeadStatus))),
        needs_review=draw(st.booleans()),
        received_at=received,
        first_response_at=first_response,
        created_at=draw(instants),
        updated_at=draw(instants),
    )


@st.composite
def threads(draw: st.DrawFn, index: int, mailbox_id: int, customer_ids: list[int]) -> EmailThread:
    return EmailThread(
        mailbox_id=mailbox_id,
        gmail_thread_id=f"t{index}",
        customer_id=draw(st.none() | st.sampled_from(customer_ids)),
        subject=draw(maybe_text),
        snippet=draw(maybe_text),
        participants=draw(words),
        labels=draw(words),
        message_count=draw(small),
        last_message_at=draw(maybe_instant),
        is_matched=draw(st.booleans()),
        matched_at=draw(maybe_instant),
        confidence=draw(floats),
        match_note=draw(maybe_text),
        created_at=draw(instants),
        updated_at=draw(instants),
    )


@st.composite
def bookings(draw: st.DrawFn, index: int, customer_ids: list[int]) -> Booking:
    start = draw(instants)
    return Booking(
        customer_id=draw(st.sampled_from(customer_ids)),
        service_type=draw(maybe_text),
        # One team per booking: a team's active bookings may not overlap (exclusion constraint).
        team=draw(st.sampled_from(["a", "Øst"])) + f" {index}",
        start_time=start,
        end_time=start + timedelta(minutes=draw(st.integers(1, 600))),
        status=draw(st.sampled_from(list(BookingStatus))),
        notes=draw(maybe_text),
        created_at=draw(instants),
        updated_at=draw(instants),
    )


@st.composite
def runs(draw: st.DrawFn, mailbox_id: int) -> EmailIngestRun:
    return EmailIngestRun(
        mailbox_id=mailbox_id,
        mode=draw(st.sampled_from(list(IngestMode))),
        status=draw(st.sampled_from(list(IngestStatus))),
        started_at=draw(instants),
        finished_at=draw(maybe_instant),
        errors=draw(small),
        error_log=draw(
            st.lists(st.dictionaries(texts, texts | st.integers(), max_size=2), max_size=2)
        ),
    )


def _lists() -> list[tuple[str, Select[Any], JsonFields, dict[str, Any]]]:
    return [
        (
            "customers",
            customer_service.list_query(search=None, sort=CustomerSort.NAME),
            CUSTOMER_FIELDS,
            {},
        ),
        (
            "customers by contact",
            customer_service.list_query(search=None, sort=CustomerSort.LAST_CONTACT_DESC),
            CUSTOMER_FIELDS,
            {},
        ),
        ("leads", lead_service.list_query(), LEAD_FIELDS, {}),
        ("threads", thread_service.list_query(), THREAD_FIELDS, {}),
        ("bookings", booking_service.list_query(), BOOKING_FIELDS, {}),
        (
            "runs",
            runs_query(),
            RUN_FIELDS,
            {"scalars": False, "to_model": lambda row: _run_out(*row)},
        ),
    ]


def _maybe(draw: st.DrawFn, strategy: st.SearchStrategy[Any]) -> Any:
    return draw(st.none() | strategy)


@st.composite
def filtered_lists(
    draw: st.DrawFn, customer_ids: list[int]
) -> tuple[str, Select[Any], JsonFields, Parent | None]:
    """A list with filters drawn as a client could send them, and a parent for sub-lists (an
    existing customer or not): many values for one compiled shape, IN lists of any length."""
    someone = st.sampled_from([*customer_ids, 999_999])
    kind = draw(st.sampled_from(["customers", "leads", "threads", "bookings", "sub-list"]))
    if kind == "customers":
        search = _maybe(draw, st.sampled_from(["", "a", "Ø", "c1", "%", "+4520000001"]) | texts)
        sort = draw(st.sampled_from(list(CustomerSort)))
        return kind, customer_service.list_query(search=search, sort=sort), CUSTOMER_FIELDS, None
    if kind == "leads":
        stmt = lead_service.list_query(
            statuses=draw(st.lists(st.sampled_from(list(LeadStatus)), unique=True, max_size=3)),
            source=_maybe(draw, st.sampled_from(["website", "leadpoint"])),
            received_from=_maybe(draw, instants),
            needs_review=_maybe(draw, st.booleans()),
            customer_id=_maybe(draw, someone),
            awaiting_reply=_maybe(draw, st.booleans()),
        )
        return kind, stmt, LEAD_FIELDS, None
    if kind == "threads":
        stmt = thread_service.list_query(
            matched=_maybe(draw, st.booleans()), customer_id=_maybe(draw, someone)
        )
        return kind, stmt, THREAD_FIELDS, None
    if kind == "bookings":
        stmt = booking_service.list_query(
            starts_before=_maybe(draw, instants),
            ends_after=_maybe(draw, instants),
            customer_id=_maybe(draw, someone),
            statuses=draw(st.lists(st.sampled_from(list(BookingStatus)), unique=True, max_size=3)),
            team=_maybe(draw, st.sampled_from(["a 0", "øst 1", "nobody"])),
        )
        return kind, stmt, BOOKING_FIELDS, None
    customer = draw(someone)
    parent = customer_service.as_parent(customer)
    which = draw(st.sampled_from(["threads", "leads", "bookings"]))
    if which == "threads":
        return kind, thread_service.list_query(customer_id=customer), THREAD_FIELDS, parent
    if which == "leads":
        return kind, lead_service.list_query(customer_id=customer), LEAD_FIELDS, parent
    return kind, booking_service.list_query(customer_id=customer), BOOKING_FIELDS, parent


async def _rendered(render: Any) -> RenderedPage | str:
    """The rendered page, or the error it raised (a missing parent)."""
    try:
        rendered: RenderedPage = await render
    except NotFound as exc:
        return f"404 {exc}"
    return rendered


def _assert_same(fast: RenderedPage | str, reference: RenderedPage | str, name: str) -> None:
    if isinstance(fast, str) or isinstance(reference, str):
        assert fast == reference, name
        return
    assert fast.total == reference.total, name
    ours, theirs = json.loads(fast.items), json.loads(reference.items)
    assert ours == theirs, name
    assert [list(item) for item in ours] == [list(item) for item in theirs], name
    # Same types too: a float stays a float (85.0), an integer an integer.
    assert _types(ours) == _types(theirs), name


@pytest.mark.postgres_only
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), sizes=st.tuples(*(st.integers(1, 6) for _ in range(5))))
async def test_postgresql_renders_every_list_as_the_response_model_does(
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    data: st.DataObject,
    sizes: tuple[int, int, int, int, int],
) -> None:
    await reset(engine)
    n_customers, n_leads, n_threads, n_bookings, n_runs = sizes
    async with transaction(sessionmaker) as session:
        box = Mailbox(email="info@rendetalje.dk", provider=MailProvider.GMAIL)
        session.add(box)
        for i in range(n_customers):
            session.add(data.draw(customers(i)))
        await session.flush()
        ids = [c.id for c in (await session.execute(Customer.__table__.select())).all()]
        for i in range(n_leads):
            session.add(data.draw(leads(i, ids)))
        for i in range(n_threads):
            session.add(data.draw(threads(i, box.id, ids)))
        for i in range(n_bookings):
            session.add(data.draw(bookings(i, ids)))
        for _ in range(n_runs):
            session.add(data.draw(runs(box.id)))
    limit = data.draw(st.integers(1, 7))
    offset = data.draw(st.integers(0, 3))
    page = PageParams(limit=limit, offset=offset)
    for name, stmt, fields, orm in _lists():
        fast = await _render_postgresql(engine, stmt, fields, page, None)
        reference = await _render_orm(
            engine, stmt, fields, page, None, orm.get("scalars", True), orm.get("to_model")
        )
        _assert_same(fast, reference, name)
    # Filtered lists one after the other: a shape compiled for one request's values serves
    # the next request's (other values, IN lists of other lengths, another parent).
    for name, stmt, fields, parent in data.draw(st.lists(filtered_lists(ids), max_size=8)):
        fast_or_404 = await _rendered(_render_postgresql(engine, stmt, fields, page, parent))
        reference_or_404 = await _rendered(
            _render_orm(engine, stmt, fields, page, parent, True, None)
        )
        _assert_same(fast_or_404, reference_or_404, name)


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _types(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_types(item) for item in value]
    return type(value).__name__


async def test_a_sub_list_of_an_unknown_customer_is_a_404(client: httpx.AsyncClient) -> None:
    for sub in ("threads", "leads", "bookings"):
        response = await client.get(f"/api/customers/999999/{sub}")
        assert response.status_code == 404, sub
        assert response.json()["error"]["details"] == {"customer_id": 999999}


@pytest.mark.postgres_only
async def test_an_estimate_is_asked_again_only_after_it_expires(engine: AsyncEngine) -> None:
    now = [0.0]
    estimates = PlannerEstimates(ttl=30.0, clock=lambda: now[0])
    async with engine.connect() as conn:
        with capture(engine) as captured:
            for moment in (0.0, 29.9, 30.0, 45.0):
                now[0] = moment
                # A new statement object each time, as every request builds its own.
                await estimates.rows(conn, lead_service.list_query(statuses=[LeadStatus.NEW]))
            await estimates.rows(conn, lead_service.list_query(statuses=[LeadStatus.WON]))
        explains = [sql for sql, _ in captured.statements if sql.startswith("EXPLAIN")]
    # Asked at 0, kept until 30, asked again, kept at 45; another status is another query.
    assert len(explains) == 3


async def test_estimates_belong_to_one_database(engine: AsyncEngine) -> None:
    assert estimates_for(engine.sync_engine) is estimates_for(engine.sync_engine)


@pytest.mark.postgres_only
async def test_one_compiled_statement_serves_every_value_of_a_list_shape(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with transaction(sessionmaker) as session:
        session.add_all(
            Lead(source="website", email=f"l{i}@example.dk", status=status)
            for i, status in enumerate([LeadStatus.NEW, LeadStatus.WON, LeadStatus.NEW])
        )
    page = PageParams(limit=10, offset=0)
    compiled = statements_for(engine.sync_engine)
    counts = {}
    sizes = []
    for statuses in ([LeadStatus.NEW], [LeadStatus.WON], [LeadStatus.NEW, LeadStatus.WON], []):
        stmt = lead_service.list_query(statuses=statuses)
        rendered = await _render_postgresql(engine, stmt, LEAD_FIELDS, page, None)
        sizes.append(len(compiled))
        counts[tuple(statuses)] = rendered.total.value
        shown = {lead["status"] for lead in json.loads(rendered.items)}
        assert shown <= set(statuses or LeadStatus)
    assert list(counts.values()) == [2, 1, 3, 3]
    # One compiled shape for any number of statuses (an IN list): nothing new after the first.
    assert sizes[0] == sizes[1] == sizes[2]


class _uncacheable_true(FunctionElement[bool]):
    """TRUE, from an element SQLAlchemy cannot make a cache key for (inherit_cache False)."""

    type = Boolean()
    inherit_cache = False
    name = "uncacheable_true"


@compiles(_uncacheable_true)
def _compile_uncacheable_true(element: _uncacheable_true, compiler: Any, **kw: Any) -> str:
    return "TRUE"


@pytest.mark.postgres_only
async def test_a_list_query_without_a_cache_key_is_compiled_per_request_and_still_right(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with transaction(sessionmaker) as session:
        session.add_all(Customer(name=f"Kunde {i}", email=f"k{i}@example.dk") for i in range(3))
    stmt = customer_service.list_query(search=None, sort=CustomerSort.NAME)
    stmt = stmt.where(_uncacheable_true())
    assert stmt._generate_cache_key() is None
    compiled = statements_for(engine.sync_engine)
    before = len(compiled)
    page = PageParams(limit=2, offset=0)
    fast = await _render_postgresql(engine, stmt, CUSTOMER_FIELDS, page, None)
    reference = await _render_orm(engine, stmt, CUSTOMER_FIELDS, page, None, True, None)
    _assert_same(fast, reference, "uncacheable")
    assert [c["name"] for c in json.loads(fast.items)] == ["Kunde 0", "Kunde 1"]
    assert len(compiled) == before


async def _new_leads(engine: AsyncEngine, count: int, start: int = 0) -> None:
    rows = [
        {"source": "website", "email": f"n{start + i}@example.dk", "status": "new"}
        for i in range(count)
    ]
    async with engine.begin() as conn:
        await conn.execute(Lead.__table__.insert(), rows)
        await conn.exec_driver_sql("ANALYZE leads")


async def _new_leads_page(engine: AsyncEngine, page: PageParams) -> RenderedPage:
    """A page of the new leads, from a list query built anew (as every request builds one)."""
    stmt = lead_service.list_query(statuses=[LeadStatus.NEW])
    return await _render_postgresql(engine, stmt, LEAD_FIELDS, page, None)


@pytest.mark.postgres_only
async def test_a_small_list_counts_its_total_in_the_page_statement_once_estimated(
    engine: AsyncEngine,
) -> None:
    await _new_leads(engine, 120)
    page = PageParams(limit=50, offset=50)
    with capture(engine) as first:
        before = await _new_leads_page(engine, page)
    with capture(engine) as second:
        again = await _new_leads_page(engine, page)
    # First: the page, the planner's estimate, the bounded count; then the page alone.
    assert len(first.statements) == 3
    assert len(second.statements) == 1
    assert before.total == again.total
    assert (again.total.value, again.total.exact, again.total.has_more) == (120, True, True)
    assert again.items == before.items


@pytest.mark.postgres_only
async def test_a_list_that_outgrew_its_kept_estimate_says_its_total_is_a_lower_bound(
    engine: AsyncEngine,
) -> None:
    await _new_leads(engine, 9_990)
    page = PageParams(limit=50, offset=0)
    first = await _new_leads_page(engine, page)
    assert (first.total.value, first.total.exact) == (9_990, True)
    await _new_leads(engine, 20, start=9_990)  # past the limit, while the estimate is kept
    grown = await _new_leads_page(engine, page)
    assert (grown.total.value, grown.total.exact) == (EXACT_COUNT_LIMIT + 1, False)


@pytest.mark.postgres_only
async def test_a_customers_sub_list_counts_in_its_page_statement_and_still_404s(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with transaction(sessionmaker) as session:
        owner = Customer(name="Ida", email="ida@example.dk")
        session.add(owner)
        await session.flush()
        session.add_all(
            Lead(source="website", email=f"i{n}@example.dk", customer_id=owner.id)
            for n in range(60)
        )
    page = PageParams(limit=50, offset=0)

    async def sub_list(customer_id: int) -> RenderedPage:
        stmt = lead_service.list_query(customer_id=customer_id)
        parent = customer_service.as_parent(customer_id)
        return await _render_postgresql(engine, stmt, LEAD_FIELDS, page, parent)

    first = await sub_list(owner.id)
    with capture(engine) as again:
        second = await sub_list(owner.id)
    assert len(again.statements) == 1
    assert first.total == second.total
    assert (second.total.value, second.total.exact) == (60, True)
    with pytest.raises(NotFound):
        await sub_list(owner.id + 1000)


def _nodes_below_limit(plan: dict[str, Any], below: bool = False) -> list[tuple[bool, str]]:
    """Every plan node's output, with whether it sits at or below a Limit node."""
    below = below or plan.get("Node Type") == "Limit"
    found = [(below, " ".join(plan.get("Output", [])))]
    for child in plan.get("Plans", []):
        found.extend(_nodes_below_limit(child, below))
    return found


@pytest.mark.postgres_only
async def test_json_forms_are_written_only_for_the_rows_of_the_page(
    engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Times and floats get their JSON form above the page's LIMIT, not for every row the
    OFFSET skips (the form of a time, to_char, was most of PostgreSQL's work on a deep page)."""
    async with transaction(sessionmaker) as session:
        session.add_all(Lead(source="website", email=f"o{i}@example.dk") for i in range(5))
    stmt = lead_service.list_query(statuses=[])
    with capture(engine) as captured:
        rendered = await _render_postgresql(
            engine, stmt, LEAD_FIELDS, PageParams(limit=2, offset=2), None
        )
    assert len(json.loads(rendered.items)) == 2
    sql, params = next((s, p) for s, p in captured.selects if "row_to_json" in s)
    async with engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        document = await driver.fetchval("EXPLAIN (VERBOSE, FORMAT JSON) " + sql, *params)
    plans = json.loads(document) if isinstance(document, str) else document
    nodes = _nodes_below_limit(plans[0]["Plan"])
    assert any("to_char" in output for below, output in nodes if not below)
    assert not [output for below, output in nodes if below and "to_char" in output]
