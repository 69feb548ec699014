"""The arq worker: which jobs and cron jobs run, and the resources they share (ctx)."""

from __future__ import annotations

from typing import Any

from arq import cron
from arq.connections import RedisSettings
from arq.worker import Worker

from app.core import tasks as core_tasks
from app.core.config import Settings
from app.core.db import create_engine, create_session_factory
from app.realtime.keys import RedisKeys

FUNCTIONS: list[Any] = [core_tasks.ping, core_tasks.purge_idempotency_records]
CRON_JOBS = [cron(core_tasks.purge_idempotency_records, minute={17}, run_at_startup=False)]


def build_worker(settings: Settings, **overrides: Any) -> Worker:
    async def on_startup(ctx: dict[str, Any]) -> None:
        engine = create_engine(settings)
        ctx["settings"] = settings
        ctx["engine"] = engine
        ctx["session_factory"] = create_session_factory(engine)

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        if "engine" in ctx:
            await ctx["engine"].dispose()

    options: dict[str, Any] = {
        "functions": FUNCTIONS,
        "cron_jobs": CRON_JOBS,
        "redis_settings": RedisSettings.from_dsn(settings.effective_redis_url),
        "queue_name": RedisKeys(settings.redis_prefix).arq_queue,
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        "max_jobs": 20,
        "job_timeout": 60,
        "keep_result": 60,
    }
    options.update(overrides)
    return Worker(**options)
