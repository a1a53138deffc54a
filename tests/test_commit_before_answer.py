"""Every write is committed before its answer leaves the process; a failed commit is an error.

The database is made to refuse (or delay) the COMMIT itself: PostgreSQL with a deferred
constraint trigger, SQLite with a deferred foreign key, both created by the test and dropped
after it. The app is served over real HTTP, because an in-process ASGI transport only hands
the response over once the whole call, teardown included, has finished.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.routing import BaseRoute

from leadflow.api.app import create_app
from leadflow.api.deps import get_session
from leadflow.models import Customer, EmailThread, Lead, Mailbox, MailProvider
from leadflow.settings import Settings
from tests.served import served

REFUSED = "refused at commit"


@asynccontextmanager
async def commit_guard(
    engine: AsyncEngine, *, sqlstate: str = "P0001", event: str = "INSERT"
) -> AsyncIterator[None]:
    """Make the COMMIT of a transaction that inserted (or, with `event="DELETE"`, deleted) a
    customer named REFUSED fail."""
    row = "OLD" if event == "DELETE" else "NEW"
    if engine.dialect.name == "postgresql":
        create = [
            "CREATE FUNCTION test_refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'refused at commit' USING ERRCODE = TG_ARGV[0]; END $$",
            f"CREATE CONSTRAINT TRIGGER test_refuse_at_commit AFTER {event} ON customers "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
            f"WHEN ({row}.name = '{REFUSED}') "
            f"EXECUTE FUNCTION test_refuse_at_commit('{sqlstate}')",
        ]
        drop = [
            "DROP TRIGGER test_refuse_at_commit ON customers",
            "DROP FUNCTION test_refuse_at_commit()",
        ]
    else:
        # SQLite checks a deferred foreign key at COMMIT: the trigger leaves a dangling one.
        create = [
            "CREATE TABLE test_guard_parent (id INTEGER PRIMARY KEY)",
            "CREATE TABLE test_guard (parent_id INTEGER REFERENCES test_guard_parent (id) "
            "DEFERRABLE INITIALLY DEFERRED)",
            f"CREATE TRIGGER test_refuse_at_commit AFTER {event} ON customers "  # noqa: S608 - constants
            f"WHEN {row}.name = 'refused at commit' "
            "BEGIN INSERT INTO test_guard (parent_id) VALUES (-1); END",
        ]
        drop = [
            "DROP TRIGGER test_refuse_at_commit",
            "DROP TABLE test_guard",
            "DROP TABLE test_guard_parent",
        ]
    async with engine.begin() as conn:
        for statement in create:
            await conn.execute(text(statement))
    try:
        yield
    finally:
        async with engine.begin() as conn:
            for statement in drop:
                await conn.execute(text(statement))


async def _customers(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return int((await session.execute(select(func.count(Customer.id)))).scalar_one())


async def test_a_create_whose_commit_fails_on_sqlite_answers_409_and_stores_nothing(
    settings: Settings, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("the PostgreSQL variant is parametrised by SQLSTATE below")
    async with commit_guard(engine), served(create_app(settings)) as client:
        response = await client.post("/api/customers", json={"name": REFUSED})
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "conflict"
        assert (await client.get("/api/customers")).json()["total"] == 0
    assert await _customers(sessionmaker) == 0


@pytest.mark.postgres_only
@pytest.mark.parametrize(
    ("sqlstate", "status", "code"),
    [
        ("23505", 409, "conflict"),  # unique_violation
        ("40001", 409, "conflict"),  # serialization_failure
        ("40P01", 409, "conflict"),  # deadlock_detected
        ("P0001", 500, "internal_error"),  # anything else
    ],
)
async def test_a_create_whose_commit_fails_answers_an_error_and_stores_nothing(
    settings: Settings,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    sqlstate: str,
    status: int,
    code: str,
) -> None:
    async with commit_guard(engine, sqlstate=sqlstate), served(create_app(settings)) as client:
        response = await client.post("/api/customers", json={"name": REFUSED})
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code
        assert "Traceback" not in response.text
        assert (await client.get("/api/customers")).json()["total"] == 0
    assert await _customers(sessionmaker) == 0


async def test_a_delete_whose_commit_fails_keeps_the_customer_and_everything_on_it(
    settings: Settings, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """`DELETE ?force=true` detaches leads and threads and deletes bookings in one transaction:
    when its commit fails, none of that happened."""
    async with sessionmaker() as session:
        customer = Customer(name=REFUSED, email="afvist@example.dk")
        session.add(customer)
        await session.flush()
        mailbox = Mailbox(email="info@rendetalje.dk", provider=MailProvider.GMAIL)
        session.add(mailbox)
        await session.flush()
        lead = Lead(source="website", email=customer.email, customer_id=customer.id)
        thread = EmailThread(
            mailbox_id=mailbox.id, gmail_thread_id="t-refused", customer_id=customer.id
        )
        session.add_all([lead, thread])
        await session.commit()
        ids = (customer.id, lead.id, thread.id)
    async with commit_guard(engine, event="DELETE"), served(create_app(settings)) as client:
        response = await client.delete(f"/api/customers/{ids[0]}", params={"force": "true"})
        assert response.status_code in (409, 500), response.text
        assert "Traceback" not in response.text
        assert (await client.get(f"/api/customers/{ids[0]}")).status_code == 200
        assert (await client.get(f"/api/leads/{ids[1]}")).json()["customer_id"] == ids[0]
        assert (await client.get(f"/api/threads/{ids[2]}")).json()["customer_id"] == ids[0]


async def test_a_create_next_to_a_failing_one_is_stored(
    settings: Settings, engine: AsyncEngine, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with commit_guard(engine), served(create_app(settings)) as client:
        ok = await client.post("/api/customers", json={"name": "Ida Holm"})
        refused = await client.post("/api/customers", json={"name": REFUSED})
        assert ok.status_code == 201
        assert refused.status_code >= 400
    assert await _customers(sessionmaker) == 1


@pytest.mark.postgres_only
async def test_a_read_right_after_a_201_sees_the_row(
    settings: Settings, engine: AsyncEngine
) -> None:
    """A slow commit: the 201 may only leave once the row is visible to other connections."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE FUNCTION test_slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN PERFORM pg_sleep(0.5); RETURN NULL; END $$"
            )
        )
        await conn.execute(
            text(
                "CREATE CONSTRAINT TRIGGER test_slow_commit AFTER INSERT ON customers "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_slow_commit()"
            )
        )
    try:
        async with served(create_app(settings)) as client:
            created = await client.post("/api/customers", json={"name": "Ida Holm"})
            assert created.status_code == 201
            fetched = await client.get(f"/api/customers/{created.json()['id']}")
            assert fetched.status_code == 200, fetched.text
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TRIGGER test_slow_commit ON customers"))
            await conn.execute(text("DROP FUNCTION test_slow_commit()"))


def _api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)  # an include_router() entry
        if included is not None:
            yield from _api_routes(included.routes)


def test_every_route_with_a_session_commits_before_it_answers(settings: Settings) -> None:
    """One mechanism: the session dependency, closed when the endpoint returns."""
    checked = 0
    for route in _api_routes(create_app(settings).routes):
        stack = list(route.dependant.dependencies)
        while stack:
            dependency = stack.pop()
            stack.extend(dependency.dependencies)
            if dependency.call is get_session:
                assert dependency.scope == "function", route.path
                checked += 1
    assert checked >= 20
