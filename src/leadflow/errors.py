"""One error shape, `{"error": {"code", "message", "details"}}`, for every status we send."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from leadflow.api.data_errors import data_error_details, is_data_error
from leadflow.db import CONCURRENCY_SQLSTATES, is_connection_error, sqlstate

log = logging.getLogger(__name__)


class AppError(Exception):
    """Base of every error an endpoint raises on purpose; rendered by `install_error_handlers`."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class Unprocessable(AppError):
    status_code = 422
    code = "validation_error"


class TooManyAttempts(AppError):
    """Too many wrong secrets from the client's address (`api.throttle`); says when to retry."""

    status_code = 429
    code = "too_many_attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many wrong tokens from this address; try again in {retry_after} s "
            "(LEADFLOW_AUTH_FAILURE_LIMIT per LEADFLOW_AUTH_FAILURE_WINDOW_SECONDS)",
            details={"retry_after_seconds": retry_after},
        )
        self.retry_after = retry_after


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def error_message(body: bytes) -> str | None:
    """The `message` of an error body in our shape, or None when `body` is not one."""
    try:
        return str(json.loads(body)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return None


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    503: "service_unavailable",
}


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    fields = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        fields.append(
            {"field": ".".join(loc), "message": err.get("msg", ""), "type": err.get("type")}
        )
    return fields


def app_error_response(exc: AppError) -> JSONResponse:
    """The answer to an `AppError`: its status and body, and the headers its kind calls for."""
    headers: dict[str, str] | None = None
    if exc.status_code == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    elif isinstance(exc, TooManyAttempts):
        headers = {"Retry-After": str(exc.retry_after)}
    return error_response(exc.status_code, exc.code, exc.message, exc.details, headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
        return app_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        malformed = _malformed_json(exc)
        if malformed is not None:
            return malformed
        fields = _field_errors(exc)
        names = ", ".join(f["field"] for f in fields) or "request"
        return error_response(422, "validation_error", f"invalid input: {names}", fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc.__cause__, UnicodeDecodeError):  # FastAPI's 400 for a non-UTF-8 body
            message = f"malformed JSON at byte {exc.__cause__.start}: not UTF-8 text"
            details = [{"field": "body", "message": message, "type": "json_invalid"}]
            return error_response(422, "validation_error", message, details)
        if isinstance(exc.__cause__, RecursionError):  # FastAPI's 400 for JSON nested too deep
            message = "malformed JSON: nested too deeply to read"
            details = [{"field": "body", "message": message, "type": "json_invalid"}]
            return error_response(422, "validation_error", message, details)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(
            exc.status_code, code, str(exc.detail), None, dict(exc.headers or {}) or None
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(_request: Request, exc: IntegrityError) -> JSONResponse:
        log.info("integrity error: %s", exc.orig)
        return error_response(409, "conflict", "the change conflicts with existing data")

    # Registered by class so they are answered inside the route, under the request's id. Any
    # other exception is answered by `api.boundary.ErrorBoundary` with the `Exception` handler,
    # before Starlette's outermost middleware (which would log it a second time) sees it.
    app.add_exception_handler(DBAPIError, _database_error)
    for exc_class in (OverflowError, OSError, TimeoutError, Exception):
        app.add_exception_handler(exc_class, _unexpected)


def _malformed_json(exc: RequestValidationError) -> JSONResponse | None:
    """FastAPI reports a body that is not JSON at `("body", <character position>)`."""
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            loc = err.get("loc", ())
            position = loc[1] if len(loc) > 1 else 0
            reason = str((err.get("ctx") or {}).get("error", "not valid JSON"))
            message = f"malformed JSON at character {position}: {reason}"
            details = [{"field": "body", "message": message, "type": "json_invalid"}]
            return error_response(422, "validation_error", message, details)
    return None


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if sqlstate(exc) in CONCURRENCY_SQLSTATES:
        log.info("concurrent change refused: %s", sqlstate(exc))
        return error_response(
            409,
            "conflict",
            "a concurrent change to the same data won; nothing was saved, send the request again",
        )
    return await _unexpected(request, exc)


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    return unexpected_error_response(exc)


def unexpected_error_response(exc: BaseException) -> JSONResponse:
    """The answer to an exception no endpoint meant to raise; it logs one line (traceback once).

    A value the database refused (a backstop: the schemas bound every value) is a 422; a lost
    database a 503; anything else a 500.
    """
    if is_data_error(exc):
        message, details = data_error_details(exc)
        log.warning("database refused a value: %s (%s)", message, type(exc).__name__)
        return error_response(422, "validation_error", message, details)
    if isinstance(exc, PoolTimeout):
        # Every pooled connection stayed busy for LEADFLOW_DB_CONNECT_TIMEOUT seconds.
        log.warning("database connection pool exhausted")
        return error_response(
            503,
            "service_unavailable",
            "the database is busy: no connection came free in time; try again shortly",
            None,
            {"Retry-After": "1"},
        )
    if is_connection_error(exc):
        log.warning("database unavailable: %s", type(exc).__name__)
        return error_response(
            503, "service_unavailable", "the database is unavailable; try again shortly"
        )
    log.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
    return error_response(500, "internal_error", "an unexpected error occurred")
