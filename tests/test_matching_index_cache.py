"""The per-sync customer index cache agrees with a fresh index after every kind of change."""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.matching import rules
from leadflow.matching.index_cache import CustomerIndexCache
from leadflow.matching.service import build_settings_exclusions, load_customer_index
from leadflow.models import Customer
from leadflow.settings import Settings


async def _add(session: AsyncSession, email: str | None, phone: str | None = None) -> int:
    customer = Customer(name="Kunde", email=email, phone=phone)
    session.add(customer)
    await session.flush()
    return customer.id


async def _assert_fresh(session: AsyncSession, cache: CustomerIndexCache) -> rules.CustomerIndex:
    cached = await cache.get(session)
    fresh = await load_customer_index(session, exclusions=cache.exclusions)
    assert (cached.by_email, cached.by_phone, cached.by_domain) == (
        fresh.by_email,
        fresh.by_phone,
        fresh.by_domain,
    )
    return cached


async def test_it_sees_customers_added_changed_and_deleted_between_calls(
    session: AsyncSession, settings: Settings
) -> None:
    cache = CustomerIndexCache(build_settings_exclusions(settings))
    first = await _add(session, "anna@firma-a.example.dk", "+4520304050")
    await _assert_fresh(session, cache)

    second = await _add(session, "bo@firma-a.example.dk")
    index = await _assert_fresh(session, cache)
    assert index.by_domain["firma-a.example.dk"] == {first, second}

    await session.execute(
        update(Customer)
        .where(Customer.id == first)
        .values(email="anna@firma-b.example.dk", phone="+4521314151")
    )
    index = await _assert_fresh(session, cache)
    assert index.by_email["anna@firma-b.example.dk"] == {first}
    assert "+4520304050" not in index.by_phone

    await session.execute(delete(Customer).where(Customer.id == second))
    third = await _add(session, "carl@firma-c.example.dk")
    index = await _assert_fresh(session, cache)
    assert "bo@firma-a.example.dk" not in index.by_email  # SQLite may give its id to carl
    assert index.by_email["carl@firma-c.example.dk"] == {third}


async def test_it_keeps_the_index_when_nothing_changed(
    session: AsyncSession, settings: Settings
) -> None:
    cache = CustomerIndexCache(build_settings_exclusions(settings))
    await _add(session, "dorte@example.dk")
    assert await cache.get(session) is await cache.get(session)
