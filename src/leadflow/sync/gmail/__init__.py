"""Gmail API v1 access: async client, adaptive quota pacing, retries, error classes, credentials."""

from leadflow.sync.gmail.client import GmailClient, create_http_client, decode_raw
from leadflow.sync.gmail.errors import (
    GmailAuthError,
    GmailBadRequest,
    GmailError,
    GmailNotFound,
    GmailPermissionError,
    GmailRateLimited,
    classify,
)
from leadflow.sync.gmail.pacing import AimdRate, QuotaPacer
from leadflow.sync.gmail.quota import Clock, MonotonicClock
from leadflow.sync.gmail.stats import GmailStats, TokenProvider

__all__ = [
    "AimdRate",
    "Clock",
    "GmailAuthError",
    "GmailBadRequest",
    "GmailClient",
    "GmailError",
    "GmailNotFound",
    "GmailPermissionError",
    "GmailRateLimited",
    "GmailStats",
    "MonotonicClock",
    "QuotaPacer",
    "TokenProvider",
    "classify",
    "create_http_client",
    "decode_raw",
]
