"""Test infrastructure: a fresh database and a real Redis for the whole session.

With WG_TEST_DATABASE_URL / WG_TEST_REDIS_URL (CI sets both) the tests use those servers: a new
PostgreSQL database is created for the session and dropped after. Without them they use a SQLite
file and an embedded redis-server. Tests create their own users and groups with unique names,
so they never need the database emptied between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.core.migrations import upgrade
from app.main import create_app
from tests.helpers import TestUser
from tests.pg import create_database, drop_database
from tests.receiver import Receiver
from tests.ws import WsClient
from workers.settings import build_worker, stop_worker

TEST_DATABASE_URL = os.environ.get("WG_TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("WG_TEST_REDIS_URL")
TEST_SECRET = "test-secret-key-" + "x" * 32


def pytest_report_header() -> list[str]:
    db = make_url(TEST_DATABASE_URL).get_backend_name() if TEST_DATABASE_URL else "sqlite"
    return [f"wghub backends: database={db}, redis={'server' if TEST_REDIS_URL else 'embedded'}"]


@contextlib.contextmanager
def fresh_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A new, empty database on the test backend, dropped afterwards."""
    if TEST_DATABASE_URL:
        url = create_database(TEST_DATABASE_URL, f"wg_test_{uuid.uuid4().hex[:12]}")
        try:
            yield url
        finally:
            drop_database(TEST_DATABASE_URL, url)
    else:
        path = tmp_path_factory.mktemp("db") / "wghub.db"
        yield f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(tmp_path_factory) as url:
        yield url


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if TEST_REDIS_URL:
        yield TEST_REDIS_URL
        return
    from app.core.redis import EmbeddedRedis

    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    yield server.url
    server.stop()


def make_settings(
    database_url: str, redis_url: str, data_dir: Path, **overrides: object
) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "database_url": database_url,
        "redis_url": redis_url,
        "secret_key": TEST_SECRET,
        "data_dir": data_dir,
        # Own Redis keys per test session, so runs sharing a server never see each other.
        "redis_prefix": f"wgtest{uuid.uuid4().hex[:8]}",
        # Webhook tests deliver to receivers on this machine.
        "webhook_allowed_hosts": ["127.0.0.1"],
        # The suite writes far faster than any person; tests/test_limits.py turns limits on.
        "rate_writes_per_minute_credential": 0,
        "rate_writes_per_minute_ip": 0,
        "rate_sign_ins_per_minute_ip": 0,
        "rate_sign_ins_per_minute_account": 0,
        # Open websockets notice a revoked credential within a second (production: 15 s).
        "ws_credential_check_seconds": 1.0,
        # Cheap hashing: the tests register hundreds of users.
        "argon2_time_cost": 1,
        "argon2_memory_cost_kib": 1024,
    }
    values.update(overrides)
    return Settings.model_validate(values)


@pytest.fixture(scope="session")
def settings(
    database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    s = make_settings(database_url, redis_url, tmp_path_factory.mktemp("data"))
    upgrade(s)
    return s


@contextlib.asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app with its lifespan running (relay, hub, connections)."""
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@contextlib.asynccontextmanager
async def api_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process, based at /api/v1."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as c:
        yield c


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with running_app(settings) as application:
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(app) as c:
        yield c


@pytest.fixture
def is_postgres(settings: Settings) -> bool:
    return not settings.is_sqlite


@pytest.fixture(scope="session")
async def live_server(app: FastAPI) -> AsyncIterator[str]:
    """The session's app served by a real uvicorn on 127.0.0.1 (for websockets).

    The app's lifespan already runs (the `app` fixture), so uvicorn must not run it again. The
    socket is bound and listening before uvicorn starts, so clients may connect at once.
    """
    import asyncio
    import socket

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_level="warning", ws_per_message_deflate=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    await task


Connect = Callable[..., Any]


@pytest.fixture
async def ws_connect(live_server: str) -> AsyncIterator[Connect]:
    """Open websockets to the live server as a user (or with a raw token); closed after the
    test. `token_in`: `ticket` (the default, as browsers do), `header` or `query`."""
    clients: list[WsClient] = []

    async def open_(user: TestUser | str, token_in: str = "ticket") -> WsClient:
        token = user if isinstance(user, str) else user.token
        client = await WsClient(f"ws://{live_server}/api/v1/ws", token).connect(token_in=token_in)
        clients.append(client)
        return client

    yield open_
    for c in clients:
        await c.close()


# --- an isolated deployment for webhook tests ------------------------------------------------
# Webhook delivery is driven by the arq worker (dispatcher → deliveries → jobs), so these tests
# run a real worker in the test's event loop, against a database of their own so its sweep
# only sees these tests' events.

FAST = {
    "webhook_retry_schedule": [0.2, 0.2, 0.2, 0.2, 0.2],
    "webhook_timeout": 1.5,
    "webhook_connect_timeout": 1.0,
    "dispatch_grace_seconds": 1.0,
    "dispatch_sweep_seconds": 0.5,
    "relay_poll_seconds": 0.2,
}


@pytest.fixture(scope="module")
def wh_settings(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Settings]:
    with fresh_database(tmp_path_factory) as url:
        s = make_settings(url, redis_url, tmp_path_factory.mktemp("wh"), **FAST)
        upgrade(s)
        yield s


@pytest.fixture(scope="module")
async def wh_app(wh_settings: Settings) -> AsyncIterator[FastAPI]:
    async with running_app(wh_settings) as application:
        yield application


@pytest.fixture
async def wh_client(wh_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(wh_app) as c:
        yield c


@contextlib.asynccontextmanager
async def running_worker(
    settings: Settings, *, metrics_registry: CollectorRegistry | None = None, **ctx_extra: Any
) -> AsyncIterator[dict[str, Any]]:
    """The arq worker of `wg worker`, in this event loop; yields its ctx (filled in once it
    has started). Its metrics go to `metrics_registry` when given."""
    worker = build_worker(
        settings, handle_signals=False, poll_delay=0.05, metrics_registry=metrics_registry
    )
    worker.ctx.update(ctx_extra)
    task = asyncio.create_task(worker.main())
    try:
        yield worker.ctx
    finally:
        await stop_worker(worker, task)


@pytest.fixture
async def worker(wh_settings: Settings) -> AsyncIterator[dict[str, Any]]:
    async with running_worker(wh_settings) as ctx:
        yield ctx


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()
