"""The FastAPI application: built by `create_app`, resources opened in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI

from leadflow import __version__
from leadflow.api.boundary import ErrorBoundary
from leadflow.api.deps import require_token
from leadflow.api.edge import RequestGuard
from leadflow.api.openapi import install_openapi
from leadflow.api.routing import RetryingRoute
from leadflow.api.throttle import AuthThrottle
from leadflow.cache.factory import build_cache
from leadflow.cache.invalidation import CacheSyncObserver, InvalidateOnWrite
from leadflow.cache.views import ViewContext
from leadflow.cache.warming import Warmer
from leadflow.dashboard.web import install_dashboard
from leadflow.db import create_engine, create_sessionmaker
from leadflow.errors import install_error_handlers
from leadflow.monitoring.metrics.instruments import mark_this_process_dead
from leadflow.monitoring.metrics.sampler import SamplingLoop
from leadflow.monitoring.wiring import install_monitoring
from leadflow.settings import Settings

API_DESCRIPTION = """\
Every `/api` route needs `Authorization: Bearer <LEADFLOW_API_TOKEN>`; the token is checked
before the body is read, and a body may hold at most `LEADFLOW_MAX_REQUEST_BYTES` (413 above).
Too many wrong tokens from one address (`LEADFLOW_AUTH_FAILURE_LIMIT` within
`LEADFLOW_AUTH_FAILURE_WINDOW_SECONDS`) are answered 429 `too_many_attempts` with `Retry-After`.

**Times.** Every time in an answer is UTC with `Z` (`2026-06-01T08:00:00Z`), in bodies and in
error messages. Times sent to the API must carry a timezone (any offset; converted to UTC) and
lie between 1970-01-01 and 2100-12-31 (UTC).

**Errors.** Every error is `{"error": {"code", "message", "details"}}`; a 422 names the fields
in `details` (`body.name`, `query.offset`, `path.customer_id`). Input outside the bounds the
schemas declare (id ranges, lengths, text without NUL or lone surrogates) is a 422, never a 500.

**Lists.** `limit` (1-200) and `offset`; `next` is a relative link to the next page.
"""


def api_router() -> APIRouter:
    """Every /api route, behind the bearer token."""
    from leadflow.bookings.router import customer_bookings_router
    from leadflow.bookings.router import router as bookings
    from leadflow.cache.router import router as cache
    from leadflow.customers.router import router as customers
    from leadflow.dashboard.router import router as dashboard
    from leadflow.leads.router import customer_leads_router
    from leadflow.leads.router import router as leads
    from leadflow.mail.router import customer_threads_router
    from leadflow.mail.router import router as threads
    from leadflow.matching.router import router as matching
    from leadflow.matching.router import threads_rematch_router
    from leadflow.monitoring.uptime.router import router as uptime
    from leadflow.sync.router import sync_router

    router = APIRouter(prefix="/api", dependencies=[Depends(require_token)])
    # FastAPI tries included routers in this order, at a measurable cost each (~8 µs per router
    # on the 2-core benchmark machine): the most-read endpoint, the dashboard stats, goes first.
    for sub in (
        dashboard,
        customers,
        customer_leads_router,
        customer_threads_router,
        customer_bookings_router,
        leads,
        threads_rematch_router,
        threads,
        bookings,
        matching,
        sync_router,
        uptime,
        cache,
    ):
        router.include_router(sub)
    return router


def create_app(settings: Settings | None = None, *, background_sync: bool = False) -> FastAPI:
    """Build the app; with `background_sync`, it also syncs Gmail on an interval (serve)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from leadflow.leads.response_alerts import run_alert_loop
        from leadflow.sync.router import stop_sync_tasks
        from leadflow.sync.scheduler import gmail_configured, run_sync_loop

        # No connection is opened here: the app starts while the database is down and the pool
        # (idle ping, retried reads) reconnects by itself once it is back.
        engine = create_engine(settings, application_name="leadflow-api")
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        # Likewise Redis: the cache starts on memory and finds Redis in the background.
        cache = build_cache(settings, role="api")
        await cache.start()
        app.state.cache = cache
        warmer = None
        if settings.cache_enabled and settings.cache_warm:
            warmer = Warmer(cache, ViewContext(app.state.sessionmaker, settings))
            warmer.schedule()
        app.state.cache_warmer = warmer
        app.state.sync_observer = CacheSyncObserver(cache, warmer)
        sampling = SamplingLoop(
            app.state.metrics_sampler, app.state, interval=settings.metrics_sample_interval_seconds
        )
        sampling.start()
        stop = asyncio.Event()
        loop_task: asyncio.Task[None] | None = None
        if background_sync and gmail_configured(settings):
            loop_task = asyncio.create_task(
                run_sync_loop(
                    settings, app.state.sessionmaker, stop=stop, observer=app.state.sync_observer
                ),
                name="leadflow-sync-loop",
            )
        alert_task: asyncio.Task[None] | None = None
        if background_sync and settings.response_alert_webhook_url is not None:
            # Its own task: a slow web-hook never holds up the sync (leads.response_alerts).
            alert_task = asyncio.create_task(
                run_alert_loop(settings, app.state.sessionmaker, stop=stop),
                name="leadflow-response-alerts",
            )
        try:
            yield
        finally:
            stop.set()
            for task in (loop_task, alert_task):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            await stop_sync_tasks(app)
            if warmer is not None:
                await warmer.close()
            await sampling.stop()  # this process's last figures, while cache and pool are open
            await cache.close()
            await engine.dispose()
            mark_this_process_dead()

    app = FastAPI(
        title="leadflow",
        version=__version__,
        summary="Leads, customers, email threads and bookings for a small service business.",
        description=API_DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    # One throttle per secret (`api.throttle`): wrong guesses of one never hold back another.
    for name, secret in (
        ("auth_throttle", "API token"),
        ("metrics_throttle", "metrics token"),
        ("webhook_throttle", "web-hook secret"),
    ):
        throttle = AuthThrottle(
            limit=settings.auth_failure_limit,
            window_seconds=settings.auth_failure_window_seconds,
            guessed=secret,
        )
        setattr(app.state, name, throttle)
    app.router.route_class = RetryingRoute
    install_error_handlers(app)
    # Innermost: an exception no handler answered is logged once, under the request's id.
    app.add_middleware(ErrorBoundary)
    # Added before monitoring's middleware, so it runs inside it: a write's recorded latency
    # includes its invalidation, and the cache's log lines carry the request id.
    app.add_middleware(InvalidateOnWrite)
    # The token and the body's size are checked before anything reads the body.
    app.add_middleware(RequestGuard)
    app.include_router(api_router())
    install_dashboard(app)
    install_monitoring(app)
    install_openapi(app)
    return app


def create_served_app() -> FastAPI:
    """Factory for `leadflow serve --workers N`: settings from the environment, sync loop on."""
    return create_app(background_sync=True)
