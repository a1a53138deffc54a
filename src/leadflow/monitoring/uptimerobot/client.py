"""UptimeRobot API v2 client: form-encoded POSTs with api_key and format=json.

Every answer is `{"stat": "ok", ...}` or `{"stat": "fail", "error": {...}}`. Errors become
UptimeRobotError with a message fit for a terminal: it never contains the API key (UptimeRobot
echoes a rejected key back as `passed_value`; that field is not read) and the web-hook secret
is masked. HTTP 429 (10 requests a minute on the free plan) is UptimeRobotRateLimited with the
Retry-After seconds; nothing is retried here, the command stops and says when to try again.
"""

from __future__ import annotations

from typing import Any

import httpx

from leadflow.logs import SecretMasker

PAGE_SIZE = 50


class UptimeRobotError(Exception):
    """An UptimeRobot call failed; str() is the message to show."""


class UptimeRobotRateLimited(UptimeRobotError):
    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


def _describe_failure(method: str, body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return f"UptimeRobot refused {method} (stat: fail, no error details)"
    kind = error.get("type")
    parameter = error.get("parameter_name")
    message = error.get("message")
    if parameter == "api_key" or kind == "invalid_api_key":
        return (
            f"UptimeRobot refused {method}: the API key is not valid (LEADFLOW_UPTIMEROBOT_API_KEY)"
        )
    parts = [str(p) for p in (kind, f"parameter {parameter}" if parameter else None, message) if p]
    return f"UptimeRobot refused {method}: {'; '.join(parts) or 'no details'}"


class UptimeRobotClient:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        http: httpx.AsyncClient,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self._base = base_url.rstrip("/")
        self._key = api_key
        self._http = http
        self._mask = SecretMasker((api_key, *secrets)).mask

    async def call(self, method: str, **params: object) -> dict[str, Any]:
        """POST one API method; return the `stat: ok` body or raise UptimeRobotError."""
        data = {"api_key": self._key, "format": "json"}
        data.update({k: str(v) for k, v in params.items() if v is not None})
        try:
            response = await self._http.post(f"{self._base}/{method}", data=data)
        except httpx.HTTPError as exc:
            raise UptimeRobotError(
                self._mask(f"UptimeRobot unreachable for {method}: {type(exc).__name__}")
            ) from None
        if response.status_code == 429:
            wait = _retry_after(response)
            when = f"retry after {wait:g} s" if wait is not None else "retry in a minute"
            raise UptimeRobotRateLimited(
                f"UptimeRobot's rate limit was reached during {method} (HTTP 429): {when}", wait
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and body.get("stat") == "ok":
            return body
        if isinstance(body, dict) and body.get("stat") == "fail":
            raise UptimeRobotError(self._mask(_describe_failure(method, body)))
        raise UptimeRobotError(
            f"UptimeRobot answered {method} with HTTP {response.status_code} and no JSON result"
        )

    async def _all(self, method: str, key: str, **params: object) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        offset = 0
        while True:
            body = await self.call(method, offset=offset, limit=PAGE_SIZE, **params)
            page = body.get(key) or []
            items += [item for item in page if isinstance(item, dict)]
            pagination = body.get("pagination") if "pagination" in body else body
            total = int(pagination.get("total", len(items))) if isinstance(pagination, dict) else 0
            offset += len(page)
            if not page or offset >= total:
                return items

    async def monitors(self, *, uptime_ratios: str | None = None) -> list[dict[str, Any]]:
        """Every monitor with its alert contacts (and custom uptime ratios when asked)."""
        return await self._all(
            "getMonitors", "monitors", alert_contacts=1, custom_uptime_ratios=uptime_ratios
        )

    async def alert_contacts(self) -> list[dict[str, Any]]:
        return await self._all("getAlertContacts", "alert_contacts")
