"""A fake UptimeRobot API v2, as strict as the documented one.

Every call is `POST /v2/<method>` with a form-encoded body holding `api_key` and `format=json`
(without format=json the real API answers XML; so does this). Answers are `{"stat": "ok", ...}`
or `{"stat": "fail", "error": {"type", "message" | "parameter_name", "passed_value"}}`.
Rate limit: `rate_limit` requests per 60 s of the fake clock per key (10 on the free plan);
past it, HTTP 429 with Retry-After. Monitors: types 1-5 with the documented statuses; editMonitor
refuses a type change; `alert_contacts` is `ID_threshold_recurrence` joined by `-` and must name
existing contacts. Intervals below `min_interval` (300 on the free plan) are refused.
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from tests import threaded_server
from tests.fakes.clock import FakeClock

WINDOW_SECONDS = 60.0


@dataclass
class FakeMonitor:
    id: int
    friendly_name: str
    url: str
    type: int
    interval: int
    status: int = 1
    alert_contacts: list[tuple[str, int, int]] = field(default_factory=list)
    uptime_ratio: str = "100.000-100.000-100.000"


@dataclass
class FakeContact:
    id: str
    type: int
    value: str
    friendly_name: str
    status: int = 2


class _Fail(Exception):
    def __init__(self, error: dict[str, Any], status: int = 200) -> None:
        super().__init__(error.get("message", error.get("type")))
        self.error = error
        self.status = status


class FakeUptimeRobot:
    def __init__(
        self,
        *,
        api_key: str = "u1234567-fakefakefakefakefake",
        clock: FakeClock | None = None,
        rate_limit: int = 10,
        min_interval: int = 60,
    ) -> None:
        self.api_key = api_key
        self.clock = clock or FakeClock()
        self.rate_limit = rate_limit
        self.min_interval = min_interval
        self.monitors: dict[int, FakeMonitor] = {}
        self.contacts: dict[str, FakeContact] = {}
        self.calls: list[str] = []
        self.bodies: list[dict[str, str]] = []
        self.request_ids: list[str | None] = []
        self._recent: deque[float] = deque()
        self._ids = itertools.count(777_000_001)
        self._contact_ids = itertools.count(4561)

    # --- ASGI ------------------------------------------------------------------------------

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        response = self.handle(scope["method"], scope["path"], headers, body)
        await response(scope, receive, send)

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        if method != "POST" or not path.startswith("/v2/"):
            return Response("not found", status_code=404)
        name = path.removeprefix("/v2/")
        self.calls.append(name)
        self.request_ids.append(headers.get("x-request-id"))
        limited = self._rate_limited()
        if limited is not None:
            return limited
        if headers.get("content-type", "").split(";")[0].strip() != (
            "application/x-www-form-urlencoded"
        ):
            return self._fail({"type": "invalid_parameter", "message": "send a form body"}, 400)
        params = dict(parse_qsl(body.decode(), keep_blank_values=True))
        self.bodies.append(params)
        if params.get("format") != "json":
            return Response("<xml><stat>ok</stat></xml>", media_type="application/xml")
        if params.get("api_key") != self.api_key:
            return self._fail(
                {
                    "type": "invalid_parameter",
                    "parameter_name": "api_key",
                    "passed_value": params.get("api_key", ""),
                }
            )
        handler = getattr(self, f"_{name}", None)
        if handler is None:
            return self._fail({"type": "not_found", "message": f"method {name} not found"}, 404)
        try:
            return JSONResponse({"stat": "ok", **handler(params)})
        except _Fail as exc:
            return self._fail(exc.error, exc.status)

    def _fail(self, error: dict[str, Any], status: int = 200) -> Response:
        return JSONResponse({"stat": "fail", "error": error}, status_code=status)

    def _rate_limited(self) -> Response | None:
        now = self.clock.now()
        while self._recent and now - self._recent[0] >= WINDOW_SECONDS:
            self._recent.popleft()
        if len(self._recent) >= self.rate_limit:
            wait = int(WINDOW_SECONDS - (now - self._recent[0])) + 1
            return Response(
                json.dumps(
                    {
                        "stat": "fail",
                        "error": {"type": "rate_limit", "message": "Too Many Requests"},
                    }
                ),
                status_code=429,
                headers={"Retry-After": str(wait)},
                media_type="application/json",
            )
        self._recent.append(now)
        return None

    # --- methods ---------------------------------------------------------------------------

    def _page(self, params: dict[str, str], items: list[Any]) -> tuple[list[Any], dict[str, int]]:
        offset = int(params.get("offset", "0"))
        limit = min(int(params.get("limit", "50")), 50)
        return items[offset : offset + limit], {
            "offset": offset,
            "limit": limit,
            "total": len(items),
        }

    def _getAccountDetails(self, params: dict[str, str]) -> dict[str, Any]:
        return {
            "account": {
                "email": "ops@example.dk",
                "monitor_limit": 50,
                "monitor_interval": self.min_interval,
            }
        }

    def _getMonitors(self, params: dict[str, str]) -> dict[str, Any]:
        chosen = list(self.monitors.values())
        if params.get("monitors"):
            wanted = {int(i) for i in params["monitors"].split("-")}
            chosen = [m for m in chosen if m.id in wanted]
        page, pagination = self._page(params, chosen)
        return {"pagination": pagination, "monitors": [self._monitor_json(m, params) for m in page]}

    def _monitor_json(self, m: FakeMonitor, params: dict[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": m.id,
            "friendly_name": m.friendly_name,
            "url": m.url,
            "type": m.type,
            "sub_type": "",
            "keyword_type": None,
            "keyword_value": "",
            "http_username": "",
            "http_password": "",
            "port": "",
            "interval": m.interval,
            "status": m.status,
            "create_datetime": 1764417600,
        }
        if params.get("alert_contacts") == "1":
            out["alert_contacts"] = [
                {
                    "id": cid,
                    "value": self.contacts[cid].value,
                    "type": self.contacts[cid].type,
                    "threshold": threshold,
                    "recurrence": recurrence,
                }
                for cid, threshold, recurrence in m.alert_contacts
            ]
        if params.get("custom_uptime_ratios"):
            days = params["custom_uptime_ratios"].split("-")
            out["custom_uptime_ratio"] = "-".join(m.uptime_ratio.split("-")[: len(days)])
        return out

    def _attachments(self, raw: str | None) -> list[tuple[str, int, int]]:
        if not raw:
            return []
        out = []
        for part in raw.split("-"):
            pieces = part.split("_")
            if len(pieces) != 3 or pieces[0] not in self.contacts:
                raise _Fail(
                    {
                        "type": "invalid_parameter",
                        "parameter_name": "alert_contacts",
                        "passed_value": raw,
                    }
                )
            out.append((pieces[0], int(pieces[1]), int(pieces[2])))
        return out

    def _interval(self, raw: str | None) -> int:
        interval = int(raw or "300")
        if interval < self.min_interval:
            raise _Fail(
                {
                    "type": "invalid_parameter",
                    "parameter_name": "interval",
                    "passed_value": raw,
                    "message": f"interval must be at least {self.min_interval}",
                }
            )
        return interval

    def _newMonitor(self, params: dict[str, str]) -> dict[str, Any]:
        for required in ("friendly_name", "url", "type"):
            if not params.get(required):
                raise _Fail({"type": "missing_parameter", "parameter_name": required})
        kind = int(params["type"])
        if kind not in {1, 2, 3, 4, 5}:
            raise _Fail(
                {
                    "type": "invalid_parameter",
                    "parameter_name": "type",
                    "passed_value": params["type"],
                }
            )
        if any(m.url == params["url"] and m.type == kind for m in self.monitors.values()):
            raise _Fail({"type": "already_exists", "message": "monitor already exists"})
        monitor = FakeMonitor(
            id=next(self._ids),
            friendly_name=params["friendly_name"],
            url=params["url"],
            type=kind,
            interval=self._interval(params.get("interval")),
            alert_contacts=self._attachments(params.get("alert_contacts")),
        )
        self.monitors[monitor.id] = monitor
        return {"monitor": {"id": monitor.id, "status": 1}}

    def _editMonitor(self, params: dict[str, str]) -> dict[str, Any]:
        monitor = self.monitors.get(int(params.get("id") or 0))
        if monitor is None:
            raise _Fail({"type": "not_found", "message": "monitor not found"})
        if "type" in params:
            raise _Fail(
                {
                    "type": "invalid_parameter",
                    "parameter_name": "type",
                    "message": "monitor type can't be edited",
                }
            )
        if "friendly_name" in params:
            monitor.friendly_name = params["friendly_name"]
        if "url" in params:
            monitor.url = params["url"]
        if "interval" in params:
            monitor.interval = self._interval(params["interval"])
        if "alert_contacts" in params:
            monitor.alert_contacts = self._attachments(params["alert_contacts"])
        return {"monitor": {"id": monitor.id}}

    def _getAlertContacts(self, params: dict[str, str]) -> dict[str, Any]:
        page, pagination = self._page(params, list(self.contacts.values()))
        return {
            **pagination,
            "alert_contacts": [
                {
                    "id": c.id,
                    "friendly_name": c.friendly_name,
                    "type": c.type,
                    "status": c.status,
                    "value": c.value,
                }
                for c in page
            ],
        }

    def _newAlertContact(self, params: dict[str, str]) -> dict[str, Any]:
        for required in ("type", "value"):
            if not params.get(required):
                raise _Fail({"type": "missing_parameter", "parameter_name": required})
        contact = FakeContact(
            id=str(next(self._contact_ids)),
            type=int(params["type"]),
            value=params["value"],
            friendly_name=params.get("friendly_name", ""),
        )
        self.contacts[contact.id] = contact
        return {"alertcontact": {"id": contact.id, "status": 0}}

    def _editAlertContact(self, params: dict[str, str]) -> dict[str, Any]:
        contact = self.contacts.get(params.get("id", ""))
        if contact is None:
            raise _Fail({"type": "not_found", "message": "alert contact not found"})
        if "value" in params:
            if contact.type != 5:
                raise _Fail(
                    {
                        "type": "invalid_parameter",
                        "parameter_name": "value",
                        "message": "value can be edited for web-hooks only",
                    }
                )
            contact.value = params["value"]
        if "friendly_name" in params:
            contact.friendly_name = params["friendly_name"]
        return {"alert_contact": {"id": contact.id}}

    # --- test helpers ----------------------------------------------------------------------

    def writes(self) -> list[str]:
        return [c for c in self.calls if not c.startswith("get")]


def serve_in_thread(
    fake: FakeUptimeRobot, *, host: str = "127.0.0.1"
) -> AbstractContextManager[str]:
    """Run the fake under uvicorn on a free port in a daemon thread; the context yields its URL."""
    return threaded_server.serve_in_thread(fake.app, name="fake-uptimerobot", host=host)
