"""Single-flight: concurrent misses on one key in this process share one load."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """`run(key, work)` starts `work` unless a run for `key` is in progress, then awaits it.

    The work runs in its own task: a caller that is cancelled (a client hanging up) neither
    cancels it nor leaves the others waiting; they all get its result or its exception.
    """

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Task[T]] = {}

    def __len__(self) -> int:
        return len(self._running)

    async def run(self, key: str, work: Callable[[], Coroutine[Any, Any, T]]) -> tuple[T, bool]:
        """The work's result, and whether this call started it (False: it joined a run)."""
        task = self._running.get(key)
        leader = task is None
        if task is None:
            task = asyncio.create_task(work())
            self._running[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(task), leader

    def _finished(self, key: str, task: asyncio.Task[Any]) -> None:
        if self._running.get(key) is task:
            del self._running[key]
        if not task.cancelled():
            # Mark the exception retrieved even when every waiter was cancelled.
            with contextlib.suppress(BaseException):
                task.exception()
