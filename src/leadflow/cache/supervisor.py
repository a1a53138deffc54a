"""The background task that keeps a process's cache tied to Redis.

While Redis answers, it listens on the invalidation channel and hands every message to the
cache (other processes' writes drop this process's near copies). When the subscription breaks,
or the circuit is open, it probes Redis every `probe_interval` seconds: subscribe again, replay
the invalidations made while Redis was away, and only then close the circuit — so the first
read from Redis after an outage can never return a value this process has already invalidated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from redis.exceptions import RedisError

from leadflow.cache.redis_tier import RedisTier, RedisUnavailable

log = logging.getLogger(__name__)


class SupervisedLink(Protocol):
    def subscribed(self) -> None:
        """The subscription is live: from now on no invalidation is missed."""

    def unsubscribed(self, reason: str) -> None:
        """The subscription broke: invalidations may be missed until it is back."""

    def needs_recovery(self) -> bool: ...

    async def recover(self) -> None:
        """Probe Redis, replay pending invalidations, close the circuit; raise if Redis fails."""

    def apply_remote(self, data: bytes) -> None: ...


class Supervisor:
    def __init__(self, link: SupervisedLink, redis: RedisTier, *, probe_interval: float) -> None:
        self._link = link
        self._redis = redis
        self._probe_interval = probe_interval
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="leadflow-cache-supervisor")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await self._listen()
            except (TimeoutError, RedisUnavailable, RedisError, OSError) as exc:
                self._link.unsubscribed(f"{type(exc).__name__}: {exc}")
            except Exception:
                # A bug here must not end the supervision for the life of the process.
                log.exception("cache supervisor failed; retrying")
                self._link.unsubscribed("supervisor error")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self._probe_interval)

    async def _listen(self) -> None:
        pubsub = self._redis.pubsub()
        try:
            await asyncio.wait_for(pubsub.subscribe(self._redis.channel), self._probe_interval)
            self._link.subscribed()
            await self._link.recover()
            while not self._stop.is_set():
                message = await pubsub.get_message(timeout=self._probe_interval)
                if message is not None and message.get("type") == "message":
                    self._link.apply_remote(message["data"])
                if self._link.needs_recovery():
                    # Commands failed while the subscription held: probe and replay from here.
                    await self._link.recover()
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
