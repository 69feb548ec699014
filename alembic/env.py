"""Migrations run through the async engine on PostgreSQL and SQLite (batch mode for SQLite)."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import app.models  # noqa: F401  (registers every table on the metadata)
from app.core.config import Settings
from app.core.db import create_engine
from app.models.base import metadata

config = context.config


def _settings() -> Settings:
    # Callers (the CLI, tests) may hand over their Settings; otherwise read the environment.
    given = config.attributes.get("settings")
    return given if isinstance(given, Settings) else Settings()


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def _run_sync(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(_settings())
    async with engine.connect() as connection:
        await connection.run_sync(_run_sync)
        await connection.commit()
    await engine.dispose()


given_connection = config.attributes.get("connection")
if given_connection is not None:
    _run_sync(given_connection)
elif context.is_offline_mode():
    context.configure(url=_settings().effective_database_url, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
