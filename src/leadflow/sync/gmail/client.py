"""Async Gmail REST client: adaptively quota-paced, bounded concurrency, retried, counted."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from leadflow.sync.gmail.batch_gets import BatchGets, MessageResult, response_json
from leadflow.sync.gmail.batch_wire import BATCH_PATH, MAX_BATCH_SIZE
from leadflow.sync.gmail.errors import GmailError, GmailRateLimited, classify
from leadflow.sync.gmail.pacing import AimdRate, QuotaPacer, Ticket
from leadflow.sync.gmail.quota import (
    COST_GET_PROFILE,
    COST_HISTORY_LIST,
    COST_MESSAGES_GET,
    COST_MESSAGES_LIST,
    Clock,
    MonotonicClock,
)
from leadflow.sync.gmail.retry import gmail_retrying
from leadflow.sync.gmail.stats import GmailStats, TokenProvider

log = logging.getLogger(__name__)

MESSAGE_FORMATS = frozenset({"raw", "full", "metadata", "minimal"})
HISTORY_TYPES = ("messageAdded", "messageDeleted", "labelAdded", "labelRemoved")
MAX_PAGE_SIZE = 500
DEFAULT_BATCH_SIZE = 50  # Gmail allows 100 calls per batch but advises against more than 50

Params = list[tuple[str, str | int | float | bool | None]]


def create_http_client(*, concurrency: int = 10, timeout: float = 30.0) -> httpx.AsyncClient:
    """An httpx client sized for `concurrency` requests, with timeouts suitable for Gmail."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=10.0),
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
    )


class GmailClient(BatchGets):
    """One mailbox's Gmail API v1. Every method is one API call (one page for the lists).

    All calls share one semaphore and one `QuotaPacer`: an adaptive rate between
    `min_units_per_second` (default a tenth of the ceiling) and `units_per_second`, cut when
    Gmail throttles and recovering after, with calls spread evenly (see pacing.py). Transient
    failures are retried with full-jitter backoff; 401 refreshes the token once, the refresh
    itself retried like a call. `get_messages` fetches up to `batch_size` messages per HTTP
    batch request (1: single gets), fewer when the pacing rate allows less per request.
    """

    def __init__(
        self,
        *,
        base_url: str,
        user: str,
        http: httpx.AsyncClient,
        credentials: TokenProvider,
        units_per_second: float = 250.0,
        min_units_per_second: float | None = None,
        max_attempts: int = 6,
        concurrency: int = 10,
        batch_size: int = DEFAULT_BATCH_SIZE,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        wall_clock: Callable[[], datetime] | None = None,
    ) -> None:
        if max_attempts < 1 or concurrency < 1:
            raise ValueError("max_attempts and concurrency must be at least 1")
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_SIZE}")
        base = base_url.rstrip("/")
        self._users_url = f"{base}/gmail/v1/users/{quote(user, safe='')}"
        # Inner requests of a batch name absolute paths on the same host.
        self._users_path = httpx.URL(self._users_url).raw_path.decode("ascii")
        self._batch_url = base + BATCH_PATH
        self.batch_size = batch_size
        self._http = http
        self._credentials = credentials
        self._clock: Clock = clock or MonotonicClock()
        # Jitter only spreads retries out; it needs no cryptographic randomness.
        self._rng = rng or random.Random()  # noqa: S311
        self._wall_clock = wall_clock or (lambda: datetime.now(UTC))
        self._max_attempts = max_attempts
        floor = units_per_second / 10 if min_units_per_second is None else min_units_per_second
        rate = AimdRate(
            ceiling=units_per_second, floor=min(floor, units_per_second), clock=self._clock
        )
        self._pacer = QuotaPacer(rate=rate, clock=self._clock)
        self._semaphore = asyncio.Semaphore(concurrency)
        self.stats = GmailStats()

    async def get_profile(self) -> dict[str, Any]:
        """users.getProfile: emailAddress, messagesTotal, threadsTotal, historyId."""
        return await self._call("profile", [], COST_GET_PROFILE)

    async def list_messages(
        self,
        *,
        page_token: str | None = None,
        max_results: int = MAX_PAGE_SIZE,
        query: str | None = None,
        include_spam_trash: bool = False,
    ) -> dict[str, Any]:
        """One page of users.messages.list: messages [{id, threadId}], nextPageToken, estimate."""
        params: Params = [
            ("maxResults", str(_page_size(max_results))),
            ("includeSpamTrash", "true" if include_spam_trash else "false"),
        ]
        if page_token:
            params.append(("pageToken", page_token))
        if query:
            params.append(("q", query))
        return await self._call("messages", params, COST_MESSAGES_LIST)

    async def get_message(self, message_id: str, *, format: str = "raw") -> dict[str, Any]:
        """users.messages.get; with format="raw" the message carries base64url `raw` bytes."""
        if format not in MESSAGE_FORMATS:
            raise ValueError(f"format must be one of {sorted(MESSAGE_FORMATS)}")
        path = f"messages/{quote(message_id, safe='')}"
        return await self._call(path, [("format", format)], COST_MESSAGES_GET)

    async def get_messages(self, ids: Sequence[str], *, format: str = "raw") -> list[MessageResult]:
        """users.messages.get for many ids, `batch_size` per HTTP batch; results in input order.

        Each result is the Message, or the GmailError its call ended with (404, 400, 403,
        401 after one refresh, transient errors after `max_attempts`): one failing message
        does not fail the others. Failed parts are retried by re-batching only their ids,
        with the backoff of single calls. A batch request that fails as a whole (transport,
        429/5xx on the batch itself) is retried as a whole; if it still fails, or fails
        permanently, that GmailError is raised. Counting: each inner call is one api_call
        costing 5 units; each inner call sent again is one retry.
        """
        if format not in MESSAGE_FORMATS:
            raise ValueError(f"format must be one of {sorted(MESSAGE_FORMATS)}")
        if self.batch_size == 1:
            singles = (self._get_or_error(message_id, format) for message_id in ids)
            return list(await asyncio.gather(*singles))
        size = min(self.batch_size, self._pacer.calls_per_request(COST_MESSAGES_GET))
        chunks = [ids[i : i + size] for i in range(0, len(ids), size)]
        outcomes = await asyncio.gather(
            *(self._get_batch(chunk, format) for chunk in chunks), return_exceptions=True
        )
        results: list[MessageResult] = []
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
            results += outcome
        return results

    async def list_history(
        self,
        *,
        start_history_id: str,
        page_token: str | None = None,
        max_results: int = MAX_PAGE_SIZE,
        history_types: Sequence[str] = HISTORY_TYPES,
    ) -> dict[str, Any]:
        """One page of users.history.list: history records, nextPageToken, current historyId.

        Raises GmailNotFound when start_history_id is older than Gmail's retained history.
        """
        params: Params = [
            ("startHistoryId", start_history_id),
            ("maxResults", str(_page_size(max_results))),
        ]
        params += [("historyTypes", kind) for kind in history_types]
        if page_token:
            params.append(("pageToken", page_token))
        return await self._call("history", params, COST_HISTORY_LIST)

    async def _call(self, path: str, params: Params, cost: int) -> dict[str, Any]:
        retrying = gmail_retrying(
            max_attempts=self._max_attempts,
            clock=self._clock,
            rng=self._rng,
            on_retry=lambda error, attempt, wait: self._on_retry(path, error, attempt, wait),
        )
        try:
            result: dict[str, Any] = await retrying(self._attempt, path, params, cost)
        except GmailError as error:
            self.stats.failures += 1
            log.debug("gmail %s failed: %s", path, error.message)
            raise
        return result

    async def _attempt(self, path: str, params: Params, cost: int) -> dict[str, Any]:
        """One attempt, which may send twice: after a 401 the token is refreshed once."""
        token = await self._credentials.token()
        refreshed = False
        while True:
            response, ticket = await self._send(path, params, cost, token)
            if response.status_code == 401 and not refreshed:
                refreshed = True
                self.stats.retries += 1
                log.info("gmail %s answered 401; refreshing the access token", path)
                token = await self._refresh_token()
                continue
            if response.is_success:
                return _json_object(response)
            error = classify(
                response.status_code,
                response_json(response),
                None,
                headers=response.headers,
                now=self._wall_clock,
            )
            if isinstance(error, GmailRateLimited):
                self.stats.throttled += 1
                self._pacer.throttled(ticket, error.retry_after)
            raise error

    async def _send(
        self, path: str, params: Params, cost: int, token: str
    ) -> tuple[httpx.Response, Ticket]:
        # Paced inside the semaphore, so that a call leaves the moment its units are counted.
        async with self._semaphore:
            ticket = await self._pacer.acquire(cost)
            self.stats.units_used += cost
            self.stats.api_calls += 1
            try:
                response = await self._http.get(
                    f"{self._users_url}/{path}",
                    params=params,
                    headers={"Authorization": f"Bearer {token}"},
                )
            except httpx.HTTPError as exc:
                raise classify(None, None, exc) from exc
            finally:
                self._pacer.answered(ticket)
            return response, ticket

    async def _get_or_error(self, message_id: str, format: str) -> MessageResult:
        try:
            return await self.get_message(message_id, format=format)
        except GmailError as error:
            return error

    def _on_retry(self, path: str, error: GmailError, attempt: int, wait: float) -> None:
        self.stats.retries += 1
        log.warning(
            "gmail %s attempt %d failed (%s); retrying in %.1f s",
            path,
            attempt,
            error.message,
            wait,
        )


def decode_raw(message: dict[str, Any]) -> bytes:
    """The RFC 822 bytes of a message fetched with format="raw" (base64url, padding optional)."""
    raw = message.get("raw")
    if not isinstance(raw, str):
        raise ValueError("message has no raw field; fetch it with format='raw'")
    data = raw.strip().rstrip("=")
    try:
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("message raw field is not valid base64url") from exc


def _page_size(max_results: int) -> int:
    if not 1 <= max_results <= MAX_PAGE_SIZE:
        raise ValueError(f"max_results must be between 1 and {MAX_PAGE_SIZE}")
    return max_results


def _json_object(response: httpx.Response) -> dict[str, Any]:
    body = response_json(response)
    if body is None:
        # A cut-off or garbled 200 is more likely a flaky proxy than a lasting fault.
        raise GmailError(
            f"Gmail answered {response.status_code} without a JSON object",
            status=response.status_code,
            reason="invalidResponse",
            permanent=False,
        )
    return body
