"""Realtime across processes and through faults: real `wg api` replicas and redis-server.

Each client behaves as API.md asks of a real one: when its connection drops it reconnects
(to any replica) and resubscribes with the last seq it saw.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from app.core.config import Settings
from app.core.db import create_engine, create_session_factory
from app.core.migrations import upgrade
from app.core.redis import create_redis
from app.realtime.keys import RedisKeys
from app.realtime.relay import Relay
from tests.cluster import ApiReplica, RedisServer, unique_prefix
from tests.conftest import fresh_database, make_settings
from tests.helpers import PASSWORD, unique
from tests.ws import ResumingClient, seqs


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Settings]:
    """A database of this module's own: the outbox is per database, and the session app's relay
    would otherwise publish these replicas' events to its own stream."""
    with fresh_database(tmp_path_factory) as url:
        s = make_settings(url, redis_url, tmp_path_factory.mktemp("cluster"))
        upgrade(s)
        yield s


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    server = RedisServer(tmp_path)
    await server.start()
    yield server
    await server.stop()


async def _owner_and_group(http: httpx.AsyncClient) -> tuple[dict[str, str], str]:
    email = f"{unique('owner')}@example.org"
    r = await http.post("/auth/register", json={"email": email, "password": PASSWORD, "name": "o"})
    assert r.status_code == 201, r.text
    r = await http.post("/auth/token", data={"username": email, "password": PASSWORD})
    token = r.json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    r = await http.post("/groups", json={"name": unique("g")}, headers=headers)
    assert r.status_code == 201, r.text
    return headers, r.json()["id"]


async def _writes(http: httpx.AsyncClient, headers: dict[str, str], group_id: str, n: int) -> None:
    for i in range(n):
        r = await http.post(
            f"/groups/{group_id}/focus-areas", json={"title": f"a{i}"}, headers=headers
        )
        assert r.status_code == 201, r.text


async def _latest_seq(http: httpx.AsyncClient, headers: dict[str, str], group_id: str) -> int:
    r = await http.get(f"/groups/{group_id}", headers=headers)
    return int(r.json()["last_seq"])


def _assert_exactly_once_in_order(client: ResumingClient, last: int) -> None:
    assert seqs(client.received) == list(range(1, last + 1))


async def test_events_written_through_one_replica_reach_clients_of_another(
    settings: Settings, redis_server: RedisServer
) -> None:
    prefix = unique_prefix()
    a = await ApiReplica(settings, redis_server.url, prefix).start()
    b = await ApiReplica(settings, redis_server.url, prefix).start()
    try:
        async with a.client() as http_a:
            headers, group_id = await _owner_and_group(http_a)
            token = headers["Authorization"].split()[1]
            on_a = ResumingClient([a.ws_url], token, group_id)
            on_b = ResumingClient([b.ws_url], token, group_id)
            await _writes(http_a, headers, group_id, 30)
            last = await _latest_seq(http_a, headers, group_id)
            for c in (on_a, on_b):
                await c.wait_for_seq(last)
                _assert_exactly_once_in_order(c, last)
            await on_a.close()
            await on_b.close()
    finally:
        await a.stop()
        await b.stop()


async def test_redis_killed_and_restarted_during_a_burst_loses_nothing(
    settings: Settings, redis_server: RedisServer
) -> None:
    api = await ApiReplica(settings, redis_server.url, unique_prefix()).start()
    try:
        async with api.client() as http:
            headers, group_id = await _owner_and_group(http)
            token = headers["Authorization"].split()[1]
            clients = [ResumingClient([api.ws_url], token, group_id) for _ in range(3)]
            await clients[0].wait_for_seq(2)

            async def burst() -> None:
                # 500 writes from 5 concurrent writers.
                await asyncio.gather(*(_writes(http, headers, group_id, 100) for _ in range(5)))

            writer = asyncio.create_task(burst())
            await clients[0].wait_for_seq(150)
            await redis_server.kill()
            await redis_server.start()
            await writer
            last = await _latest_seq(http, headers, group_id)
            assert last == 502
            for c in clients:
                await c.wait_for_seq(last)
                _assert_exactly_once_in_order(c, last)
                await c.close()
    finally:
        await api.stop()


async def test_relay_crash_between_publish_and_mark_republishes_and_clients_dedupe(
    settings: Settings, redis_server: RedisServer
) -> None:
    prefix = unique_prefix()
    # This replica runs no relay: the test plays the relay, crash included.
    api = await ApiReplica(settings, redis_server.url, prefix, WG_RUN_RELAY="false").start()
    relay_settings = settings.model_copy(
        update={"redis_url": redis_server.url, "redis_prefix": prefix}
    )
    engine = create_engine(relay_settings)
    redis = create_redis(redis_server.url)
    try:
        async with api.client() as http:
            headers, group_id = await _owner_and_group(http)
            token = headers["Authorization"].split()[1]
            client = ResumingClient([api.ws_url], token, group_id)
            await _writes(http, headers, group_id, 10)
            crashed = Relay(
                settings=relay_settings,
                session_factory=create_session_factory(engine),
                redis=redis,
            )
            assert await crashed.hold_lease()
            published = await crashed.publish_pending(mark=False)  # XADD done, rows not marked
            assert published >= 12
            await client.wait_for_seq(12)
            await redis.delete(RedisKeys(prefix).relay_lease)  # the crashed relay's lease ran out
            successor = Relay(
                settings=relay_settings,
                session_factory=create_session_factory(engine),
                redis=redis,
            )
            assert await successor.hold_lease()
            assert await successor.publish_pending() == published  # the same rows again
            assert await successor.publish_pending() == 0
            stream_len = await redis.xlen(RedisKeys(prefix).events_stream)
            assert stream_len == 2 * published
            await _writes(http, headers, group_id, 1)
            assert await successor.publish_pending() == 1
            await client.wait_for_seq(13)
            _assert_exactly_once_in_order(client, 13)
            await client.close()
    finally:
        await redis.aclose()
        await engine.dispose()
        await api.stop()


async def _published(redis: Redis, stream: str, n: int, timeout: float = 20) -> None:
    """Wait (XREAD BLOCK) until the stream holds `n` entries: a client may have them all
    before the relay has published the last ones (it replays from the table)."""
    seen, last = 0, "0"
    async with asyncio.timeout(timeout):
        while seen < n:
            reply = await redis.xread({stream: last}, block=1000, count=1000)
            for _, entries in reply:
                seen += len(entries)
                last = entries[-1][0]


async def _first_to_log(needle: str, a: ApiReplica, b: ApiReplica) -> tuple[ApiReplica, ApiReplica]:
    """(the replica that logs `needle` first, the other one). Both race for the lease as they
    start, so which one wins is only known from their logs."""
    waits = {
        asyncio.ensure_future(replica.proc.wait_for_line(needle)): replica  # type: ignore[union-attr]
        for replica in (a, b)
    }
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    first = done.pop()
    first.result()  # a replica that exited before logging it fails the test here
    winner = waits[first]
    return (a, b) if winner is a else (b, a)


async def test_only_one_relay_publishes_and_another_takes_over_when_it_dies(
    settings: Settings, redis_server: RedisServer
) -> None:
    prefix = unique_prefix()
    a = await ApiReplica(settings, redis_server.url, prefix).start()
    b = await ApiReplica(settings, redis_server.url, prefix).start()
    redis = create_redis(redis_server.url)
    try:
        leader, other = await _first_to_log("relay lease acquired", a, b)
        assert "relay lease acquired" not in other.output()
        async with leader.client() as http_l, other.client() as http_o:
            headers, group_id = await _owner_and_group(http_o)
            token = headers["Authorization"].split()[1]
            client = ResumingClient([other.ws_url], token, group_id)
            await asyncio.gather(
                _writes(http_l, headers, group_id, 20), _writes(http_o, headers, group_id, 20)
            )
            await client.wait_for_seq(42)
            # Each event went onto the stream once: one relay was publishing.
            stream = RedisKeys(prefix).events_stream
            await _published(redis, stream, 42)
            assert await redis.xlen(stream) == 42

            await leader.kill()
            await _writes(http_o, headers, group_id, 5)
            await other.proc.wait_for_line("relay lease acquired", timeout=15)  # type: ignore[union-attr]
            await client.wait_for_seq(47, timeout=15)
            _assert_exactly_once_in_order(client, 47)
            await client.close()
    finally:
        await redis.aclose()
        await a.stop()
        await b.stop()


async def test_clients_of_a_killed_replica_resume_on_the_other(
    settings: Settings, redis_server: RedisServer
) -> None:
    prefix = unique_prefix()
    a = await ApiReplica(settings, redis_server.url, prefix).start()
    b = await ApiReplica(settings, redis_server.url, prefix).start()
    try:
        async with b.client() as http:
            headers, group_id = await _owner_and_group(http)
            token = headers["Authorization"].split()[1]
            clients = [ResumingClient([a.ws_url, b.ws_url], token, group_id) for _ in range(3)]
            writer = asyncio.create_task(_writes(http, headers, group_id, 200))
            await clients[0].wait_for_seq(60)
            await a.kill()
            await writer
            last = await _latest_seq(http, headers, group_id)
            for c in clients:
                await c.wait_for_seq(last)
                _assert_exactly_once_in_order(c, last)
                assert c.reconnects >= 1
                await c.close()
    finally:
        await a.stop()
        await b.stop()
