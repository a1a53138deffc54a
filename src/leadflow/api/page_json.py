"""List pages rendered straight to JSON bytes (issue #10: lists that stay fast at scale).

On PostgreSQL the database renders the page. One statement reads the page's rows (one more
than asked, which tells whether another page follows) with every field already in the API's
JSON form, and returns them joined into one text; Python adds only the envelope. No ORM
objects, no per-row validation, and the connection runs in autocommit: no BEGIN/COMMIT round
trips around a single read. The rows are joined in the order the page's subquery returns them
(its ORDER BY and LIMIT), the way PostgREST builds its bodies: PostgreSQL's documentation says
an aggregate over a sorted subquery "will usually work" in that order, and with nothing but the
aggregate above the subquery it does; `tests/test_page_json.py` checks the order on every list.
A list that the planner's kept estimate puts at no more than EXACT_COUNT_LIMIT rows also counts
its rows (bounded) in the same statement, for its exact total (`api.pagination`).

The statement is compiled once per list shape, not per request (`PageStatements`): a request
builds its list query, takes SQLAlchemy's cache key of it (its shape and its parameter values)
and runs the compiled page statement of that shape with its own values; the profile of a list
request under load had a quarter of its time in building, keying and compiling the wrapping
statement anew.

On SQLite (the embedded demo) the ORM rows are validated and serialised by the response model.
Both give the body `Page[Model]` declares; `tests/test_page_json.py` compares the two on
generated rows, field by field.

The JSON forms PostgreSQL writes: times as the API writes them everywhere (UTC with `Z`,
microseconds only when there are any, `api.bounds.utc_text`); floats with a fraction (`85.0`,
not `85`, so a float stays a float for the client); JSON columns as stored (key order and
spacing may differ from pydantic's, the values do not).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard
from weakref import WeakKeyDictionary

from fastapi import Request, Response
from pydantic import BaseModel, TypeAdapter
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    DateTime,
    Float,
    Integer,
    Select,
    Subquery,
    Text,
    bindparam,
    cast,
    exists,
    func,
    literal,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.cache_key import CacheKey
from sqlalchemy.sql.compiler import ExpandedState, SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from leadflow.api.pagination import (
    EXACT_COUNT_LIMIT,
    PageParams,
    Total,
    bounded_count,
    bounded_total,
    count_total,
    estimates_for,
    fetch_page,
    next_link,
    parameters_key,
    per_engine,
)
from leadflow.errors import NotFound

# Joins the rows' JSON texts: a control character, which valid JSON text never holds raw (it
# must be escaped inside strings and is not whitespace outside them), so the last row can be
# cut off without parsing anything.
_SEPARATOR = "\x1e"


class json_time(FunctionElement[str]):
    """A timestamp as the API's JSON writes it: `2026-06-01T08:00:00Z`, or with `.ffffffZ`."""

    type = Text()
    inherit_cache = True
    name = "json_time"


@compiles(json_time, "postgresql")
def _json_time_pg(element: json_time, compiler: SQLCompiler, **kw: Any) -> str:
    value = compiler.process(element.clauses, **kw)
    return (
        f"replace(to_char(({value}) AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), '.000000Z', 'Z')"
    )


class json_float(FunctionElement[Any]):
    """A float as JSON with a fraction (`85.0`): PostgreSQL alone writes a whole float as `85`."""

    type = Text()
    inherit_cache = True
    name = "json_float"


@compiles(json_float, "postgresql")
def _json_float_pg(element: json_float, compiler: SQLCompiler, **kw: Any) -> str:
    value = compiler.process(element.clauses, **kw)
    return (
        f"CASE WHEN ({value})::text ~ '^-?[0-9]+$' THEN (({value})::text || '.0')::json "
        f"ELSE to_json({value}) END"
    )


def _is_type(expression: ColumnElement[Any], kind: type[Any]) -> bool:
    """The column's type is `kind`, directly or under a TypeDecorator (`UTCDateTime`)."""
    impl = getattr(expression.type, "impl", None)
    return isinstance(expression.type, kind) or isinstance(impl, kind)


def _json_form(expression: ColumnElement[Any]) -> ColumnElement[Any]:
    if _is_type(expression, DateTime):
        return json_time(expression)
    if _is_type(expression, Float):
        return json_float(expression)
    return expression


@dataclass(frozen=True)
class JsonFields:
    """Each field of a response model with the SQL expression that reads it, in field order
    (as stored: the JSON forms are applied to the page's rows only, see `_page_statement`)."""

    model: type[BaseModel]
    columns: tuple[tuple[str, ColumnElement[Any]], ...]

    @functools.cached_property
    def labelled(self) -> tuple[ColumnElement[Any], ...]:
        """The expressions labelled with their field names (built once, not per request)."""
        return tuple(expression.label(name) for name, expression in self.columns)

    def json_forms(self, rows: Subquery) -> tuple[ColumnElement[Any], ...]:
        """`rows`' columns of these fields in their JSON forms, labelled with the field names."""
        return tuple(_json_form(rows.c[name]).label(name) for name, _ in self.columns)


def json_fields(
    model: type[BaseModel],
    entity: Any,
    overrides: Mapping[str, ColumnElement[Any] | InstrumentedAttribute[Any]] | None = None,
) -> JsonFields:
    """`model`'s fields read from `entity`'s columns of the same name, or from `overrides`
    (computed fields, joined columns). A field with neither is an error at import time."""
    overrides = overrides or {}
    names = [*model.model_fields, *model.model_computed_fields]
    columns: list[tuple[str, ColumnElement[Any]]] = []
    for name in names:
        source = overrides.get(name, getattr(entity, name, None))
        if not isinstance(source, ColumnElement | InstrumentedAttribute):
            raise TypeError(f"{model.__name__}.{name}: no column {entity.__name__}.{name}")
        columns.append((name, source.expression))
    return JsonFields(model=model, columns=tuple(columns))


@dataclass(frozen=True)
class Parent:
    """A row the list belongs to (a customer's threads): a 404 when it does not exist."""

    condition: ColumnElement[bool]
    missing: Callable[[], NotFound]


@dataclass(frozen=True)
class RenderedPage:
    items: bytes  # the JSON array
    total: Total


async def render_page(
    engine: AsyncEngine,
    stmt: Select[*tuple[Any, ...]],
    fields: JsonFields,
    page: PageParams,
    *,
    parent: Parent | None = None,
    scalars: bool = True,
    to_model: Callable[[Any], BaseModel] | None = None,
) -> RenderedPage:
    """One page of `stmt` as a JSON array of `fields.model`, with the list's total.

    `scalars` and `to_model` describe the ORM rows for SQLite (entities, or rows turned into
    the model by `to_model`); PostgreSQL reads only what `fields` names.
    """
    if engine.dialect.name == "postgresql":
        return await _render_postgresql(engine, stmt, fields, page, parent)
    return await _render_orm(engine, stmt, fields, page, parent, scalars, to_model)


# The page window's bounds: named parameters, so one compiled statement serves every page.
_LIMIT = bindparam("page_limit", type_=Integer)
_OFFSET = bindparam("page_offset", type_=Integer)


_COUNT_LIMIT = bindparam("count_limit", type_=Integer)


def _page_statement(
    stmt: Select[*tuple[Any, ...]], fields: JsonFields, parent: Parent | None, counted: bool
) -> Select[Any]:
    """The page of `stmt` as one row: rows seen, their JSON joined, whether `parent` exists,
    and (`counted`) the list's rows counted up to EXACT_COUNT_LIMIT + 1."""
    rows = stmt.with_only_columns(*fields.labelled, maintain_column_froms=True)
    window = rows.limit(_LIMIT).offset(_OFFSET).subquery("page_rows")
    # The JSON forms (to_char for times, a regex for floats) go above the window: below it they
    # ran for every row the sort read and the OFFSET skipped too (PostgreSQL's CPU per threads
    # page 0.88-0.96 ms there, 0.58-0.60 ms here; docs/benchmarks.md).
    formed = select(*fields.json_forms(window)).subquery("page")
    as_json = cast(func.row_to_json(formed.table_valued()), Text)
    columns: list[ColumnElement[Any]] = [
        func.count().label("seen"),
        func.string_agg(as_json, literal(_SEPARATOR, Text)).label("items"),
    ]
    if parent is not None:
        columns.append(exists().where(parent.condition).label("parent"))
    if counted:
        columns.append(bounded_count(stmt, _COUNT_LIMIT).label("counted"))
    return select(*columns).select_from(formed)


class PageStatements:
    """Page statements compiled once per shape (list query, fields, parent) for one database.

    The shape is SQLAlchemy's cache key of the list query (and of the parent's condition), the
    key SQLAlchemy itself compiles by; a request's parameter values are lined up with the
    compiled statement's the way SQLAlchemy does for its own cache (`construct_params` with the
    extracted parameters). Statements whose key SQLAlchemy cannot make are compiled each time.
    """

    def __init__(self, *, size: int = 256) -> None:
        self.size = size
        self._kept: dict[tuple[Any, ...], CompiledPage] = {}

    def compiled(
        self,
        shape: tuple[Any, ...],
        binds: Sequence[BindParameter[Any]],
        build: Callable[[], Select[Any]],
        engine: Engine,
    ) -> CompiledPage:
        compiled = self._kept.get(shape)
        if compiled is None:
            made = build().compile(dialect=engine.dialect, cache_key=CacheKey(shape, binds, None))
            assert isinstance(made, SQLCompiler)
            compiled = CompiledPage.of(made)
            if len(self._kept) >= self.size:
                self._kept.clear()
            self._kept[shape] = compiled
        return compiled

    def __len__(self) -> int:
        return len(self._kept)


@dataclass(frozen=True)
class CompiledPage:
    """A compiled page statement; `fixed` holds its SQL, parameter order and type processors
    when they do not depend on the values (no IN list whose length varies)."""

    compiled: SQLCompiler
    fixed: ExpandedState | None

    @classmethod
    def of(cls, compiled: SQLCompiler) -> CompiledPage:
        if compiled.post_compile_params or compiled.literal_execute_params:
            return cls(compiled, None)
        return cls(compiled, compiled.construct_expanded_state(_PAGE_BOUNDS))

    def driver_call(
        self, binds: Sequence[BindParameter[Any]], page: PageParams
    ) -> tuple[str, tuple[Any, ...]]:
        """The SQL and positional arguments for this request's values."""
        named = self.compiled.construct_params(_bounds(page), extracted_parameters=binds)
        # Expands IN lists (their length is not part of the shape) and gives type processors.
        state = self.fixed or self.compiled.construct_expanded_state(named)
        values = named if self.fixed else state.parameters
        processors = state.processors
        args = tuple(
            processors[name](values[name]) if name in processors else values[name]
            for name in state.positiontup or ()
        )
        return state.statement, args


def _bounds(page: PageParams) -> dict[str, int]:
    """The window's parameters: one row more than the page (it tells whether more follow)."""
    return {
        "page_limit": page.limit + 1,
        "page_offset": page.offset,
        "count_limit": EXACT_COUNT_LIMIT + 1,
    }


_PAGE_BOUNDS = _bounds(PageParams(limit=0, offset=0))

_STATEMENTS: WeakKeyDictionary[Engine, PageStatements] = WeakKeyDictionary()


def statements_for(engine: Engine) -> PageStatements:
    """The page statements compiled for one database (an engine), created on first use."""
    return per_engine(_STATEMENTS, engine, PageStatements)


async def _render_postgresql(
    engine: AsyncEngine,
    stmt: Select[*tuple[Any, ...]],
    fields: JsonFields,
    page: PageParams,
    parent: Parent | None,
) -> RenderedPage:
    key = stmt._generate_cache_key()
    parent_key = parent.condition._generate_cache_key() if parent is not None else None
    known = parameters_key(key) if _reusable(key) else None
    # A list known (from the planner's recent estimate) to hold at most EXACT_COUNT_LIMIT rows
    # is counted exactly on every page but its last: the count goes in the page's statement.
    estimate = estimates_for(engine.sync_engine).peek(known) if known is not None else None
    counted = estimate is not None and estimate <= EXACT_COUNT_LIMIT
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        if _reusable(key) and (parent is None or _reusable(parent_key)):
            row = await _run_compiled(
                conn, engine, stmt, fields, page, parent, key, parent_key, counted
            )
        else:
            counted = False
            statement = _page_statement(stmt, fields, parent, counted)
            row = (await conn.execute(statement, _bounds(page))).one()
        if parent is not None and not row.parent:
            raise parent.missing()
        seen = int(row.seen)
        text: str = row.items or ""
        more = seen > page.limit
        if more:
            text = text.rpartition(_SEPARATOR)[0]
            seen = page.limit
        if counted:
            assert estimate is not None
            total = bounded_total(
                int(row.counted), estimate=estimate, offset=page.offset, seen=seen, more=more
            )
        else:
            total = await count_total(
                conn, stmt, offset=page.offset, seen=seen, more=more, estimate_key=known
            )
    items = "[" + text.replace(_SEPARATOR, ",") + "]"
    return RenderedPage(items=items.encode(), total=total)


def _reusable(key: CacheKey | None) -> TypeGuard[CacheKey]:
    """SQLAlchemy made a key, and no parameters live in it apart from the statement's binds."""
    return key is not None and not key.params


async def _run_compiled(
    conn: AsyncConnection,
    engine: AsyncEngine,
    stmt: Select[*tuple[Any, ...]],
    fields: JsonFields,
    page: PageParams,
    parent: Parent | None,
    key: CacheKey,
    parent_key: CacheKey | None,
    counted: bool,
) -> Any:
    shape = (key.key, id(fields), parent_key.key if parent_key is not None else None, counted)
    binds = [*key.bindparams, *(parent_key.bindparams if parent_key is not None else ())]
    compiled = statements_for(engine.sync_engine).compiled(
        shape, binds, lambda: _page_statement(stmt, fields, parent, counted), engine.sync_engine
    )
    sql, args = compiled.driver_call(binds, page)
    return (await conn.exec_driver_sql(sql, args)).one()


_ADAPTERS: dict[type[BaseModel], TypeAdapter[Any]] = {}


def _adapter(model: type[BaseModel]) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        adapter = _ADAPTERS[model] = TypeAdapter(list[model])  # type: ignore[valid-type]
    return adapter


async def _render_orm(
    engine: AsyncEngine,
    stmt: Select[*tuple[Any, ...]],
    fields: JsonFields,
    page: PageParams,
    parent: Parent | None,
    scalars: bool,
    to_model: Callable[[Any], BaseModel] | None,
) -> RenderedPage:
    convert = to_model or fields.model.model_validate
    async with AsyncSession(engine, expire_on_commit=False) as session:
        if parent is not None:
            found = (await session.execute(select(exists().where(parent.condition)))).scalar()
            if not found:
                raise parent.missing()
        rows, total = await fetch_page(session, stmt, page, scalars=scalars)
        models = [convert(row) for row in rows]
    return RenderedPage(items=_adapter(fields.model).dump_json(models), total=total)


def page_body(rendered: RenderedPage, page: PageParams, link: str | None) -> bytes:
    """The `Page` envelope around a rendered page's items."""
    return b'{"items":%s,"total":%d,"total_exact":%s,"limit":%d,"offset":%d,"next":%s}' % (
        rendered.items,
        rendered.total.value,
        b"true" if rendered.total.exact else b"false",
        page.limit,
        page.offset,
        json.dumps(link).encode(),
    )


async def page_response(
    request: Request,
    stmt: Select[*tuple[Any, ...]],
    fields: JsonFields,
    page: PageParams,
    *,
    parent: Parent | None = None,
    scalars: bool = True,
    to_model: Callable[[Any], BaseModel] | None = None,
) -> Response:
    """The response of a list endpoint: one page of `stmt` as `Page[fields.model]`."""
    engine: AsyncEngine = request.app.state.engine
    rendered = await render_page(
        engine, stmt, fields, page, parent=parent, scalars=scalars, to_model=to_model
    )
    body = page_body(rendered, page, next_link(request, page, rendered.total))
    return Response(content=body, media_type="application/json")
