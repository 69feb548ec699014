"""Housekeeping jobs run by the arq worker."""

from __future__ import annotations

from typing import Any

from app.core.idempotency import purge_expired


async def ping(ctx: dict[str, Any]) -> str:
    """A no-op job: lets operators and tests check that a worker is consuming the queue."""
    return "pong"


async def purge_idempotency_records(ctx: dict[str, Any]) -> int:
    return await purge_expired(ctx["session_factory"], ctx["settings"].idempotency_ttl_seconds)
