"""Warming: load the views the endpoints read, at start-up and after a sync that changed data.

The warmer goes through `fetch_view` with the endpoints' own `CachedView`s, so it fills exactly
the keys the next requests read (and where another process or Redis already holds a value, it
only copies it). It runs in the background: a database that is down delays nothing, its
failures are logged, and a request arriving meanwhile joins the load in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from leadflow.cache.hybrid import Cache
from leadflow.cache.views import CachedView, ViewContext, fetch_view, warm_views

log = logging.getLogger(__name__)


class Warmer:
    def __init__(
        self,
        cache: Cache,
        ctx: ViewContext,
        views: Callable[[], list[CachedView]] = warm_views,
    ) -> None:
        self._cache = cache
        self._ctx = ctx
        self._views = views
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self.runs = 0

    async def warm(self) -> list[str]:
        """Load every warm view (a failing one is logged and skipped); the keys loaded or found."""
        warmed: list[str] = []
        for view in self._views():
            try:
                await fetch_view(self._cache, view, self._ctx)
            except Exception as exc:
                log.warning("could not warm %s: %s: %s", view.key, type(exc).__name__, exc)
            else:
                warmed.append(view.key)
        self.runs += 1
        return warmed

    def schedule(self) -> None:
        """Warm in the background; if a run is going, run once more after it."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.create_task(self._loop(), name="leadflow-cache-warming")

    async def _loop(self) -> None:
        while True:
            self._again = False
            await self.warm()
            if not self._again:
                return

    async def wait(self) -> None:
        """Wait for the run in progress (the CLI warms before it exits)."""
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task

    async def close(self, *, grace: float = 5.0) -> None:
        """Let a run in progress finish (up to `grace` seconds: a query cancelled midway can
        leave its connection behind), then stop it."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        self._again = False
        with contextlib.suppress(TimeoutError, Exception):
            await asyncio.wait_for(asyncio.shield(task), grace)
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
