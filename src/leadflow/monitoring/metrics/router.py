"""GET /metrics in Prometheus text format, behind LEADFLOW_METRICS_TOKEN when it is set."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Iterator
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest
from prometheus_client.core import Metric

from leadflow.api.throttle import AuthThrottle, secret_matches
from leadflow.dashboard.schemas import ResponseTimeStats
from leadflow.dashboard.service import response_time_stats
from leadflow.errors import Unauthorized
from leadflow.models import utcnow
from leadflow.monitoring.metrics.database import (
    DatabaseCollector,
    DatabaseFigures,
    read_database_figures,
)
from leadflow.monitoring.metrics.instruments import get_metrics, multiprocess_dir
from leadflow.monitoring.metrics.sampler import Sampler

log = logging.getLogger(__name__)

DATABASE_TIMEOUT = 2.0

router = APIRouter(include_in_schema=False)


class _Collectors:
    """The minimal registry `generate_latest` needs: something with `collect()`."""

    def __init__(self, sources: Iterable[CollectorRegistry | DatabaseCollector]) -> None:
        self.sources = list(sources)

    def collect(self) -> Iterator[Metric]:
        for source in self.sources:
            yield from source.collect()


def _check_token(request: Request) -> None:
    expected = request.app.state.settings.metrics_token
    if expected is None:
        return
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <metrics token>'")
    throttle: AuthThrottle = request.app.state.metrics_throttle
    if not secret_matches(throttle, request.scope, given.strip(), expected):
        raise Unauthorized("invalid metrics token")


async def _database_figures(request: Request) -> DatabaseFigures:
    try:
        figures = await asyncio.wait_for(
            read_database_figures(request.app.state.engine), timeout=DATABASE_TIMEOUT
        )
        figures.response_times = await asyncio.wait_for(
            _response_times(request), timeout=DATABASE_TIMEOUT
        )
        return figures
    except Exception as exc:
        log.warning("metrics: database figures unavailable (%s)", type(exc).__name__)
        return DatabaseFigures(up=False)


async def _response_times(request: Request) -> ResponseTimeStats:
    """The dashboard's response-time figures, by the dashboard's own query, read fresh: going
    through the cache would make every scrape count in the cache's own hit/miss figures."""
    state = request.app.state
    settings = state.settings
    async with state.sessionmaker() as session:
        return await response_time_stats(
            session,
            now=utcnow(),
            tz=ZoneInfo(settings.timezone),
            target_minutes=settings.response_target_minutes,
        )


def render(figures: DatabaseFigures) -> bytes:
    """The exposition text: this process's (or all processes') instruments plus `figures`."""
    directory = multiprocess_dir()
    if directory is not None:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(_Collectors([registry, DatabaseCollector(figures)]))
    own = get_metrics().registry
    assert own is not None
    return generate_latest(_Collectors([own, DatabaseCollector(figures)]))


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    _check_token(request)
    sampler: Sampler = request.app.state.metrics_sampler
    sampler.sample(request.app.state)
    figures = await _database_figures(request)
    return Response(render(figures), media_type=CONTENT_TYPE_PLAIN_0_0_4)
