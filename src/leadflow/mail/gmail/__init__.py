"""Gmail API v1 access: async client, quota bucket, retries, error classes, credentials."""

from leadflow.mail.gmail.client import (
    GmailClient,
    GmailStats,
    TokenProvider,
    create_http_client,
    decode_raw,
)
from leadflow.mail.gmail.errors import (
    GmailAuthError,
    GmailBadRequest,
    GmailError,
    GmailNotFound,
    GmailPermissionError,
    GmailRateLimited,
    classify,
)
from leadflow.mail.gmail.quota import Clock, MonotonicClock, TokenBucket

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
