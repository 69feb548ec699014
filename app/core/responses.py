"""JSON responses built straight from rows: one orjson call, no per-row models.

Hot routes return these instead of a pydantic model; FastAPI then sends them as they are. The
route still declares its `response_model`, so the OpenAPI document describes the same shape,
and the tests compare both. Date-times come out as pydantic writes them (RFC 3339 with `Z`).
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from fastapi import Response

from app.core.deps import etag_of

_OPTIONS = orjson.OPT_UTC_Z


def _other(value: Any) -> Any:
    # asyncpg returns its own UUID class (a subclass of uuid.UUID), which orjson leaves to us.
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(content: Any) -> bytes:
    """JSON bytes for dicts, lists, UUIDs, dates, date-times (UTC as `Z`) and enums."""
    return orjson.dumps(content, default=_other, option=_OPTIONS)


def dumps_text(content: Any) -> str:
    """`dumps` as text (the engine's JSON serializer for JSON columns)."""
    return orjson.dumps(content, default=_other, option=_OPTIONS).decode()


def json_response(content: Any, *, status_code: int = 200, version: int | None = None) -> Response:
    """A JSON response; `version` sets the ETag of a single resource."""
    headers = {"ETag": etag_of(version)} if version is not None else None
    return Response(dumps(content), status_code, headers, media_type="application/json")


def page_response(items: list[Any], next_cursor: str | None) -> Response:
    """`{"items": […], "next_cursor": …}` (app/core/pagination.py)."""
    return Response(
        dumps({"items": items, "next_cursor": next_cursor}), media_type="application/json"
    )
