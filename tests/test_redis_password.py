"""A Redis that requires a password (as docker-compose.yml runs it): every client of ours
passes it from WG_REDIS_URL, a client without it is refused, and no log line shows it."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from arq import create_pool
from arq.connections import RedisSettings
from redis.exceptions import AuthenticationError

from app.core.config import Settings
from app.core.jobs import JOB_CODEC
from app.core.migrations import upgrade
from app.core.redis import create_redis
from app.realtime.keys import RedisKeys
from tests.cluster import ApiReplica, RedisServer, WorkerReplica, unique_prefix
from tests.conftest import fresh_database, make_settings
from tests.helpers import PASSWORD, unique
from tests.ws import ResumingClient, seqs

REDIS_PASSWORD = secrets.token_hex(16)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Settings]:
    """A database of this module's own: the session app's relay must not publish its events."""
    with fresh_database(tmp_path_factory) as url:
        s = make_settings(url, redis_url, tmp_path_factory.mktemp("redis-auth"))
        upgrade(s)
        yield s


@pytest.fixture
async def redis_server(tmp_path: Path) -> AsyncIterator[RedisServer]:
    server = RedisServer(tmp_path, password=REDIS_PASSWORD)
    await server.start()
    yield server
    await server.stop()


async def test_a_client_without_the_password_is_refused(redis_server: RedisServer) -> None:
    stranger = create_redis(redis_server.url_without_password)
    try:
        with pytest.raises(AuthenticationError, match="Authentication required"):
            await stranger.get("anything")
    finally:
        await stranger.aclose()


async def test_api_and_worker_work_through_a_password_none_of_them_logs(
    settings: Settings, redis_server: RedisServer
) -> None:
    prefix = unique_prefix()
    api = ApiReplica(settings, redis_server.url, prefix)
    worker = WorkerReplica(settings, redis_server.url, prefix)
    try:
        await api.start()
        await worker.start()
        assert api.proc is not None
        await api.proc.wait_for_line("relay lease acquired")
        async with api.client() as http:
            email = f"{unique('owner')}@example.org"
            body = {"email": email, "password": PASSWORD, "name": "o"}
            assert (await http.post("/auth/register", json=body)).status_code == 201
            r = await http.post("/auth/token", data={"username": email, "password": PASSWORD})
            token = r.json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            r = await http.post("/groups", json={"name": unique("g")}, headers=headers)
            assert r.status_code == 201, r.text
            # The relay (XADD) and the hub (blocking XREAD) carry the group's first event.
            live = ResumingClient([api.ws_url], token, r.json()["id"])
            await live.wait_for_seq(1)
            assert seqs(live.received)[0] == 1
            await live.close()
        # The worker's arq pool takes jobs through the password too.
        pool = await create_pool(RedisSettings.from_dsn(redis_server.url), **JOB_CODEC)
        try:
            job = await pool.enqueue_job("ping", _queue_name=RedisKeys(prefix).arq_queue)
            assert job is not None
            assert await job.result(timeout=30) == "pong"
        finally:
            await pool.aclose()
    finally:
        await api.stop()
        await worker.stop()
    for service in (api, worker):
        assert REDIS_PASSWORD not in service.output()
