"""The arq worker: which jobs and cron jobs run, and the resources they share (ctx).

Besides jobs, the worker runs the dispatcher (events → notifications and webhook deliveries)
and its sweep as long-lived tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from arq import cron
from arq.connections import RedisSettings
from arq.worker import Worker

from app.core import tasks as core_tasks
from app.core.config import Settings
from app.core.db import create_engine, create_session_factory
from app.core.redis import create_redis
from app.events.dispatch import Dispatcher, Handler
from app.realtime.keys import RedisKeys

log = logging.getLogger(__name__)

FUNCTIONS: list[Any] = [core_tasks.ping, core_tasks.purge_idempotency_records]
CRON_JOBS = [cron(core_tasks.purge_idempotency_records, minute={17}, run_at_startup=False)]
# Event handlers, in the order they run inside each event's dispatch transaction.
HANDLERS: list[Handler] = []


async def _sweep_forever(dispatcher: Dispatcher, every: float) -> None:
    while True:
        try:
            swept = await dispatcher.sweep()
            if swept:
                log.info("dispatch sweep: %d events dispatched late", swept)
        except Exception:
            log.exception("dispatch sweep failed")
        await asyncio.sleep(every)


def build_worker(settings: Settings, **overrides: Any) -> Worker:
    async def on_startup(ctx: dict[str, Any]) -> None:
        engine = create_engine(settings)
        ctx["settings"] = settings
        ctx["engine"] = engine
        ctx["session_factory"] = create_session_factory(engine)
        ctx["wg_redis"] = create_redis(settings.effective_redis_url)
        dispatcher = Dispatcher(
            settings=settings,
            session_factory=ctx["session_factory"],
            redis=ctx["wg_redis"],
            handlers=HANDLERS,
        )
        ctx["dispatcher"] = dispatcher
        ctx["background"] = [
            asyncio.create_task(dispatcher.run(), name="dispatcher"),
            asyncio.create_task(
                _sweep_forever(dispatcher, settings.dispatch_sweep_seconds), name="sweep"
            ),
        ]

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        for task in ctx.get("background", []):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if "wg_redis" in ctx:
            await ctx["wg_redis"].aclose()
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
