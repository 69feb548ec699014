"""Rate-limit leases (app/core/ratelimit.py): API processes take tokens from the shared Redis
bucket a second's worth at a time, never more than the bucket holds across replicas, and give
back what a lapsed lease left."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from app.core.breaker import Breaker
from app.core.config import Settings
from app.core.ratelimit import Limiter, Rule, lease_size
from tests.conftest import api_client, running_app
from tests.helpers import make_user, unique


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    client = Redis.from_url(settings.effective_redis_url)
    yield client
    await client.aclose()


def _limiter(settings: Settings, redis: Redis) -> Limiter:
    return Limiter(settings=settings, redis=lambda: redis, breaker=Breaker())


async def _tokens(redis: Redis, key: str) -> float:
    return float(await redis.hget(key, "tokens"))  # type: ignore[misc, arg-type]


async def test_a_lease_takes_a_seconds_refill_and_spends_it_without_redis(
    settings: Settings, redis: Redis
) -> None:
    key, limit = unique("wglease:bucket"), 600  # a lease of 10 tokens
    limiter = _limiter(settings, redis)
    assert await limiter.over_limit([Rule(key, limit)]) is None
    assert await _tokens(redis, key) == pytest.approx(limit - lease_size(limit), abs=0.5)
    # The next nine requests spend the lease: Redis is not asked, its bucket does not move.
    await redis.hset(key, "tokens", "590")
    for _ in range(9):
        assert await limiter.over_limit([Rule(key, limit)]) is None
    assert await _tokens(redis, key) == 590


async def test_what_a_lapsed_lease_left_goes_back_to_the_bucket(
    settings: Settings, redis: Redis
) -> None:
    key, limit = unique("wglease:bucket"), 600
    limiter = _limiter(settings, redis)
    assert await limiter.over_limit([Rule(key, limit)]) is None  # leases 10, spends 1
    limiter._leases[key].until = 0.0  # the second is over: 9 tokens unused
    before = await _tokens(redis, key)
    assert await limiter.over_limit([Rule(key, limit)]) is None  # 9 back, 10 taken
    assert await _tokens(redis, key) == pytest.approx(before + 9 - 10, abs=0.5)


async def test_replicas_sharing_a_bucket_never_exceed_the_limit(settings: Settings) -> None:
    """Two API processes (apps) on one Redis; a client alternating between them."""
    limits = {
        "rate_writes_per_minute_credential": 120,  # leases of 2 tokens
        "redis_prefix": unique("wglease"),
    }
    shared = settings.model_copy(update=limits)
    async with (
        running_app(shared) as one,
        running_app(shared) as two,
        api_client(one) as first,
        api_client(two) as second,
    ):
        user = await make_user(first, "leaser")  # sign-ins are not writes
        started = time.monotonic()
        answers = await asyncio.gather(
            *(
                (first if i % 2 else second).patch(
                    "/users/me", json={"name": f"n{i}"}, headers=user.headers
                )
                for i in range(130)
            )
        )
        elapsed = time.monotonic() - started
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {200, 429}
    # Never more than the bucket's 120 plus what it refilled (2 a second) while the writes
    # ran; at most one unspent token per replica held back.
    refilled = math.floor(elapsed * 120 / 60)
    assert 118 <= statuses.count(200) <= 120 + refilled, (statuses.count(200), elapsed)


async def test_an_unreachable_redis_is_skipped_and_leaves_no_debt(
    settings: Settings, redis: Redis
) -> None:
    """Writes pass while Redis is away (fail open) without running their leases into debt:
    once it is back, the client is not locked out."""
    key, limit = unique("wglease:bucket"), 60  # leases of 1: every write asks Redis
    away = Redis.from_url("redis://127.0.0.1:1/0")  # nothing listens there
    limiter = _limiter(settings, redis)
    try:
        assert await limiter.over_limit([Rule(key, limit)]) is None  # leased and spent
        limiter._leases[key].until = 0.0
        limiter.redis = lambda: away
        for _ in range(5):
            assert await limiter.over_limit([Rule(key, limit)]) is None
        assert limiter._leases[key].tokens == 0  # the writes while away left no debt
        limiter.redis = lambda: redis
        limiter.breaker = Breaker()  # the few seconds of skipping are over
        assert await limiter.over_limit([Rule(key, limit)]) is None
        assert await _tokens(redis, key) == pytest.approx(limit - 2, abs=0.5)
    finally:
        await away.aclose()


async def test_a_redis_that_does_not_answer_is_asked_once_then_skipped(
    settings: Settings,
) -> None:
    """A hung Redis costs one request the short rate-limit timeout; the next requests skip the
    limits for a few seconds instead of each waiting on it (fail open)."""
    connections: list[asyncio.StreamWriter] = []

    async def silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)  # accepts, reads nothing, answers nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    hung = Redis.from_url(f"redis://127.0.0.1:{port}/0")
    limiter = Limiter(settings=settings, redis=lambda: hung, breaker=Breaker())
    try:
        answers = await asyncio.gather(
            *(limiter.over_limit([Rule(unique("wglease:k"), 60)]) for _ in range(20))
        )
        assert answers == [None] * 20
        asked = len(connections)
        assert await limiter.over_limit([Rule(unique("wglease:k"), 60)]) is None
        assert len(connections) == asked  # skipped: Redis was not asked again
    finally:
        for writer in connections:
            writer.close()
        server.close()
        await hung.aclose()
