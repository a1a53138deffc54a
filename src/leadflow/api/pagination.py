"""One pagination scheme for every list: limit (max 200) + offset, with a total and a next link.

Totals never cost a full count of a large table (issue #10). The page is read with one row more
than asked, which tells whether a next page exists without counting. The total is then:
- exact and free on the last page (offset + rows on it);
- otherwise, on PostgreSQL, the query planner's row estimate when that is above
  EXACT_COUNT_LIMIT (10,000): `total_exact` is false and the figure is as good as the table
  statistics, which `leadflow db optimize` (and autovacuum) keep current; an estimate is kept
  for 30 seconds per query and parameters (`PlannerEstimates`);
- otherwise an exact count that stops at EXACT_COUNT_LIMIT + 1 rows: below the limit it is exact;
  at it (a stale estimate, or SQLite, which has none) the total is "more than 10,000" with
  `total_exact` false.
So a page costs at most one planner estimate and one count bounded by 10,001 rows, whatever the
table's size. On PostgreSQL a list whose kept estimate is at most EXACT_COUNT_LIMIT has that count
in its page's own statement (`api.page_json`): one statement per page. Offsets stay supported;
deep offsets still cost what skipping those rows costs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import parse_qsl, urlencode
from weakref import WeakKeyDictionary

from fastapi import Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import (
    ClauseElement,
    ColumnElement,
    Executable,
    Select,
    func,
    literal_column,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.cache_key import CacheKey
from sqlalchemy.sql.compiler import SQLCompiler
from starlette.datastructures import MultiDict

from leadflow.api.bounds import MAX_OFFSET

MAX_LIMIT = 200
EXACT_COUNT_LIMIT = 10_000
DEFAULT_LIMIT = 50


class PageParams(BaseModel):
    limit: int
    offset: int

    @property
    def is_first_default(self) -> bool:
        """The first page at the default size (the page the cache keeps for each list)."""
        return self.offset == 0 and self.limit == DEFAULT_LIMIT


async def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="Items per page (max 200).")
    ] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list. `total` is exact when `total_exact` is true; above 10,000 items it is
    PostgreSQL's estimate (or, on SQLite, 10,001: "more than 10,000"). `next` is exact."""

    items: list[T]
    total: int
    total_exact: bool = Field(
        description="False when `total` is an estimate or a lower bound (lists over 10,000)."
    )
    limit: int
    offset: int
    next: str | None


@dataclass(frozen=True)
class Total:
    value: int
    exact: bool
    has_more: bool


async def fetch_page(
    session: AsyncSession, stmt: Select[*tuple[Any, ...]], page: PageParams, *, scalars: bool = True
) -> tuple[list[Any], Total]:
    """Run `stmt` for one page; return its rows (entities, or whole rows) and the total."""
    window = stmt.limit(page.limit + 1).offset(page.offset)
    result = await session.execute(window)
    rows = list(result.scalars().all() if scalars else result.all())
    has_more = len(rows) > page.limit
    rows = rows[: page.limit]
    total = await count_total(session, stmt, offset=page.offset, seen=len(rows), more=has_more)
    return rows, total


async def count_total(
    executor: AsyncSession | AsyncConnection,
    stmt: Select[*tuple[Any, ...]],
    *,
    offset: int,
    seen: int,
    more: bool,
    estimate_key: Hashable | None = None,
) -> Total:
    """The list's total, at bounded cost (see the module's docstring). `estimate_key` is the
    statement's `parameters_key`, when the caller has it already."""
    if not more and (seen or not offset):
        return Total(offset + seen, exact=True, has_more=False)
    known = offset + seen + int(more)
    estimate = 0
    engine = _engine_of(executor)
    if engine.dialect.name == "postgresql":
        estimate = await estimates_for(engine).rows(executor, stmt, key=estimate_key)
        if estimate > EXACT_COUNT_LIMIT:
            return Total(max(estimate, known), exact=False, has_more=more)
    counted = int(
        (await executor.execute(select(bounded_count(stmt, EXACT_COUNT_LIMIT + 1)))).scalar_one()
    )
    return bounded_total(counted, estimate=estimate, offset=offset, seen=seen, more=more)


def bounded_count(stmt: Select[Any], limit: Any) -> ColumnElement[int]:
    """The number of `stmt`'s rows, counting no further than `limit` (an int or a parameter)."""
    bounded: Select[Any] = (
        stmt.order_by(None)
        .with_only_columns(literal_column("1"), maintain_column_froms=True)
        .limit(limit)
    )
    return select(func.count()).select_from(bounded.subquery("bounded")).scalar_subquery()


def bounded_total(counted: int, *, estimate: int, offset: int, seen: int, more: bool) -> Total:
    """The total from a count that stopped at EXACT_COUNT_LIMIT + 1 rows (see `count_total`)."""
    if not more and (seen or not offset):
        return Total(offset + seen, exact=True, has_more=False)
    if counted <= EXACT_COUNT_LIMIT:
        return Total(counted, exact=True, has_more=more)
    known = offset + seen + int(more)
    return Total(max(estimate, counted, known), exact=False, has_more=more)


def _engine_of(executor: AsyncSession | AsyncConnection) -> Engine:
    if isinstance(executor, AsyncConnection):
        return executor.sync_engine
    bind = executor.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


class _Explain(Executable, ClauseElement):
    """EXPLAIN (FORMAT JSON) of a statement, with its parameters bound as usual. Compiled anew
    each time (SQLAlchemy cannot map a cached EXPLAIN's result columns); `PlannerEstimates`
    makes that rare."""

    inherit_cache = False

    def __init__(self, stmt: Select[Any]) -> None:
        self.stmt = stmt


@compiles(_Explain, "postgresql")
def _compile_explain(element: _Explain, compiler: SQLCompiler, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + compiler.process(element.stmt, **kw)


async def planner_rows(executor: AsyncSession | AsyncConnection, stmt: Select[Any]) -> int:
    """PostgreSQL's estimate of the rows `stmt` returns (planning only, nothing is read)."""
    plan = (await executor.execute(_Explain(stmt))).scalar_one()
    document = json.loads(plan) if isinstance(plan, str) else plan
    return int(document[0]["Plan"]["Plan Rows"])


class PlannerEstimates:
    """The planner's row estimates for list totals, kept `ttl` seconds per statement and
    parameters. An estimate comes from the table statistics, which change when the table is
    analysed (autovacuum, `leadflow db optimize`), not from one request to the next; asking
    again on every page cost a round trip and a planning. Totals below EXACT_COUNT_LIMIT are
    still counted on every request: only "about how many" is remembered."""

    def __init__(
        self, *, ttl: float = 30.0, size: int = 512, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.size = size
        self.clock = clock
        self._kept: dict[Hashable, tuple[float, int]] = {}

    def peek(self, key: Hashable) -> int | None:
        """The estimate kept for `key` (a `parameters_key`) if it is still fresh; asks nothing."""
        kept = self._kept.get(key)
        if kept is not None and self.clock() - kept[0] < self.ttl:
            return kept[1]
        return None

    async def rows(
        self,
        executor: AsyncSession | AsyncConnection,
        stmt: Select[Any],
        *,
        key: Hashable | None = None,
    ) -> int:
        """The estimate for `stmt` (its order does not count); `key`: its `parameters_key`."""
        if key is None:
            key = _statement_key(stmt)
        now = self.clock()
        kept = self._kept.get(key) if key is not None else None
        if kept is not None and now - kept[0] < self.ttl:
            return kept[1]
        estimate = await planner_rows(executor, stmt.order_by(None))
        if key is not None:
            if len(self._kept) >= self.size:
                self._kept.clear()  # a burst of distinct searches; start over
            self._kept[key] = (now, estimate)
        return estimate


_ESTIMATES: WeakKeyDictionary[Engine, PlannerEstimates] = WeakKeyDictionary()


def estimates_for(engine: Engine) -> PlannerEstimates:
    """The estimates kept for one database (an engine), created on first use."""
    return per_engine(_ESTIMATES, engine, PlannerEstimates)


K = TypeVar("K")


def per_engine(registry: WeakKeyDictionary[Engine, K], engine: Engine, make: Callable[[], K]) -> K:
    """`registry`'s entry for `engine`, made on first use; it goes when the engine does."""
    kept = registry.get(engine)
    if kept is None:
        kept = registry[engine] = make()
    return kept


def _statement_key(stmt: Select[Any]) -> Hashable | None:
    cache_key = stmt._generate_cache_key()  # the key SQLAlchemy caches by
    return None if cache_key is None else parameters_key(cache_key)


def parameters_key(cache_key: CacheKey) -> Hashable:
    """A statement's shape (SQLAlchemy's cache key) with its parameter values."""
    values = tuple(_hashable(bind.effective_value) for bind in cache_key.bindparams)
    return (cache_key.key, values)


def _hashable(value: Any) -> Hashable:
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(_hashable(item) for item in value)
    if isinstance(value, Hashable):
        return value
    return repr(value)


def next_link(request: Request, page: PageParams, total: Total) -> str | None:
    """The next page as a path relative to the host (`/api/...?offset=…`): never built from the
    request's Host header, which the client chooses (issue 7, item 12). The request's other
    parameters are kept, in their order; `offset` and `limit` are set."""
    if not total.has_more:
        return None
    scope = request.scope
    # The path and query as Starlette's URL writes them, without building a URL per request.
    path = scope["path"].replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")
    raw = _decoded(scope.get("query_string", b""))
    params = MultiDict(parse_qsl(raw, keep_blank_values=True))
    params.update({"offset": str(page.offset + page.limit), "limit": str(page.limit)})
    return f"{scope.get('root_path', '')}{path}?{urlencode(params.multi_items())}"


def _decoded(query: bytes) -> str:
    """UTF-8, as Starlette reads it; bytes that are not UTF-8 are taken as Latin-1 rather than
    raising (uvicorn refuses such a request line before it reaches us; other servers may not)."""
    try:
        return query.decode()
    except UnicodeDecodeError:
        return query.decode("latin-1")


M = TypeVar("M", bound=BaseModel)


def build_page(
    model: type[M], request: Request, rows: Sequence[Any], total: Total, page: PageParams
) -> Page[M]:
    """One page of `rows` rendered as `model`, with the total and the link to the next page."""
    return Page[model](  # type: ignore[valid-type]
        items=[model.model_validate(row) for row in rows],
        total=total.value,
        total_exact=total.exact,
        limit=page.limit,
        offset=page.offset,
        next=next_link(request, page, total),
    )
