"""Create and drop throwaway PostgreSQL databases for test sessions."""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy.engine import make_url


def _dsn(url: str, database: str | None = None) -> str:
    u = make_url(url).set(drivername="postgresql")
    if database:
        u = u.set(database=database)
    return u.render_as_string(hide_password=False)


def create_database(server_url: str, name: str) -> str:
    """Create database `name` on the server of `server_url`; return its SQLAlchemy URL."""

    async def run() -> None:
        conn = await asyncpg.connect(_dsn(server_url))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(run())
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, url: str) -> None:
    name = make_url(url).database

    async def run() -> None:
        conn = await asyncpg.connect(_dsn(server_url))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(run())
