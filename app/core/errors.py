"""Domain errors carry their HTTP status; one set of handlers renders RFC 9457 problem+json.

Services raise these and never `HTTPException`, so they stay usable from workers and the CLI.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://wghub.dev/problems/"


class DomainError(Exception):
    status: int = 400
    code: str = "bad-request"

    def __init__(
        self,
        detail: str,
        *,
        errors: Sequence[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors) if errors is not None else None
        self.headers = headers
        self.extra = extra or {}


class BadRequest(DomainError):
    status, code = 400, "bad-request"


class Unauthorized(DomainError):
    status, code = 401, "unauthorized"

    def __init__(self, detail: str = "Missing or invalid credentials", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kw)


class Forbidden(DomainError):
    status, code = 403, "forbidden"


class NotFound(DomainError):
    status, code = 404, "not-found"


class Conflict(DomainError):
    status, code = 409, "conflict"


class InvalidTransition(Conflict):
    code = "invalid-transition"


class PreconditionFailed(DomainError):
    status, code = 412, "precondition-failed"


class ValidationFailed(DomainError):
    status, code = 422, "validation-error"


class RateLimited(DomainError):
    status, code = 429, "rate-limited"


class ServiceUnavailable(DomainError):
    """A service the request needs (Redis) is away for a moment: try again shortly."""

    status, code = 503, "service-unavailable"

    def __init__(self, detail: str, **kw: Any) -> None:
        kw.setdefault("headers", {"Retry-After": "5"})
        super().__init__(detail, **kw)


def problem_response(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    title = HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (code or title.lower().replace(" ", "-")),
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    # Extension members add to the standard ones and never replace them (RFC 9457 §3.2).
    body.update({k: v for k, v in (extra or {}).items() if k not in body})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _jsonable_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for err in errors:
        out.append(
            {
                "loc": [str(p) for p in err.get("loc", ())],
                "msg": str(err.get("msg", "")),
                "type": str(err.get("type", "")),
            }
        )
    return out


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return problem_response(
        exc.status,
        exc.detail,
        code=exc.code,
        errors=exc.errors,
        headers=exc.headers,
        extra=exc.extra,
    )


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _jsonable_errors(exc.errors())
    if any(e["type"] == "json_invalid" for e in errors):
        return problem_response(400, "The request body is not valid JSON", code="malformed-json")
    fields = ", ".join(".".join(e["loc"][1:] or e["loc"]) for e in errors)
    return problem_response(422, f"Invalid input: {fields}", code="validation-error", errors=errors)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return problem_response(exc.status_code, detail, headers=dict(exc.headers or {}))


async def _stale_data(_: Request, exc: Exception) -> JSONResponse:
    # A concurrent writer changed the row between our read and our versioned UPDATE.
    return problem_response(
        412, "The resource was changed by someone else; fetch it again", code="precondition-failed"
    )


# How long a client is told to wait when the database cannot take its request.
DATABASE_RETRY_AFTER_SECONDS = 5


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database could not be had (rather than a bug): the pool stayed
    empty for `db_pool_timeout_seconds`, the server refused or dropped the connection, or
    SQLite stayed locked for its busy timeout."""
    if isinstance(exc, sa_exc.TimeoutError):  # the pool's (not asyncio's)
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        if isinstance(exc, sa_exc.OperationalError) and "database is locked" in str(exc.orig):
            return True
        exc = exc.orig if isinstance(exc.orig, BaseException) else exc
    # Connecting: refused, unreachable or timed out (asyncpg raises these unwrapped), or a
    # server that is starting, shutting down or full.
    return isinstance(exc, (ConnectionError, OSError, TimeoutError)) or type(exc).__name__ in {
        "CannotConnectNowError",
        "TooManyConnectionsError",
        "ConnectionDoesNotExistError",
        "AdminShutdownError",
    }


async def _unhandled(_: Request, exc: Exception) -> JSONResponse:
    if database_unavailable(exc):
        log.warning("database unavailable: %s", type(exc).__name__)
        return problem_response(
            503,
            "The database is unavailable or busy; try again shortly",
            code="database-unavailable",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )
    log.exception("unhandled error", exc_info=exc)
    return problem_response(500, "Internal server error", code="internal-error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(StaleDataError, _stale_data)
    # Handled where the route runs (not only by the last-resort handler, which re-raises
    # into the server's log): a database that is away is an expected state, not a crash.
    for kind in (sa_exc.TimeoutError, sa_exc.DBAPIError, OSError):
        app.add_exception_handler(kind, _unhandled)
    app.add_exception_handler(Exception, _unhandled)
