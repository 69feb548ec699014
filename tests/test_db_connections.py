"""Pooled database connections the server dropped (a restart, an idle timeout) are replaced at
checkout, without a pre-ping round trip on every request (app/core/db.py)."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import text

from app.core.config import Settings
from tests.conftest import api_client, running_app
from tests.helpers import make_user


@pytest.mark.postgres_only
async def test_requests_survive_the_server_dropping_idle_connections(
    settings: Settings, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("terminating server sessions needs PostgreSQL")
    # Every pooled connection counts as idle here (in production: after 5 s unused).
    eager = settings.model_copy(update={"db_ping_after_idle_seconds": 0.0})
    async with running_app(eager) as app, api_client(app) as client:
        user = await make_user(client, "pooled")
        engine = app.state.engine
        async with engine.connect() as a, engine.connect() as b:
            pids = [(await c.execute(text("SELECT pg_backend_pid()"))).scalar_one() for c in (a, b)]
        dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        admin = await asyncpg.connect(dsn)  # outside the pool
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", pids
            )
        finally:
            await admin.close()
        for _ in range(3):  # whichever pooled connection a request gets, it answers
            r = await client.get("/users/me", headers=user.headers)
            assert r.status_code == 200, r.text
