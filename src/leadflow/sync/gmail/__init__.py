"""Gmail API v1 access: async client, quota bucket, retries, error classes, credentials."""

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
from leadflow.sync.gmail.quota import Clock, MonotonicClock, TokenBucket
from leadflow.sync.gmail.stats import GmailStats, TokenProvider

__all__ = [
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
    "TokenBucket",
    "TokenProvider",
    "classify",
    "create_http_client",
    "decode_raw",
]
