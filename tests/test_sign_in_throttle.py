"""Who is counted: sign-in attempts per account from any address (app/users/throttle.py), and
the client address a trusted proxy forwards — never one a client claims (app/main.py)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from redis.asyncio import Redis

from app.cli import _uvicorn_options
from app.core.config import Settings
from tests.conftest import running_app
from tests.helpers import PASSWORD, unique


@contextlib.asynccontextmanager
async def client_at(app: FastAPI, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests reach the app from the socket address `ip`."""
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as c:
        yield c


def _is_429(r: httpx.Response) -> bool:
    return (
        r.status_code == 429
        and r.headers["content-type"].startswith("application/problem+json")
        and 0 < int(r.headers["retry-after"]) <= 60
    )


async def _sign_in(
    c: httpx.AsyncClient, email: str, password: str, forwarded_for: str | None = None
) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    r = await c.post("/auth/token", data={"username": email, "password": password}, headers=headers)
    assert r.status_code != 429 or _is_429(r), r.text
    return r.status_code


@pytest.fixture
async def account_limited(settings: Settings) -> AsyncIterator[FastAPI]:
    limits = {"rate_sign_ins_per_minute_account": 3, "redis_prefix": unique("wgacct")}
    async with running_app(settings.model_copy(update=limits)) as application:
        yield application


async def test_guessing_one_accounts_password_from_many_addresses_is_throttled(
    account_limited: FastAPI, settings: Settings
) -> None:
    email = f"{unique('Target')}@Example.org"
    async with client_at(account_limited, "198.51.100.1") as c:
        r = await c.post("/auth/register", json={"email": email, "password": PASSWORD, "name": "T"})
        assert r.status_code == 201
    answers = []
    for i in range(4):  # a new address per guess; the email in other spellings
        spelling = email.upper() if i % 2 else f" {email.lower()}"
        async with client_at(account_limited, f"203.0.113.{i + 1}") as c:
            answers.append(await _sign_in(c, spelling, f"guess-{i}"))
    assert answers == [401, 401, 401, 429]
    async with client_at(account_limited, "203.0.113.99") as c:
        # Throttled before the password is checked: the right one waits too.
        assert await _sign_in(c, email, PASSWORD) == 429
        # Other accounts are not affected.
        other = f"{unique('other')}@example.org"
        await c.post("/auth/register", json={"email": other, "password": PASSWORD, "name": "O"})
        assert await _sign_in(c, other, PASSWORD) == 200

    # No email in Redis: the account's bucket is named by a keyed hash.
    redis = Redis.from_url(settings.effective_redis_url)
    try:
        prefix = account_limited.state.settings.redis_prefix
        keys = [k.decode() async for k in redis.scan_iter(f"{prefix}:ratelimit:*")]
    finally:
        await redis.aclose()
    assert any(":signin-account:" in k for k in keys)
    local_part = email.split("@")[0].lower()
    assert not [k for k in keys if local_part in k.lower() or "example.org" in k.lower()]


async def test_the_throttle_does_not_tell_whether_an_account_exists(
    account_limited: FastAPI,
) -> None:
    existing = f"{unique('exists')}@example.org"
    missing = f"{unique('nobody')}@example.org"
    async with client_at(account_limited, "198.51.100.2") as c:
        r = await c.post(
            "/auth/register", json={"email": existing, "password": PASSWORD, "name": "E"}
        )
        assert r.status_code == 201
        seen = {}
        for email in (existing, missing):
            answers = [
                await c.post("/auth/token", data={"username": email, "password": "wrong-pass"})
                for _ in range(4)
            ]
            seen[email] = [(a.status_code, a.json()["detail"]) for a in answers]
    assert seen[existing] == seen[missing]
    assert [status for status, _ in seen[missing]] == [401, 401, 401, 429]


@pytest.fixture
async def behind_proxy(settings: Settings) -> AsyncIterator[FastAPI]:
    limits = {
        "rate_sign_ins_per_minute_ip": 2,
        "forwarded_allow_ips": "10.0.0.0/24, 10.1.0.1",
        "redis_prefix": unique("wgproxy"),
    }
    async with running_app(settings.model_copy(update=limits)) as application:
        yield application


async def test_a_trusted_proxy_names_the_client(behind_proxy: FastAPI) -> None:
    nobody = f"{unique('nobody')}@example.org"
    async with client_at(behind_proxy, "10.0.0.7") as proxy:

        async def via_proxy(forwarded_for: str) -> int:
            return await _sign_in(proxy, nobody, "wrong-pass", forwarded_for=forwarded_for)

        # Two clients behind the proxy: a bucket each, not one shared by everyone behind it.
        assert [await via_proxy("203.0.113.5") for _ in range(3)] == [401, 401, 429]
        assert [await via_proxy("203.0.113.6") for _ in range(2)] == [401, 401]
        # What the client itself put in the header (left of what the proxies appended) is
        # ignored: the right-most address no trusted proxy vouches for is the client.
        assert await via_proxy("192.0.2.1, 203.0.113.5") == 429
        assert await via_proxy("192.0.2.2, 203.0.113.5, 10.1.0.1") == 429


async def test_a_forwarded_address_from_an_untrusted_peer_is_ignored(
    behind_proxy: FastAPI,
) -> None:
    nobody = f"{unique('nobody')}@example.org"
    async with client_at(behind_proxy, "198.51.100.3") as c:
        answers = [
            await _sign_in(c, nobody, "wrong-pass", forwarded_for=f"203.0.113.{i}")
            for i in range(3)
        ]
    assert answers == [401, 401, 429]  # a new address per request does not escape the limit


async def test_wg_servers_ignore_forwarded_addresses_by_default(settings: Settings) -> None:
    """uvicorn as `wg serve` and `wg api` run it: a local client claiming other addresses
    (uvicorn alone believes X-Forwarded-For from 127.0.0.1) shares one bucket."""
    limits = {"rate_sign_ins_per_minute_ip": 2, "redis_prefix": unique("wgproxy")}
    limited = settings.model_copy(update=limits)
    async with running_app(limited) as app:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        port = sock.getsockname()[1]
        options = _uvicorn_options(limited, console_on_terminal=False) | {"log_level": "warning"}
        server = uvicorn.Server(uvicorn.Config(app, lifespan="off", **options))
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/api/v1") as c:
                nobody = f"{unique('nobody')}@example.org"
                answers = [
                    await _sign_in(c, nobody, "wrong-pass", forwarded_for=f"203.0.113.{i}")
                    for i in range(3)
                ]
        finally:
            server.should_exit = True
            await serving
    assert answers == [401, 401, 429]
