"""What a Gmail client needs from outside (a token provider) and what it counts (its stats)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class TokenProvider(Protocol):
    """Source of OAuth access tokens for the Gmail API."""

    async def token(self) -> str:
        """Return a valid access token (cached until shortly before it expires)."""
        ...

    async def refresh(self) -> str:
        """Fetch a new access token now (after Gmail answered 401)."""
        ...


@dataclass
class GmailStats:
    """Counters for one client: API calls sent, re-sends, calls that failed, units, 429s.

    A batch counts as the calls inside it (Gmail charges quota per inner call), so the figures
    are the same whether messages are fetched one by one or in batches.
    """

    api_calls: int = 0
    retries: int = 0
    failures: int = 0
    units_used: int = 0
    throttled: int = 0
