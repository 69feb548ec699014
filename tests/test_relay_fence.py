"""The relay's lease and fence (app/realtime/lease.py), with real relays, Redis and database.

A relay that stalls after reading its batch and loses its lease meanwhile must publish nothing
when it wakes up: the relay that took over has published those events already, and the late
batch would put them on the stream twice, behind newer ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import func, select

from app.core.config import Settings
from app.core.migrations import upgrade
from app.core.redis import create_redis
from app.models import Event
from app.models.base import table_of
from app.realtime.keys import RedisKeys
from app.realtime.relay import Relay
from tests.cluster import unique_prefix
from tests.conftest import api_client, fresh_database, make_settings, running_app
from tests.helpers import TestUser, make_group, make_user

events = table_of(Event)

# Short enough that the stalled relay's lease runs out within the test; the relay that takes
# over looks for a free lease every second.
LEASE_SECONDS = 0.5


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Settings]:
    """A database of this module's own, and an app that runs no relay: the tests play the
    relays, and no other relay may publish these events."""
    with fresh_database(tmp_path_factory) as url:
        s = make_settings(
            url,
            redis_url,
            tmp_path_factory.mktemp("fence"),
            run_relay=False,
            relay_lease_seconds=LEASE_SECONDS,
            relay_poll_seconds=0.2,
        )
        upgrade(s)
        yield s


@pytest.fixture(scope="module")
async def fence_app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with running_app(settings) as application:
        yield application


@pytest.fixture
async def client(fence_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(fence_app) as c:
        yield c


@pytest.fixture
async def relay_settings(settings: Settings, redis_url: str) -> AsyncIterator[Settings]:
    """The relays' settings, with a stream of the test's own (removed afterwards)."""
    s = settings.model_copy(update={"redis_prefix": unique_prefix()})
    yield s
    redis = create_redis(redis_url)
    keys = RedisKeys(s.redis_prefix)
    await redis.delete(keys.events_stream, keys.relay_lease)
    await redis.aclose()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = create_redis(redis_url)
    yield client
    await client.aclose()


def _relay(app: FastAPI, settings: Settings, redis: Redis) -> Relay:
    return Relay(settings=settings, session_factory=app.state.session_factory, redis=redis)


async def _write(client: httpx.AsyncClient, owner: TestUser, group_id: str, n: int) -> None:
    for i in range(n):
        r = await client.post(
            f"/groups/{group_id}/focus-areas", json={"title": f"a{i}"}, headers=owner.headers
        )
        assert r.status_code == 201, r.text


async def _last_seqs(app: FastAPI, group_ids: list[str]) -> dict[str, int]:
    ids = [uuid.UUID(g) for g in group_ids]
    statement = (
        select(events.c.group_id, func.max(events.c.seq))
        .where(events.c.group_id.in_(ids))
        .group_by(events.c.group_id)
    )
    async with app.state.engine.connect() as conn:
        return {str(g): int(seq) for g, seq in await conn.execute(statement)}


async def _stream(redis: Redis, stream: str) -> list[tuple[str, int]]:
    """(group, seq) of every entry of the stream, in stream order."""
    entries: list[tuple[bytes, dict[bytes, bytes]]] = await redis.xrange(stream)
    return [(fields[b"g"].decode(), int(fields[b"s"])) for _, fields in entries]


async def _wait_until_published(redis: Redis, stream: str, last: dict[str, int]) -> None:
    """Block on the stream until every group's event `last[group]` is on it."""
    seen: dict[str, int] = {}
    after = "0"
    async with asyncio.timeout(20):
        while any(seen.get(g, 0) < seq for g, seq in last.items()):
            reply: list[Any] = await redis.xread({stream: after}, block=1000)
            for _, entries in reply:
                for entry_id, fields in entries:
                    after = entry_id
                    group = fields[b"g"].decode()
                    seen[group] = max(seen.get(group, 0), int(fields[b"s"]))


def _per_group(entries: list[tuple[str, int]], groups: list[str]) -> dict[str, list[int]]:
    return {g: [seq for group, seq in entries if group == g] for g in groups}


async def test_a_stalled_relay_that_lost_its_lease_publishes_nothing(
    fence_app: FastAPI,
    client: httpx.AsyncClient,
    relay_settings: Settings,
    redis: Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = RedisKeys(relay_settings.redis_prefix).events_stream
    owner = await make_user(client, "owner")
    groups = [(await make_group(client, owner))["id"] for _ in range(2)]
    for group_id in groups:
        await _write(client, owner, group_id, 5)

    # The first relay takes the lease, reads its batch, and stalls before publishing it (a GC
    # pause, SIGSTOP, a slow network): long enough for its lease to run out.
    stalled = _relay(fence_app, relay_settings, redis)
    read, resume = asyncio.Event(), asyncio.Event()
    read_batch = stalled.read_batch

    async def read_then_stall() -> Any:
        rows = await read_batch()
        read.set()
        await resume.wait()
        return rows

    monkeypatch.setattr(stalled, "read_batch", read_then_stall)
    assert await stalled.hold_lease()
    stalled_batch = asyncio.create_task(stalled.publish_pending())
    await read.wait()

    # A second relay takes the lease over once it has run out, publishes the same events,
    # and goes on publishing newer ones. Its own lease is long: a busy machine must not make
    # it lose the lease too.
    long_lease = relay_settings.model_copy(update={"relay_lease_seconds": 60.0})
    successor = _relay(fence_app, long_lease, redis)
    running = asyncio.create_task(successor.run())
    try:
        await _wait_until_published(redis, stream, await _last_seqs(fence_app, groups))
        assert successor.is_leader
        await _write(client, owner, groups[0], 3)
        successor.notify()
        last = await _last_seqs(fence_app, groups)
        await _wait_until_published(redis, stream, last)

        # The stalled relay wakes up: its batch is refused, nothing is marked, and it is back
        # to competing for the lease, which the successor holds.
        resume.set()
        assert await stalled_batch == 0
        assert not stalled.is_leader
        assert not await stalled.hold_lease()
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running

    entries = await _stream(redis, stream)
    assert len(entries) == len(set(entries)), "an event went onto the stream twice"
    assert _per_group(entries, groups) == {g: list(range(1, last[g] + 1)) for g in groups}


async def test_a_batch_refused_for_an_expired_lease_stays_unpublished(
    fence_app: FastAPI,
    client: httpx.AsyncClient,
    relay_settings: Settings,
    redis: Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The lease ran out and no one has taken it yet: the batch is refused all the same, and
    its rows are left for whoever holds the lease next."""
    keys = RedisKeys(relay_settings.redis_prefix)
    owner = await make_user(client, "owner")
    group_id = (await make_group(client, owner))["id"]
    await _write(client, owner, group_id, 3)
    last = (await _last_seqs(fence_app, [group_id]))[group_id]
    relay = _relay(fence_app, relay_settings, redis)
    read_batch = relay.read_batch

    async def read_then_lose_the_lease() -> Any:
        rows = await read_batch()
        await redis.delete(keys.relay_lease)  # what its expiry does
        return rows

    monkeypatch.setattr(relay, "read_batch", read_then_lose_the_lease)
    assert await relay.hold_lease()
    assert await relay.publish_pending() == 0
    assert not relay.is_leader
    assert await redis.xlen(keys.events_stream) == 0
    async with fence_app.state.engine.connect() as conn:
        unpublished = select(func.count()).where(
            events.c.group_id == uuid.UUID(group_id), events.c.published_at.is_(None)
        )
        assert (await conn.execute(unpublished)).scalar_one() == last

    # Back to competing: it takes the free lease again and publishes the same rows.
    monkeypatch.undo()
    assert await relay.hold_lease()
    published = await relay.publish_pending()
    assert published > 0
    assert await relay.publish_pending() == 0
    assert await redis.xlen(keys.events_stream) == published


async def test_every_published_batch_renews_the_lease(
    fence_app: FastAPI, client: httpx.AsyncClient, relay_settings: Settings, redis: Redis
) -> None:
    """A relay draining a long backlog keeps its lease with no extra round trip: the batch and
    the renewal go to Redis together."""
    relay_settings = relay_settings.model_copy(update={"relay_lease_seconds": 60.0})
    lease_key = RedisKeys(relay_settings.redis_prefix).relay_lease
    owner = await make_user(client, "owner")
    group_id = (await make_group(client, owner))["id"]
    relay = _relay(fence_app, relay_settings, redis)
    assert await relay.hold_lease()
    for _ in range(3):
        await redis.pexpire(lease_key, 1000)  # as if most of the lease had gone by
        await _write(client, owner, group_id, 2)
        assert await relay.publish_pending() > 0
        assert await redis.pttl(lease_key) > 1000
