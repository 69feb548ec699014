"""The arq worker: which jobs and cron jobs run, and the resources they share (ctx).

Besides jobs, the worker runs three long-lived tasks: the dispatcher (events → notifications
and webhook deliveries), its sweep, and the webhook deliverer (due deliveries → HTTP calls).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from arq import cron, func
from arq.connections import RedisSettings
from arq.worker import Worker
from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server
from redis.exceptions import RedisError

from app.core import logs, tracing
from app.core import tasks as core_tasks
from app.core.config import Settings
from app.core.db import autocommit, create_engine, create_session_factory, to_the_end
from app.core.jobs import JOB_CODEC
from app.core.redis import create_redis
from app.core.worker_metrics import CTX_KEY, WorkerMetrics
from app.events import queries as event_queries
from app.events.dispatch import Dispatcher, Handler
from app.models.base import utcnow
from app.notifications import tasks as notification_tasks
from app.polls import tasks as poll_tasks
from app.realtime.keys import RedisKeys
from app.users import tasks as user_tasks
from app.webhooks import tasks as webhook_tasks
from app.webhooks.deliverer import Deliverer
from app.webhooks.delivery import HttpClients
from app.webhooks.metrics import DeliveryMetrics
from app.webhooks.ssrf import system_resolver
from workers.jobs import observe_all

log = logging.getLogger(__name__)

FUNCTIONS: list[Any] = [
    core_tasks.ping,
    core_tasks.purge_idempotency_records,
    # The job counts its own tries against WG_EMAIL_MAX_TRIES; arq's cap stays out of the way.
    func(
        notification_tasks.send_notification_email,
        name=notification_tasks.EMAIL_JOB,
        max_tries=1000,
    ),
    func(user_tasks.send_password_reset_email, name=user_tasks.RESET_EMAIL_JOB, max_tries=1000),
]
EVERY_5_MINUTES = set(range(0, 60, 5))
EVERY_MINUTE = set(range(60))
CRON_JOBS = [
    cron(core_tasks.purge_idempotency_records, minute={17}, run_at_startup=False),
    cron(user_tasks.purge_expired_credentials, minute={23}, run_at_startup=False),
    cron(notification_tasks.send_reminders, minute=EVERY_5_MINUTES),
    cron(notification_tasks.requeue_unsent_emails, minute={m + 2 for m in EVERY_5_MINUTES}),
    cron(notification_tasks.send_daily_digests, minute={0}),
    cron(poll_tasks.close_due_polls, minute=EVERY_MINUTE),
    cron(poll_tasks.announce_closing_polls, minute=EVERY_MINUTE),
]
# Event handlers, in the order they run inside each event's dispatch transaction.
HANDLERS: list[Handler] = [notification_tasks.handle_events, webhook_tasks.handle_events]
# How long the job loop waits before asking a Redis that failed again.
REDIS_RETRY_SECONDS = 1.0


class ResilientWorker(Worker):
    """arq's worker, kept running while Redis is away.

    arq ends its loop (and `wg worker`) at the first Redis error of a poll. Yet most of what a
    worker does works from the database: the deliverer's queue is the deliveries table, and the
    sweep dispatches what the stream lost once events are published again. So a failed poll
    is logged and tried again; jobs and cron runs resume when Redis is back (arq's jobs wait in
    Redis, and every job here is safe to run twice).
    """

    redis_away = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        observe_all(self.functions)

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
        except (RedisError, OSError) as exc:
            if not self.redis_away:
                log.warning("worker: redis unavailable (%s); jobs wait for it", type(exc).__name__)
                self.redis_away = True
            await asyncio.sleep(REDIS_RETRY_SECONDS)
            return
        if self.redis_away:
            log.info("worker: redis is back")
            self.redis_away = False


async def _bind_job(ctx: dict[str, Any]) -> None:
    """Before each job, in the task arq runs it from (one per job): its lines, arq's own
    included, carry the job's id."""
    logs.job_id.set(ctx["job_id"])


async def _sweep_forever(ctx: dict[str, Any], every: float) -> None:
    """What Redis lost, the database still knows: events published but never dispatched.
    (Webhook deliveries need no sweep: the deliverer reads its queue from the database.)"""
    dispatcher: Dispatcher = ctx["dispatcher"]
    while True:
        try:
            swept = await dispatcher.sweep()
            if swept:
                log.info("dispatch sweep: %d events dispatched late", swept)
        except Exception:
            log.exception("sweep failed")
        await asyncio.sleep(every)


async def _oldest_undispatched(engine: Any) -> Any:
    async with autocommit(engine) as conn:
        return await event_queries.oldest_undispatched(conn)


async def _watch_dispatch_lag(ctx: dict[str, Any], every: float) -> None:
    """Keep `wg_event_dispatch_lag_seconds` current: how long the oldest event not yet
    dispatched has been waiting (it grows while the dispatcher is stuck or behind)."""
    metrics: WorkerMetrics = ctx[CTX_KEY]
    while True:
        try:
            oldest = await to_the_end(_oldest_undispatched(ctx["engine"]))
            lag = 0.0 if oldest is None else (utcnow() - oldest).total_seconds()
            metrics.dispatch_lag.set(max(0.0, lag))
        except Exception:
            log.exception("dispatch lag: the query failed")
        await asyncio.sleep(every)


async def stop_worker(worker: Worker, main_task: asyncio.Task[Any]) -> None:
    """Stop a worker running in this event loop (`wg serve`, tests).

    Jobs still running are cancelled first (arq runs them again later, and every job here is
    safe to run twice); only then does `close()` run `on_shutdown`, which stops the dispatcher
    and closes connections. arq's `close()` alone stops at the first cancelled job and skips
    the shutdown. Every step is time-boxed: a job that will not stop must not keep the
    process (or a test) from shutting down, and the background tasks are stopped regardless.
    """
    main_task.cancel()
    jobs = list(worker.tasks.values())
    for job in jobs:
        job.cancel()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(SHUTDOWN_STEP_SECONDS):
            await asyncio.gather(main_task, *jobs, return_exceptions=True)
    worker.tasks.clear()
    try:
        async with asyncio.timeout(SHUTDOWN_STEP_SECONDS):
            await worker.close()
    except (TimeoutError, asyncio.CancelledError):
        log.warning("worker did not close in time; stopping its background tasks")
        await _stop_background(worker.ctx)


async def _stop_background(ctx: dict[str, Any]) -> None:
    for task in ctx.pop("background", []):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError, Exception):
            async with asyncio.timeout(SHUTDOWN_STEP_SECONDS):
                await task


SHUTDOWN_STEP_SECONDS = 10.0
# How often the dispatch lag gauge is refreshed (one indexed MIN over the undispatched rows).
DISPATCH_LAG_SECONDS = 5.0


def build_worker(
    settings: Settings, *, metrics_registry: CollectorRegistry | None = None, **overrides: Any
) -> Worker:
    """The worker; `metrics_registry`: where its metrics go (`wg serve` passes the API's, so
    /metrics shows them); without one, `worker_metrics_port` serves a registry of its own."""
    tracing.setup_from_env("wghub-worker")

    async def on_startup(ctx: dict[str, Any]) -> None:
        engine = create_engine(settings)
        ctx["settings"] = settings
        ctx["engine"] = engine
        ctx["session_factory"] = create_session_factory(engine)
        ctx["wg_redis"] = create_redis(settings.effective_redis_url)
        ctx["webhook_http"] = HttpClients(settings)
        registry = metrics_registry
        if registry is None:
            registry = CollectorRegistry()
            # A registry of its own (`wg worker`): the process's CPU, memory and open files
            # too; a shared one (`wg serve`) has them already.
            ProcessCollector(registry=registry)
            if settings.worker_metrics_port is not None:
                start_http_server(settings.worker_metrics_port, registry=registry)
        ctx[CTX_KEY] = WorkerMetrics(registry)
        deliverer = Deliverer(
            settings=settings,
            engine=engine,
            redis=ctx["wg_redis"],
            http=ctx["webhook_http"],
            resolver=ctx.get("resolver", system_resolver),
            metrics=DeliveryMetrics(registry),
        )
        dispatcher = Dispatcher(
            settings=settings,
            session_factory=ctx["session_factory"],
            redis=ctx["wg_redis"],
            handlers=HANDLERS,
            jobs=ctx["redis"],
            wake_deliverer=deliverer.wake,
        )
        ctx["dispatcher"], ctx["deliverer"] = dispatcher, deliverer
        ctx["background"] = [
            asyncio.create_task(dispatcher.run(), name="dispatcher"),
            asyncio.create_task(_sweep_forever(ctx, settings.dispatch_sweep_seconds), name="sweep"),
            asyncio.create_task(deliverer.run(), name="webhook-deliverer"),
            asyncio.create_task(
                _watch_dispatch_lag(ctx, DISPATCH_LAG_SECONDS), name="dispatch-lag"
            ),
        ]

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        await _stop_background(ctx)
        if "webhook_http" in ctx:
            await ctx["webhook_http"].aclose()
        if "wg_redis" in ctx:
            await ctx["wg_redis"].aclose()
        if "engine" in ctx:
            await ctx["engine"].dispose()

    options: dict[str, Any] = {
        "functions": FUNCTIONS,
        "cron_jobs": CRON_JOBS,
        "redis_settings": RedisSettings.from_dsn(settings.effective_redis_url),
        # Jobs and results as JSON: a pickle planted in the queue would run code when read.
        **JOB_CODEC,
        "queue_name": RedisKeys(settings.redis_prefix).arq_queue,
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        "on_job_start": _bind_job,
        "max_jobs": 20,
        # Jobs wait at most this long in the queue before a worker looks (arq's default: 0.5).
        "poll_delay": 0.1,
        "job_timeout": 60,
        "keep_result": 60,
    }
    options.update(overrides)
    return ResilientWorker(**options)
