"""Rate limits (429 with Retry-After) and the per-user websocket connection cap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from app.core.config import Settings
from tests.conftest import api_client, running_app
from tests.helpers import PASSWORD, make_user, settings_changed, unique
from tests.ws import WsClient


@pytest.fixture
async def strict_app(settings: Settings) -> AsyncIterator[FastAPI]:
    limits = {
        "rate_writes_per_minute_credential": 5,
        "rate_writes_per_minute_ip": 8,
        "rate_sign_ins_per_minute_ip": 3,
        # Counters of their own, so other tests' requests never count here.
        "redis_prefix": unique("wglimits"),
    }
    async with running_app(settings.model_copy(update=limits)) as application:
        yield application


def _is_429(r: httpx.Response) -> bool:
    retry_after = int(r.headers.get("retry-after", "0"))
    return (
        r.status_code == 429
        and r.headers["content-type"].startswith("application/problem+json")
        and 0 < retry_after <= 60
    )


async def test_sign_ins_are_limited_per_ip(strict_app: FastAPI) -> None:
    async with api_client(strict_app) as client:
        email = f"{unique('limited')}@example.org"
        r = await client.post(
            "/auth/register", json={"email": email, "password": PASSWORD, "name": "L"}
        )
        assert r.status_code == 201
        answers = [
            await client.post("/auth/token", data={"username": email, "password": "wrong-pass"})
            for _ in range(4)
        ]
        assert [a.status_code for a in answers[:2]] == [401, 401]
        assert _is_429(answers[2]) and _is_429(answers[3])  # 3 per minute, register counted


async def test_writes_are_limited_per_credential_and_refused_writes_change_nothing(
    settings: Settings, client: httpx.AsyncClient, strict_app: FastAPI
) -> None:
    user = await make_user(client, "writer")  # signed up through the unlimited app
    async with api_client(strict_app) as limited:
        answers = [
            await limited.post("/groups", json={"name": f"g{i}"}, headers=user.headers)
            for i in range(7)
        ]
        assert [a.status_code for a in answers[:5]] == [201] * 5
        assert all(_is_429(a) for a in answers[5:])
        r = await limited.get("/groups", params={"limit": 200}, headers=user.headers)
        assert r.status_code == 200  # reads are not limited
        mine = [g for g in r.json()["items"] if g["my_role"] == "owner"]
        assert len(mine) == 5


async def test_websocket_connections_per_user_are_capped(
    app: FastAPI, client: httpx.AsyncClient, live_server: str
) -> None:
    user = await make_user(client, "tabs")
    clients: list[WsClient] = []
    with settings_changed(app, ws_max_connections_per_user=2):
        for _ in range(3):
            ws = await WsClient(f"ws://{live_server}/api/v1/ws", user.token).connect()
            clients.append(ws)
            if len(clients) < 3:  # registered with the hub once it answers
                await ws.send({"type": "ping"})
                await ws.wait_for_message("pong")
        assert clients[2].closed is not None
        code, _ = await asyncio.wait_for(clients[2].closed, 10)
        assert code == 1008
        assert not clients[0].is_closed and not clients[1].is_closed
    for ws in clients:
        await ws.close()
