"""One pagination scheme for every list: limit (max 200) + offset, with total and next link."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

MAX_LIMIT = 200
DEFAULT_LIMIT = 50


class PageParams(BaseModel):
    limit: int
    offset: int

    @property
    def is_first_default(self) -> bool:
        """The first page at the default size (the page the cache keeps for each list)."""
        return self.offset == 0 and self.limit == DEFAULT_LIMIT


def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="Items per page (max 200).")
    ] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, description="Items to skip.")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int
    next: str | None


async def fetch_page(
    session: AsyncSession, stmt: Select[Any], page: PageParams
) -> tuple[list[Any], int]:
    """Run `stmt` for one page; return its rows and the total count without the page window."""
    total_stmt = select(func.count()).select_from(stmt.order_by(None).subquery())
    total = (await session.execute(total_stmt)).scalar_one()
    rows = (await session.execute(stmt.limit(page.limit).offset(page.offset))).scalars().all()
    return list(rows), int(total)


def next_link(request: Request, page: PageParams, total: int) -> str | None:
    if page.offset + page.limit >= total:
        return None
    return str(request.url.include_query_params(offset=page.offset + page.limit, limit=page.limit))


M = TypeVar("M", bound=BaseModel)


def build_page(
    model: type[M], request: Request, rows: Sequence[Any], total: int, page: PageParams
) -> Page[M]:
    """One page of `rows` rendered as `model`, with the total and the link to the next page."""
    return Page[model](  # type: ignore[valid-type]
        items=[model.model_validate(row) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
        next=next_link(request, page, total),
    )
