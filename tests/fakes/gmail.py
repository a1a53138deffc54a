"""A fake Gmail API v1 (plus an OAuth token endpoint) for tests and benchmarks.

`FakeMailbox` holds the mail, the history, the issued tokens, injected faults and a per-user
quota; `mailbox.app` is a Starlette ASGI app serving the discovery document's paths:

    GET  /gmail/v1/users/{userId}/profile                 users.getProfile      1 unit
    GET  /gmail/v1/users/{userId}/messages                users.messages.list   5
    GET  /gmail/v1/users/{userId}/messages/{id}           users.messages.get    5
    GET  /gmail/v1/users/{userId}/history                 users.history.list    2
    GET  /gmail/v1/users/{userId}/threads[/{id}]          users.threads.list/get 10
    POST /batch/gmail/v1                                  HTTP batch (≤ 100 calls; each counted,
                                                          charged and faulted as on its own)
    POST /token                                           OAuth 2.0 token endpoint

Use it in-process with `httpx.ASGITransport(app=mailbox.app)`, or over TCP with
`serve_in_thread(mailbox)`, or as a process: `python -m tests.fakes.gmail --help`.
"""

from __future__ import annotations

import random
import threading
import time
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, MutableMapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route

from tests.fakes.gmail_batch import (
    BATCH_PATH,
    MAX_BATCH_PARTS,
    BatchCall,
    parse_batch_request,
    render_batch_response,
)
from tests.fakes.gmail_quota import (
    ConcurrencyCap,
    LenientQuota,
    QuotaMode,
    QuotaModel,
    SlidingWindowQuota,
)
from tests.fakes.gmail_tokens import READONLY_SCOPE, TokenIssuer
from tests.fakes.gmail_wire import (
    HISTORY_KEYS,
    BadRequest,
    FakeMessage,
    Fault,
    HistoryRecord,
    bool_param,
    error_body,
    int_param,
    make_raw_email,
    page_size,
    render_message,
    synthetic_raw_email,
)

Handler = Callable[[Request], dict[str, Any]]

METHOD_COSTS = {
    "getProfile": 1,
    "messages.list": 5,
    "messages.get": 5,
    "history.list": 2,
    "threads.list": 10,
    "threads.get": 10,
}


class FakeClockLike(Protocol):
    def now(self) -> float: ...
    def wall(self) -> datetime: ...


class RealClock:
    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> datetime:
        return datetime.now(UTC)


class FakeMailbox:
    """One Gmail user's mailbox, with fault injection, a quota model and call counting.

    Quota (off unless `quota_units_per_second` is set): `quota_mode` "lenient" is a token bucket
    with `quota_burst_seconds` of burst, "strict" a 1 s sliding window counted at arrival (see
    tests/fakes/gmail_quota.py); over quota answers `quota_refusal` (429, or 403
    userRateLimitExceeded) with Gmail's "Retry after <time>" text. `max_concurrent_requests`
    answers 429 to requests beyond that many in progress at once.
    """

    def __init__(
        self,
        *,
        email: str = "info@rendetalje.dk",
        clock: FakeClockLike | None = None,
        quota_units_per_second: float | None = None,
        quota_burst_seconds: float = 1.0,
        quota_mode: QuotaMode | str = QuotaMode.LENIENT,
        quota_refusal: int = 429,
        max_concurrent_requests: int | None = None,
        fault_rate: float = 0.0,
        fault_statuses: Sequence[int] = (429, 500, 503),
        seed: int = 0,
        require_auth: bool = True,
        first_history_id: int = 1000,
    ) -> None:
        self.email = email
        self.clock: FakeClockLike = clock or RealClock()
        self.require_auth = require_auth
        self.tokens = TokenIssuer(email=email, now=self.clock.now)
        self.messages: dict[str, FakeMessage] = {}
        self.history: list[HistoryRecord] = []
        self.history_id = first_history_id
        self.history_floor = 0  # a startHistoryId below this answers 404
        self.faults: list[Fault] = []
        self.fault_rate = fault_rate
        self.fault_statuses = tuple(fault_statuses)
        self.calls: Counter[str] = Counter()
        self.throttled = 0  # 429s answered by the quota model
        self.batch_requests = 0  # POSTs to the batch endpoint (their calls count in `calls`)
        self.units_charged = 0
        self.quota_units_per_second = quota_units_per_second
        self.quota_mode = QuotaMode(quota_mode)
        if quota_refusal not in (429, 403):
            raise ValueError("quota_refusal must be 429 or 403 (userRateLimitExceeded)")
        self.quota_refusal = quota_refusal
        self.quota = self._quota_model(quota_burst_seconds)
        self._rng = random.Random(seed)
        self._next_id = 0x18E0_0000_0000_0000
        self._last_date = int(self.clock.wall().timestamp() * 1000)
        self._order: list[tuple[int, str]] = []  # (internalDate, id) ascending, for listing
        self._list_cache: dict[tuple[bool, frozenset[str]], tuple[int, list[FakeMessage]]] = {}
        self._lock = threading.RLock()
        self.app = self._build_app()
        self.concurrency_cap: ConcurrencyCap | None = None
        if max_concurrent_requests is not None:
            self.concurrency_cap = ConcurrencyCap(
                self.app, limit=max_concurrent_requests, on_refuse=self._refused_concurrent
            )
            self.app = self.concurrency_cap

    # --- mailbox state ---------------------------------------------------------------------

    def add_message(
        self,
        raw: bytes | None = None,
        *,
        labels: Iterable[str] = ("INBOX", "UNREAD"),
        thread_id: str | None = None,
        internal_date: int | None = None,
    ) -> FakeMessage:
        """Store a message (a default test email if raw is None); records messageAdded."""
        with self._lock:
            self._next_id += 1
            message_id = f"{self._next_id:016x}"
            if internal_date is None:
                internal_date = max(self._last_date + 1, int(self.clock.wall().timestamp() * 1000))
            self._last_date = max(self._last_date, internal_date)
            message = FakeMessage(
                id=message_id,
                thread_id=thread_id or message_id,
                raw=raw if raw is not None else make_raw_email(),
                internal_date=internal_date,
                history_id=0,
                label_ids=list(labels),
            )
            self.messages[message_id] = message
            self._order.insert(
                bisect_left(self._order, (internal_date, message_id)),
                (
                    internal_date,
                    message_id,
                ),
            )
            self._record("messageAdded", message)
            return message

    def delete_message(self, message_id: str) -> None:
        """Delete permanently (not to TRASH); records messageDeleted."""
        with self._lock:
            message = self.messages.pop(message_id)
            self._order.remove((message.internal_date, message_id))
            self._record("messageDeleted", message)

    def relabel(
        self, message_id: str, *, add: Iterable[str] = (), remove: Iterable[str] = ()
    ) -> None:
        """Add/remove labels; records labelAdded and/or labelRemoved."""
        with self._lock:
            message = self.messages[message_id]
            added = [label for label in add if label not in message.label_ids]
            removed = [label for label in remove if label in message.label_ids]
            if added:
                message.label_ids.extend(added)
                self._record("labelAdded", message, added)
            if removed:
                message.label_ids = [lb for lb in message.label_ids if lb not in removed]
                self._record("labelRemoved", message, removed)

    def expire_history(self, before: int) -> None:
        """Forget history records with id < before; older startHistoryIds then answer 404."""
        with self._lock:
            self.history = [record for record in self.history if record.id >= before]
            self.history_floor = max(self.history_floor, before - 1)

    def add_synthetic_messages(self, count: int, *, replies_every: int = 3) -> list[FakeMessage]:
        """Add `count` generated emails; every `replies_every`-th continues an earlier thread."""
        added: list[FakeMessage] = []
        for n in range(count):
            thread_id = None
            if replies_every and added and n % replies_every == 0:
                thread_id = added[self._rng.randrange(len(added))].thread_id
            added.append(self.add_message(synthetic_raw_email(n), thread_id=thread_id))
        return added

    def _record(self, kind: str, message: FakeMessage, labels: list[str] | None = None) -> None:
        self.history_id += 1
        if kind != "messageDeleted":
            message.history_id = self.history_id
        self.history.append(HistoryRecord(self.history_id, kind, message.ref(), labels or []))

    # --- faults and quota ------------------------------------------------------------------

    def inject(self, status: int, **kwargs: Any) -> Fault:
        """Queue a fault (see `Fault` for the keyword arguments)."""
        fault = Fault(status, **kwargs)
        with self._lock:
            self.faults.append(fault)
        return fault

    def retry_after_text(self, seconds: float) -> str:
        """Gmail's rate-limit message naming a time `seconds` from the fake's now."""
        when = self.clock.wall() + timedelta(seconds=seconds)
        return f"User-rate limit exceeded.  Retry after {when.isoformat(timespec='milliseconds')}"

    def _take_fault(self, method: str, message_id: str | None) -> Response | None:
        for fault in self.faults:
            if fault.times > 0 and fault.method in (None, method):
                if fault.message_id is not None and fault.message_id != message_id:
                    continue
                fault.times -= 1
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
                body = error_body(fault.status, fault.message, fault.reason)
                return JSONResponse(body, fault.status, headers=headers)
        if self.fault_rate and self._rng.random() < self.fault_rate:
            status = self._rng.choice(self.fault_statuses)
            return JSONResponse(error_body(status), status)
        return None

    def _quota_model(self, burst_seconds: float) -> QuotaModel | None:
        rate = self.quota_units_per_second
        if not rate:
            return None
        if self.quota_mode is QuotaMode.STRICT:
            return SlidingWindowQuota(units=rate, window=1.0, now=self.clock.now)
        return LenientQuota(rate=rate, burst_seconds=burst_seconds, now=self.clock.now)

    def _charge(self, method: str) -> Response | None:
        cost = METHOD_COSTS[method]
        if self.quota is not None:
            wait = self.quota.charge(cost)
            if wait is not None:
                self.throttled += 1
                return self._rate_limited(wait)
        self.units_charged += cost
        return None

    def _rate_limited(self, wait: float) -> Response:
        """Gmail's over-quota answer: 429, or 403 userRateLimitExceeded; "Retry after" text."""
        text = self.retry_after_text(wait)
        if self.quota_refusal == 403:
            return JSONResponse(error_body(403, text, "userRateLimitExceeded"), 403)
        return JSONResponse(error_body(429, text), 429)

    def _refused_concurrent(self) -> None:
        with self._lock:
            self.throttled += 1

    # --- HTTP ------------------------------------------------------------------------------

    def _build_app(self) -> Starlette:
        base = "/gmail/v1/users/{user_id}"
        api: list[tuple[str, str, Handler]] = [
            ("/profile", "getProfile", self._profile),
            ("/messages", "messages.list", self._list_messages),
            ("/messages/{id}", "messages.get", self._get_message),
            ("/history", "history.list", self._list_history),
            ("/threads", "threads.list", self._list_threads),
            ("/threads/{id}", "threads.get", self._get_thread),
        ]
        self._api_routes = [
            (Route(base + path, self._endpoint(name, fn)), name, fn) for path, name, fn in api
        ]
        routes = [route for route, _, _ in self._api_routes]
        routes.append(Route(BATCH_PATH, self._batch_endpoint, methods=["POST"]))
        routes.append(Route("/token", self._token_endpoint, methods=["POST"]))
        return Starlette(routes=routes)

    def _endpoint(self, method: str, handler: Handler) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            return self._respond(method, handler, request)

        return endpoint

    def _respond(self, method: str, handler: Handler, request: Request) -> Response:
        """One API call: count it, then a fault, auth, quota, or the handler's answer."""
        with self._lock:
            self.calls[method] += 1
            refusal = (
                self._take_fault(method, request.path_params.get("id"))
                or self._check_auth(request)
                or self._charge(method)
            )
            if refusal is not None:
                return refusal
            try:
                return JSONResponse(handler(request))
            except BadRequest as exc:
                return JSONResponse(error_body(400, str(exc)), 400)
            except KeyError:
                return JSONResponse(error_body(404), 404)

    async def _batch_endpoint(self, request: Request) -> Response:
        """POST /batch/gmail/v1: each inner call answered as if it had come on its own."""
        with self._lock:
            self.batch_requests += 1
            refusal = self._take_batch_fault()
        if refusal is not None:
            return refusal
        try:
            inner = parse_batch_request(
                request.headers.get("content-type", ""), await request.body()
            )
        except BadRequest as exc:
            return JSONResponse(error_body(400, str(exc)), 400)
        if len(inner) > MAX_BATCH_PARTS:
            message = f"Too many requests in batch: {len(inner)} (at most {MAX_BATCH_PARTS})"
            return JSONResponse(error_body(400, message), 400)
        outer_auth = request.headers.get("authorization")
        answers = [
            (call.content_id, self._dispatch(call, outer_auth, request.scope)) for call in inner
        ]
        boundary = f"batch_{self._rng.getrandbits(64):016x}"
        return Response(
            render_batch_response(answers, boundary),
            200,
            media_type=f"multipart/mixed; boundary={boundary}",
        )

    def _dispatch(
        self, call: BatchCall, outer_auth: str | None, outer: MutableMapping[str, Any]
    ) -> Response:
        """Route one inner request to the same handler its own HTTP request would reach."""
        headers = dict(call.headers)
        if outer_auth and "authorization" not in headers:
            headers["authorization"] = outer_auth
        path, _, query = call.target.partition("?")
        scope: dict[str, Any] = {
            "type": "http",
            "method": call.method,
            "path": unquote(path),
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": query.encode(),
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
            "scheme": outer.get("scheme", "http"),
            "server": outer.get("server"),
            "app": outer.get("app"),
        }
        for route, method, handler in self._api_routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                scope.update(child)
                return self._respond(method, handler, Request(scope))
            if match is Match.PARTIAL:  # the path is right, the HTTP method is not
                return JSONResponse(error_body(405, "Method not allowed"), 405)
        return JSONResponse(error_body(404), 404)

    def _take_batch_fault(self, target: str = "batch") -> Response | None:
        """A fault queued for the batch request itself (`inject(..., method="batch")`), or for
        the token endpoint (`method="token"`); faults for any method (None) reach neither."""
        for fault in self.faults:
            if fault.times > 0 and fault.method == target:
                fault.times -= 1
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
                body = error_body(fault.status, fault.message, fault.reason)
                return JSONResponse(body, fault.status, headers=headers)
        return None

    def _check_auth(self, request: Request) -> Response | None:
        if not self.require_auth:
            return None
        header = request.headers.get("authorization", "")
        scopes = self.tokens.scopes_of(header.removeprefix("Bearer ").strip())
        if scopes is None:
            return JSONResponse(
                error_body(401),
                401,
                headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
            )
        if not scopes & {READONLY_SCOPE, "https://www.googleapis.com/auth/gmail.modify"}:
            return JSONResponse(error_body(403), 403)
        user = request.path_params["user_id"]
        if user != "me" and user.lower() != self.email.lower():
            message = f"Delegation denied for {self.email}"
            return JSONResponse(error_body(403, message, "forbidden"), 403)
        return None

    async def _token_endpoint(self, request: Request) -> Response:
        form = (await request.body()).decode("utf-8")
        with self._lock:
            self.calls["token"] += 1
            refusal = self._take_batch_fault("token")
            if refusal is not None:
                return refusal
            status, body = self.tokens.grant(form, str(request.url))
        return JSONResponse(body, status)

    # --- Gmail methods (called under the lock) ---------------------------------------------

    def _profile(self, request: Request) -> dict[str, Any]:
        return {
            "emailAddress": self.email,
            "messagesTotal": len(self.messages),
            "threadsTotal": len({m.thread_id for m in self.messages.values()}),
            "historyId": str(self.history_id),
        }

    def _list_messages(self, request: Request) -> dict[str, Any]:
        matching = self._matching(request)
        size = page_size(request)
        end = len(matching)
        if token := request.query_params.get("pageToken"):
            # The token is the key of the last message sent, so a page never skips a message
            # when others are added or deleted between pages.
            date, _, last_id = token.partition("-")
            cursor = (int_param(date, "pageToken"), last_id)
            end = bisect_left(matching, cursor, key=lambda m: (m.internal_date, m.id))
        page = matching[max(end - size, 0) : end][::-1]
        result: dict[str, Any] = {"resultSizeEstimate": len(matching)}
        if page:
            result["messages"] = [m.ref(labels=False) for m in page]
        if end - size > 0:
            result["nextPageToken"] = f"{page[-1].internal_date}-{page[-1].id}"
        return result

    def _matching(self, request: Request) -> list[FakeMessage]:
        """Messages for the list's filters, oldest first (pages are served newest first)."""
        params = request.query_params
        spam_trash = bool_param(params.get("includeSpamTrash", "false"), "includeSpamTrash")
        wanted = set(params.getlist("labelIds"))
        for term in (params.get("q") or "").split():
            key, _, value = term.partition(":")
            if key not in {"label", "in"} or not value:
                raise BadRequest(f"the fake supports only label:/in: queries, not {term!r}")
            wanted.add(value.upper())
        cache_key = (spam_trash, frozenset(wanted))
        cached = self._list_cache.get(cache_key)
        if cached is not None and cached[0] == self.history_id:
            return cached[1]
        result = []
        for _, message_id in self._order:
            message = self.messages[message_id]
            labels = set(message.label_ids)
            if not spam_trash and labels & {"SPAM", "TRASH"} and not wanted & {"SPAM", "TRASH"}:
                continue
            if wanted <= labels:
                result.append(message)
        self._list_cache[cache_key] = (self.history_id, result)
        return result

    def _get_message(self, request: Request) -> dict[str, Any]:
        message_id = request.path_params["id"]
        if not all(c in "0123456789abcdef" for c in message_id):
            raise BadRequest("Invalid id value")
        fmt = request.query_params.get("format", "full")
        if fmt not in {"raw", "full", "metadata", "minimal"}:
            raise BadRequest(f"Invalid value at 'format' ({fmt})")
        headers = request.query_params.getlist("metadataHeaders")
        return render_message(self.messages[message_id], fmt, headers)

    def _list_history(self, request: Request) -> dict[str, Any]:
        params = request.query_params
        if "startHistoryId" not in params:
            raise BadRequest("Missing startHistoryId")
        start = int_param(params["startHistoryId"], "startHistoryId")
        if start < self.history_floor:
            raise KeyError(start)
        if token := params.get("pageToken"):
            start = max(start, int_param(token.removeprefix("h"), "pageToken"))
        kinds = params.getlist("historyTypes") or list(HISTORY_KEYS)
        if unknown := set(kinds) - set(HISTORY_KEYS):
            raise BadRequest(f"Invalid value at 'history_types' ({sorted(unknown)})")
        label = params.get("labelId")
        size = page_size(request)
        ids = [record.id for record in self.history]
        page: list[HistoryRecord] = []
        more = False
        for record in self.history[bisect_right(ids, start) :]:
            if record.kind not in kinds or (label and label not in record.message["labelIds"]):
                continue
            if len(page) == size:
                more = True
                break
            page.append(record)
        result: dict[str, Any] = {"historyId": str(self.history_id)}
        if page:
            result["history"] = [record.render() for record in page]
        if more:
            result["nextPageToken"] = f"h{page[-1].id}"
        return result

    def _list_threads(self, request: Request) -> dict[str, Any]:
        threads: dict[str, FakeMessage] = {}
        for message in reversed(self._matching(request)):  # the first seen is the latest
            threads.setdefault(message.thread_id, message)
        ordered = list(threads.items())
        size = page_size(request)
        start = int_param(
            request.query_params.get("pageToken", "t0").removeprefix("t"), "pageToken"
        )
        page = ordered[start : start + size]
        result: dict[str, Any] = {"resultSizeEstimate": len(ordered)}
        if page:
            result["threads"] = [
                {"id": tid, "snippet": "", "historyId": str(latest.history_id)}
                for tid, latest in page
            ]
        if start + size < len(ordered):
            result["nextPageToken"] = f"t{start + size}"
        return result

    def _get_thread(self, request: Request) -> dict[str, Any]:
        thread_id = request.path_params["id"]
        fmt = request.query_params.get("format", "full")
        if fmt not in {"full", "metadata", "minimal"}:
            raise BadRequest(f"Invalid value at 'format' ({fmt})")
        members = sorted(
            (m for m in self.messages.values() if m.thread_id == thread_id),
            key=lambda m: (m.internal_date, m.id),
        )
        if not members:
            raise KeyError(thread_id)
        return {
            "id": thread_id,
            "historyId": str(max(m.history_id for m in members)),
            "messages": [render_message(m, fmt) for m in members],
        }
