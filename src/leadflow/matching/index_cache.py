"""The customer index of one sync, kept across batches and refreshed by what changed.

Loading the index streams every customer through Python; doing that for every batch of 200
messages costs more than the rest of the pipeline. Between batches usually only a few customers
are added (by lead ingest) or touched, so only those are read again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from leadflow.matching import rules
from leadflow.models import Customer

_Stamp = tuple[int, datetime | None]


class CustomerIndexCache:
    """A `rules.CustomerIndex` that `get` brings up to date with the customers table."""

    def __init__(self, exclusions: rules.Exclusions) -> None:
        self.exclusions = exclusions
        self._index: rules.CustomerIndex | None = None
        self._rows: dict[int, tuple[str | None, str | None]] = {}
        self._stamp: _Stamp = (0, None)

    async def get(self, session: AsyncSession) -> rules.CustomerIndex:
        """Return the index as of `session`'s view of the customers table.

        The table's row count and latest `updated_at` tell whether anything changed. Rows
        updated since the last look are re-read; when the count shows rows that went away
        (deleted, or created in a transaction that rolled back), the index is rebuilt.
        """
        stamp = await self._current_stamp(session)
        if self._index is None or self._stamp[1] is None:
            return await self._reload(session, stamp)
        if stamp == self._stamp:
            return self._index
        changed = (
            await session.execute(
                select(Customer.id, Customer.email, Customer.phone).where(
                    Customer.updated_at >= self._stamp[1]
                )
            )
        ).all()
        added = sum(1 for customer_id, _, _ in changed if customer_id not in self._rows)
        if len(self._rows) + added != stamp[0]:
            return await self._reload(session, stamp)
        for customer_id, email, phone in changed:
            self._put(self._index, customer_id, email, phone)
        self._stamp = stamp
        return self._index

    async def _current_stamp(self, session: AsyncSession) -> _Stamp:
        count, latest = (
            await session.execute(select(func.count(Customer.id), func.max(Customer.updated_at)))
        ).one()
        return int(count), latest

    async def _reload(self, session: AsyncSession, stamp: _Stamp) -> rules.CustomerIndex:
        index = rules.CustomerIndex()
        self._rows = {}
        stmt = select(Customer.id, Customer.email, Customer.phone).execution_options(
            yield_per=5_000
        )
        result = await session.stream(stmt)
        async for partition in result.partitions():
            for customer_id, email, phone in partition:
                self._put(index, customer_id, email, phone)
        self._index, self._stamp = index, stamp
        return index

    def _put(
        self, index: rules.CustomerIndex, customer_id: int, email: str | None, phone: str | None
    ) -> None:
        old = self._rows.get(customer_id)
        if old == (email, phone):
            return
        if old is not None:
            index.discard(customer_id, email=old[0], phone=old[1], exclusions=self.exclusions)
        index.add(customer_id, email=email, phone=phone, exclusions=self.exclusions)
        self._rows[customer_id] = (email, phone)
