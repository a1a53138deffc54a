"""List pages rendered straight to JSON bytes (issue #10: lists that stay fast at scale).

On PostgreSQL the database renders the page. One statement reads the page's rows (one more
than asked, which tells whether another page follows) with every field already in the API's
JSON form, and returns them joined into one text; Python adds only the envelope. No ORM
objects, no per-row validation, and the connection runs in autocommit: no BEGIN/COMMIT round
trips around a single read. The rows are joined in the order the page's subquery returns them
(its ORDER BY and LIMIT), the way PostgREST builds its bodies: PostgreSQL's documentation says
an aggregate over a sorted subquery "will usually work" in that order, and with nothing but the
aggregate above the subquery it does; `tests/test_page_json.py` checks the order on every list.

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel, TypeAdapter
from sqlalchemy import (
    ColumnElement,
    DateTime,
    Float,
    Select,
    Text,
    cast,
    exists,
    func,
    literal,
    select,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from leadflow.api.pagination import PageParams, Total, count_total, fetch_page, next_link
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
    """Each field of a response model with the SQL expression that reads it, in field order."""

    model: type[BaseModel]
    columns: tuple[tuple[str, ColumnElement[Any]], ...]

    @functools.cached_property
    def labelled(self) -> tuple[ColumnElement[Any], ...]:
        """The expressions labelled with their field names (built once, not per request)."""
        return tuple(expression.label(name) for name, expression in self.columns)


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
        columns.append((name, _json_form(source.expression)))
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


async def _render_postgresql(
    engine: AsyncEngine,
    stmt: Select[*tuple[Any, ...]],
    fields: JsonFields,
    page: PageParams,
    parent: Parent | None,
) -> RenderedPage:
    rows = stmt.with_only_columns(*fields.labelled, maintain_column_froms=True)
    window = rows.limit(page.limit + 1).offset(page.offset).subquery("page")
    as_json = cast(func.row_to_json(window.table_valued()), Text)
    columns: list[ColumnElement[Any]] = [
        func.count().label("seen"),
        func.string_agg(as_json, literal(_SEPARATOR, Text)).label("items"),
    ]
    if parent is not None:
        columns.append(exists().where(parent.condition).label("parent"))
    statement = select(*columns).select_from(window)
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        row = (await conn.execute(statement)).one()
        if parent is not None and not row.parent:
            raise parent.missing()
        seen = int(row.seen)
        text: str = row.items or ""
        more = seen > page.limit
        if more:
            text = text.rpartition(_SEPARATOR)[0]
            seen = page.limit
        total = await count_total(conn, stmt, offset=page.offset, seen=seen, more=more)
    items = "[" + text.replace(_SEPARATOR, ",") + "]"
    return RenderedPage(items=items.encode(), total=total)


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
