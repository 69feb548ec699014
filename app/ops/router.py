"""Liveness, readiness and metrics for orchestrators and Prometheus."""

from __future__ import annotations

import asyncio
import hmac

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from app.core.errors import problem_response

router = APIRouter(tags=["ops"])
READY_TIMEOUT_SECONDS = 2.0
# Every 503 says when to ask again (the OpenAPI document promises it); a probe's next look.
NOT_READY_RETRY_AFTER_SECONDS = 5


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive (no dependency is checked)."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "A dependency is unreachable"}})
async def readyz(request: Request) -> Response:
    """The database and Redis both answer."""
    failures: dict[str, str] = {}
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS), request.app.state.engine.connect() as c:
            await c.execute(text("SELECT 1"))
    except Exception as exc:
        failures["database"] = type(exc).__name__
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            await request.app.state.redis.ping()
    except Exception as exc:
        failures["redis"] = type(exc).__name__
    if failures:
        return problem_response(
            503,
            "Not ready: " + ", ".join(sorted(failures)),
            extra={"checks": failures},
            headers={"Retry-After": str(NOT_READY_RETRY_AFTER_SECONDS)},
        )
    return Response(
        '{"status":"ok","checks":{"database":"ok","redis":"ok"}}', media_type="application/json"
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}},
)
async def metrics(request: Request) -> Response:
    """Prometheus text exposition. With `WG_METRICS_TOKEN` set, only for
    `Authorization: Bearer <that token>` (others get 404, as if there were nothing here)."""
    expected = request.app.state.settings.metrics_token
    if expected is not None:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            return problem_response(404, "Not Found")
    return Response(
        generate_latest(request.app.state.metrics.exposed), media_type=CONTENT_TYPE_LATEST
    )
