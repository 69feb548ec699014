"""A paused Redis (a real redis-server stopped with SIGSTOP: it accepts connections and never
answers) on the request path: writes wait on it at most once, briefly (app/core/breaker.py),
and sign-in limits hold without it (app/core/ratelimit.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from app.core.breaker import Breaker, RedisUnavailable
from app.core.config import Settings
from app.core.redis import create_redis
from tests.cluster import RedisServer
from tests.conftest import api_client, running_app
from tests.helpers import make_user, unique

# The budget for what a paused Redis may add to a write.
ADDED_BY_PAUSED_REDIS = 0.3


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    server = await RedisServer(tmp_path).start()
    try:
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(server.pid, signal.SIGCONT)  # a stopped process ignores SIGTERM
        await server.stop()


@contextlib.contextmanager
def paused(server: RedisServer) -> Iterator[None]:
    """Redis stopped (SIGSTOP) for the block; it resumes before the app shuts down, whose
    background tasks would otherwise wait on it."""
    os.kill(server.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.pid, signal.SIGCONT)


async def _timed(request: Awaitable[httpx.Response]) -> tuple[float, httpx.Response]:
    start = time.perf_counter()
    response = await request
    return time.perf_counter() - start, response


async def test_a_paused_redis_adds_at_most_300_ms_to_a_write(
    settings: Settings, redis_server: RedisServer
) -> None:
    limits = {
        "redis_url": redis_server.url,
        "redis_prefix": unique("wgpause"),
        # Under 60 a minute a process leases one token at a time: every write asks Redis.
        "rate_writes_per_minute_credential": 59,
        "rate_writes_per_minute_ip": 59,
    }
    async with running_app(settings.model_copy(update=limits)) as app, api_client(app) as c:
        user = await make_user(c, "paused")

        def write(i: int) -> Awaitable[httpx.Response]:
            # A write that records an event: the relay is woken after its commit too.
            return c.post("/groups", json={"name": f"g{i}"}, headers=user.headers)

        before = [await _timed(write(i)) for i in range(5)]
        assert all(r.status_code == 201 for _, r in before)
        baseline = statistics.median(d for d, _ in before)

        with paused(redis_server):
            during = [await _timed(write(i)) for i in range(5, 15)]

    assert [r.status_code for _, r in during] == [201] * 10  # other writes fail open
    added = max(d for d, _ in during) - baseline
    assert added <= ADDED_BY_PAUSED_REDIS, f"{added:.3f} s added; baseline {baseline:.3f} s"


async def test_a_websocket_ticket_is_a_prompt_503_while_redis_is_paused(
    settings: Settings, redis_server: RedisServer
) -> None:
    changed = {"redis_url": redis_server.url, "redis_prefix": unique("wgpause")}
    async with running_app(settings.model_copy(update=changed)) as app, api_client(app) as c:
        user = await make_user(c, "ticket")
        assert (await c.post("/auth/ws-ticket", headers=user.headers)).status_code == 201
        with paused(redis_server):
            took, r = await _timed(c.post("/auth/ws-ticket", headers=user.headers))
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert int(r.headers["retry-after"]) > 0
    assert took <= ADDED_BY_PAUSED_REDIS + 0.2, f"{took:.3f} s"


async def test_sign_in_limits_hold_while_redis_is_paused(
    settings: Settings, redis_server: RedisServer
) -> None:
    limits = {
        "redis_url": redis_server.url,
        "redis_prefix": unique("wgpause"),
        "rate_sign_ins_per_minute_ip": 4,
        "rate_sign_ins_per_minute_account": 2,
    }
    async with running_app(settings.model_copy(update=limits)) as app, api_client(app) as c:

        async def sign_in(email: str) -> int:
            r = await c.post("/auth/token", data={"username": email, "password": "wrong-pass"})
            if r.status_code == 429:
                assert int(r.headers["retry-after"]) > 0
            return r.status_code

        victim, other = f"{unique('victim')}@example.org", f"{unique('other')}@example.org"
        with paused(redis_server):
            # The account's limit (2), then the address's (4, every attempt counts): both
            # kept in this process.
            assert [await sign_in(victim) for _ in range(3)] == [401, 401, 429]
            assert [await sign_in(other) for _ in range(2)] == [401, 429]


async def test_the_breaker_sends_one_probe_after_the_cool_down_and_closes_when_redis_answers(
    redis_server: RedisServer,
) -> None:
    breaker = Breaker(cool_down=0.2)
    client: Redis = create_redis(redis_server.url)
    asked = 0

    async def ping() -> object:
        nonlocal asked
        asked += 1
        return await client.ping()  # type: ignore[misc]

    try:
        await breaker.call(ping)
        os.kill(redis_server.pid, signal.SIGSTOP)
        with pytest.raises(RedisUnavailable):
            await breaker.call(ping)  # times out: the breaker opens
        with pytest.raises(RedisUnavailable):
            await breaker.call(ping)  # open: Redis is not asked
        assert asked == 2

        await asyncio.sleep(breaker.cool_down)  # the cool-down is time, not an event
        started = time.perf_counter()
        answers = await asyncio.gather(
            *(breaker.call(ping) for _ in range(20)), return_exceptions=True
        )
        assert all(isinstance(a, RedisUnavailable) for a in answers)
        assert asked == 3  # one probe; the 19 others failed at once
        assert time.perf_counter() - started < 2 * breaker.timeout  # nobody waited twice

        os.kill(redis_server.pid, signal.SIGCONT)
        await asyncio.sleep(breaker.cool_down)
        assert await breaker.call(ping) is True  # the probe succeeds: closed again
        assert not breaker.is_open
        assert await breaker.call(ping) is True
    finally:
        await client.aclose()
