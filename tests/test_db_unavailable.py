"""A database that cannot take a request makes a prompt 503 with Retry-After, not a 500 after
half a minute: an unreachable server, an exhausted pool, a SQLite write lock held elsewhere."""

from __future__ import annotations

import sqlite3
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.core.security import create_access_token
from app.main import create_app
from tests.conftest import api_client, running_app
from tests.helpers import make_user
from tests.procs import free_port


def _assert_503(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("/database-unavailable")
    assert int(r.headers["retry-after"]) > 0


async def test_an_unreachable_database_is_a_503(settings: Settings) -> None:
    nowhere = f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/none"
    app = create_app(settings.model_copy(update={"database_url": nowhere}))
    token = create_access_token(
        settings, uuid.uuid4(), uuid.uuid4(), datetime.now(UTC) + timedelta(hours=1)
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as http:
        r = await http.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    _assert_503(r)


async def test_an_exhausted_pool_is_a_503_then_serves_again(
    settings: Settings, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("SQLite opens a connection per use; its limit is the write lock (below)")
    small = settings.model_copy(update={"db_pool_size": 1, "db_pool_timeout_seconds": 0.5})
    async with running_app(small) as app, api_client(app) as client:
        user = await make_user(client, "pool")
        async with app.state.engine.connect():  # the only connection, held
            _assert_503(await client.get("/users/me", headers=user.headers))
        assert (await client.get("/users/me", headers=user.headers)).status_code == 200


async def test_a_locked_sqlite_database_is_a_503_after_the_busy_timeout(
    settings: Settings, is_postgres: bool
) -> None:
    if is_postgres:
        pytest.skip("a database-wide write lock is SQLite's")
    impatient = settings.model_copy(update={"db_sqlite_busy_timeout_seconds": 1.0})
    async with running_app(impatient) as app, api_client(app) as client:
        user = await make_user(client, "locked")
        path = make_url(settings.effective_database_url).database
        assert path is not None
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # another process writing, and not letting go
        try:
            started = time.monotonic()
            r = await client.post("/groups", json={"name": "locked out"}, headers=user.headers)
            waited = time.monotonic() - started
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        _assert_503(r)
        assert waited < 5, waited  # about the busy timeout, not the default 30 s
        r = await client.post("/groups", json={"name": "let in"}, headers=user.headers)
        assert r.status_code == 201, r.text
