"""The ASGI application: `create_app()` wires routers, middleware and shared resources."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable

from fastapi import APIRouter, FastAPI
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.consultations.router import router as consultations_router
from app.core import logredact, requestid, tracing
from app.core.breaker import Breaker
from app.core.config import Settings, get_settings
from app.core.db import TransactionRoute, create_engine, create_session_factory
from app.core.errors import install_error_handlers
from app.core.headers import SecurityHeadersMiddleware
from app.core.idempotency import IdempotencyMiddleware
from app.core.jobs import job_pool
from app.core.limits import BodySizeLimitMiddleware
from app.core.metrics import HttpMetrics, MetricsMiddleware
from app.core.openapi import install_openapi
from app.core.ratelimit import Limiter, RateLimitMiddleware
from app.core.redis import create_redis
from app.core.routing import include_flat, install_route_index
from app.diagnosis.router import router as diagnosis_router
from app.events.asyncapi import install_asyncapi
from app.events.router import router as events_router
from app.groups.router import router as groups_router
from app.matching.router import router as matching_router
from app.meetings.router import router as meetings_router
from app.notifications.router import router as notifications_router
from app.ops.router import router as ops_router
from app.organizations.router import router as organizations_router
from app.polls.router import router as polls_router
from app.proposals.router import router as proposals_router
from app.realtime import revocation
from app.realtime.hub import Hub
from app.realtime.keys import RedisKeys
from app.realtime.metrics import RealtimeCollector
from app.realtime.relay import Relay
from app.realtime.router import RealtimeShortcut
from app.roadmap.router import router as roadmap_router
from app.users.router import router as users_router
from app.webhooks.delivery import http_client
from app.webhooks.router import router as webhooks_router

log = logging.getLogger(__name__)
API_PREFIX = "/api/v1"


API_ROUTERS: tuple[APIRouter, ...] = (
    users_router,
    organizations_router,
    groups_router,
    meetings_router,
    proposals_router,
    polls_router,
    diagnosis_router,
    consultations_router,
    roadmap_router,
    matching_router,
    notifications_router,
    events_router,
    webhooks_router,
)


def _install_routes(app: FastAPI) -> None:
    """Every route on the app's own router, flat (app/core/routing.py), then the index."""
    include_flat(app.router, ops_router)
    for router in API_ROUTERS:
        include_flat(app.router, router, prefix=API_PREFIX)


def _after_commit_hook(relay: Relay, breaker: Breaker) -> Callable[[], None]:
    """Wake the relay after a commit that wrote events: locally at once, and through Redis
    when the lease holder is another process. Never blocks or fails the request; through the
    breaker, so a hung Redis does not pile up a waiting task per write."""
    pending: set[asyncio.Task[None]] = set()

    def hook() -> None:
        relay.notify()
        if not relay.is_leader:
            task = asyncio.get_running_loop().create_task(breaker.attempt(relay.wake_all))
            pending.add(task)
            task.add_done_callback(pending.discard)

    return hook


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    tracing.setup_from_env("wghub-api")
    engine = create_engine(settings)
    session_factory = create_session_factory(engine)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.redis = create_redis(settings.effective_redis_url)
        # Enqueues arq jobs (as JSON) through the same connections.
        app.state.jobs = job_pool(app.state.redis, RedisKeys(settings.redis_prefix).arq_queue)
        app.state.webhook_http = http_client(settings)
        hub = Hub(settings)
        relay = Relay(settings=settings, session_factory=session_factory, redis=app.state.redis)
        app.state.hub, app.state.relay = hub, relay
        app.state.after_commit = _after_commit_hook(relay, app.state.redis_breaker)
        background = [
            asyncio.create_task(hub.run(), name="realtime-hub"),
            asyncio.create_task(revocation.watch(hub, engine, settings), name="ws-revocation"),
        ]
        if settings.run_relay:
            background.append(asyncio.create_task(relay.run(), name="outbox-relay"))
        worker_task = None
        if settings.run_worker_in_process:
            from workers.settings import build_worker, stop_worker

            worker = build_worker(
                settings, handle_signals=False, metrics_registry=app.state.metrics.registry
            )
            worker_task = asyncio.create_task(worker.main(), name="arq-worker")
        # Everything built so far (modules, routes, compiled statements, settings) lives as
        # long as the process: keep it out of the cyclic collector's full passes, which
        # otherwise stall every request for tens of milliseconds (bench/README.md).
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 50, 100)
        try:
            yield
        finally:
            if worker_task is not None:
                await stop_worker(worker, worker_task)
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await app.state.webhook_http.aclose()
            await app.state.redis.aclose()
            await engine.dispose()

    app = FastAPI(
        title="wghub",
        version="0.1.0",
        summary="Event-driven backend for cross-country working groups",
        lifespan=lifespan,
        # The interactive docs load scripts from a CDN; operators may turn them off (the
        # contract stays at /openapi.json).
        docs_url="/docs" if settings.docs_enabled else None,
        redoc_url="/redoc" if settings.docs_enabled else None,
    )
    app.state.settings = settings
    # Every Redis call a request waits on goes through this (app/core/breaker.py).
    app.state.redis_breaker = Breaker()
    app.state.limiter = Limiter(
        settings=settings,
        redis=lambda: getattr(app.state, "redis", None),
        breaker=app.state.redis_breaker,
    )
    app.state.webhook_tests = Counter()  # user → webhook test calls in progress (router)
    logredact.install()
    app.state.engine = engine
    app.state.session_factory = session_factory
    app.state.metrics = HttpMetrics()
    # This process's websockets: a collector of its own, served beside the shared figures.
    app.state.metrics.exposed.register(RealtimeCollector(app.state))

    install_error_handlers(app)
    # Every route runs in its request's transaction (also routes added later, as tests do).
    app.router.route_class = TransactionRoute
    _install_routes(app)
    install_openapi(app)
    install_asyncapi(app)
    install_route_index(app)

    # Added innermost first: metrics see every request, the size limit runs before anything
    # reads the body, rate limits before any work, and idempotency wraps the routes.
    app.add_middleware(IdempotencyMiddleware, settings=settings, session_factory=session_factory)
    app.add_middleware(RateLimitMiddleware, limiter=app.state.limiter)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(SecurityHeadersMiddleware)
    # Outermost but one: the realtime websocket skips all of the above (app/realtime/router.py).
    app.add_middleware(RealtimeShortcut)
    if settings.forwarded_allow_ips:
        # Outermost: the client address every layer (rate limits, logs) sees is the one a
        # trusted proxy forwarded — the right-most X-Forwarded-For entry that is not itself a
        # trusted proxy; from any other peer the header is ignored. Here rather than in the
        # server so it holds however the app is served (`wg` turns uvicorn's own off).
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)
    # Around all of it, Starlette's error handling included: every line and every response
    # of a request carries its id.
    tracing.instrument_app(app)  # before: it expects Starlette's own stack beneath it
    requestid.install(app)
    return app
