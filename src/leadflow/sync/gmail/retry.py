"""Retry policy for Gmail calls: truncated exponential backoff with full jitter, via tenacity."""

from __future__ import annotations

import random
from collections.abc import Callable

from tenacity import RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.asyncio import AsyncRetrying

from leadflow.sync.gmail.errors import MAX_RETRY_AFTER_SECONDS, GmailError
from leadflow.sync.gmail.quota import Clock
from leadflow.sync.gmail.stats import TokenProvider

BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 64.0  # Google's guidance for the Gmail API

OnRetry = Callable[[GmailError, int, float], None]


def full_jitter_wait(retry_number: int, rng: random.Random) -> float:
    """Seconds before retry `retry_number` (1 = first): uniform(0, min(64, 2^(n-1)))."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (retry_number - 1))
    return rng.uniform(0.0, ceiling)


def backoff_wait(error: GmailError, retry_number: int, rng: random.Random) -> float:
    """The jittered wait, but never shorter than the server's own Retry-After (within a cap)."""
    wait = full_jitter_wait(retry_number, rng)
    if error.retry_after is not None:
        wait = max(wait, min(error.retry_after, MAX_RETRY_AFTER_SECONDS))
    return wait


def is_transient(exc: BaseException) -> bool:
    """True for a GmailError that retrying might cure."""
    return isinstance(exc, GmailError) and not exc.permanent


def gmail_retrying(
    *, max_attempts: int, clock: Clock, rng: random.Random, on_retry: OnRetry
) -> AsyncRetrying:
    """An AsyncRetrying that sleeps on `clock`, so tests run backoff in virtual time.

    Up to `max_attempts` attempts in total; only transient GmailErrors are retried and the last
    error is re-raised as is (not wrapped in tenacity's RetryError).
    """

    def wait(state: RetryCallState) -> float:
        error = _error_of(state)
        return backoff_wait(error, state.attempt_number, rng)

    def before_sleep(state: RetryCallState) -> None:
        sleep = state.next_action.sleep if state.next_action is not None else 0.0
        on_retry(_error_of(state), state.attempt_number, sleep)

    return AsyncRetrying(
        sleep=clock.sleep,
        stop=stop_after_attempt(max_attempts),
        wait=wait,
        retry=retry_if_exception(is_transient),
        before_sleep=before_sleep,
        reraise=True,
    )


async def refresh_token(
    credentials: TokenProvider,
    *,
    max_attempts: int,
    clock: Clock,
    rng: random.Random,
    on_retry: OnRetry,
) -> str:
    """A new access token, the token endpoint's transient failures retried like a Gmail call.

    A refresh that still fails after `max_attempts` is raised as permanent: it has had its
    retries, and a caller's own retry loop starting it over would multiply the attempts.
    """
    retrying = gmail_retrying(max_attempts=max_attempts, clock=clock, rng=rng, on_retry=on_retry)
    try:
        token: str = await retrying(credentials.refresh)
    except GmailError as error:
        if error.permanent:
            raise
        raise GmailError(
            f"{error.message}; gave up after {max_attempts} attempts",
            status=error.status,
            reason=error.reason,
            permanent=True,
        ) from error
    return token


def _error_of(state: RetryCallState) -> GmailError:
    exc = state.outcome.exception() if state.outcome is not None else None
    if not isinstance(exc, GmailError):  # the retry predicate lets only GmailErrors through
        raise TypeError(f"unexpected outcome in Gmail retry: {exc!r}")
    return exc
