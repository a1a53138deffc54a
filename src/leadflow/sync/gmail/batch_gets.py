"""Batched users.messages.get for GmailClient: send, parse, re-batch the failed parts.

A mixin so that client.py keeps the single calls and this module the batch use case; the
attributes it relies on are set by `GmailClient.__init__`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from leadflow.sync.gmail.batch_wire import (
    BatchFormatError,
    InnerRequest,
    InnerResponse,
    build_batch_body,
    new_boundary,
    parse_batch_response,
)
from leadflow.sync.gmail.errors import GmailAuthError, GmailError, GmailRateLimited, classify
from leadflow.sync.gmail.pacing import QuotaPacer, Ticket
from leadflow.sync.gmail.quota import COST_MESSAGES_GET, Clock
from leadflow.sync.gmail.retry import backoff_wait, gmail_retrying, refresh_token
from leadflow.sync.gmail.stats import GmailStats, TokenProvider

log = logging.getLogger(__name__)

MessageResult = dict[str, Any] | GmailError


class BatchGets:
    """The batch half of GmailClient (see `GmailClient.get_messages` for the contract)."""

    stats: GmailStats
    _credentials: TokenProvider
    _http: httpx.AsyncClient
    _clock: Clock
    _rng: random.Random
    _wall_clock: Callable[[], datetime]
    _max_attempts: int
    _pacer: QuotaPacer
    _semaphore: asyncio.Semaphore
    _users_path: str
    _batch_url: str

    async def _get_batch(self, ids: Sequence[str], format: str) -> list[MessageResult]:
        """One batch's ids, re-batching the failed ones until each has a final result."""
        results: dict[int, MessageResult] = {}
        pending = list(range(len(ids)))
        refreshed = False
        retry_number = 0
        while pending:
            answers = await self._send_batch([ids[i] for i in pending], format)
            again: list[int] = []
            transient: list[GmailError] = []
            unauthorised = 0
            for index, answer in zip(pending, answers, strict=True):
                if isinstance(answer, GmailAuthError) and not refreshed:
                    again.append(index)
                    unauthorised += 1
                elif isinstance(answer, GmailError) and not answer.permanent:
                    if retry_number + 1 < self._max_attempts:
                        again.append(index)
                        transient.append(answer)
                    else:
                        results[index] = answer
                else:
                    results[index] = answer
            if unauthorised:
                refreshed = True
                log.info("gmail batch: %d parts answered 401; refreshing the token", unauthorised)
                await self._refresh_token()
            if transient:
                retry_number += 1
                # Wait as long as the most demanding part asks (its Retry-After, if any).
                worst = max(transient, key=lambda e: e.retry_after or 0.0)
                wait = backoff_wait(worst, retry_number, self._rng)
                self._on_batch_retry(len(again), worst, retry_number, wait)
                await self._clock.sleep(wait)
            elif again:
                self.stats.retries += len(again)
            pending = again
        self.stats.failures += sum(isinstance(r, GmailError) for r in results.values())
        return [results[index] for index in range(len(ids))]

    async def _send_batch(self, ids: Sequence[str], format: str) -> list[MessageResult]:
        """Send one batch request, retrying it whole while it fails as a whole."""
        retrying = gmail_retrying(
            max_attempts=self._max_attempts,
            clock=self._clock,
            rng=self._rng,
            on_retry=lambda error, attempt, wait: self._on_batch_retry(
                len(ids), error, attempt, wait
            ),
        )
        try:
            answers: list[MessageResult] = await retrying(self._batch_attempt, ids, format)
        except GmailError as error:
            self.stats.failures += len(ids)
            log.debug("gmail batch of %d failed: %s", len(ids), error.message)
            raise
        return answers

    async def _batch_attempt(self, ids: Sequence[str], format: str) -> list[MessageResult]:
        """One batch request (sent twice if the batch itself answers 401); answers by id."""
        token = await self._credentials.token()
        refreshed = False
        while True:
            response, ticket = await self._post_batch(ids, format, token)
            if response.status_code == 401 and not refreshed:
                refreshed = True
                self.stats.retries += len(ids)
                token = await self._refresh_token()
                continue
            if not response.is_success:
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
            try:
                parts = parse_batch_response(
                    response.headers.get("content-type", ""), response.content
                )
            except BatchFormatError as exc:
                raise GmailError(
                    f"Gmail batch answer unreadable: {exc}",
                    status=response.status_code,
                    reason="invalidResponse",
                    permanent=False,
                ) from exc
            return [
                self._part_result(parts.get(f"item-{n}"), ticket) for n in range(1, len(ids) + 1)
            ]

    async def _post_batch(
        self, ids: Sequence[str], format: str, token: str
    ) -> tuple[httpx.Response, Ticket]:
        cost = COST_MESSAGES_GET * len(ids)
        auth = {"Authorization": f"Bearer {token}"}
        requests = [
            InnerRequest(
                f"item-{n}",
                f"{self._users_path}/messages/{quote(message_id, safe='')}?format={format}",
                auth,
            )
            for n, message_id in enumerate(ids, start=1)
        ]
        boundary = new_boundary()
        body = build_batch_body(requests, boundary)
        # Paced inside the semaphore, so that the batch leaves the moment its units are counted.
        async with self._semaphore:
            ticket = await self._pacer.acquire(cost)
            self.stats.units_used += cost
            self.stats.api_calls += len(ids)
            try:
                response = await self._http.post(
                    self._batch_url,
                    content=body,
                    headers={"Content-Type": f"multipart/mixed; boundary={boundary}", **auth},
                )
            except httpx.HTTPError as exc:
                raise classify(None, None, exc) from exc
            finally:
                self._pacer.answered(ticket)
            return response, ticket

    async def _refresh_token(self) -> str:
        """A new access token; the token endpoint gets the retry policy of a Gmail call."""
        return await refresh_token(
            self._credentials,
            max_attempts=self._max_attempts,
            clock=self._clock,
            rng=self._rng,
            on_retry=_log_refresh_retry,
        )

    def _part_result(self, part: InnerResponse | None, ticket: Ticket) -> MessageResult:
        if part is None:
            return GmailError(
                "Gmail batch answer lacks this call's part",
                reason="invalidResponse",
                permanent=False,
            )
        if 200 <= part.status < 300:
            if part.body is None:
                return GmailError(
                    f"Gmail answered {part.status} without a JSON object",
                    status=part.status,
                    reason="invalidResponse",
                    permanent=False,
                )
            return part.body
        error = classify(part.status, part.body, None, headers=part.headers, now=self._wall_clock)
        if isinstance(error, GmailRateLimited):
            self.stats.throttled += 1
            self._pacer.throttled(ticket, error.retry_after)
        return error

    def _on_batch_retry(self, calls: int, error: GmailError, attempt: int, wait: float) -> None:
        self.stats.retries += calls
        log.warning(
            "gmail batch of %d attempt %d failed (%s); retrying in %.1f s",
            calls,
            attempt,
            error.message,
            wait,
        )


def _log_refresh_retry(error: GmailError, attempt: int, wait: float) -> None:
    log.warning(
        "gmail token refresh attempt %d failed (%s); retrying in %.1f s",
        attempt,
        error.message,
        wait,
    )


def response_json(response: httpx.Response) -> dict[str, Any] | None:
    """The response's JSON object, or None when the body is not one."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
