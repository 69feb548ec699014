"""The dispatcher: turns each published event into notifications and webhook deliveries.

It runs in the arq worker process as a Redis consumer group on the events stream
(`XREADGROUP`, `XACK`; `XAUTOCLAIM` takes over what a dead worker left pending). Every
event is handled in one database transaction by each registered handler, then marked
`dispatched_at`; a handler's side effects outside the database (enqueueing a delivery job,
pushing a websocket notification) run only after that commit. Handlers must be idempotent:
the same event can be dispatched twice (a crash before XACK), which the unique keys
`(event_id, user_id)` and `(event_id, endpoint_id)` make harmless. A periodic sweep
dispatches events that were published but never dispatched (a flushed or lost stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from arq.connections import ArqRedis
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.config import Settings
from app.core.db import SessionFactory
from app.core.redis import create_redis
from app.models import Event
from app.models.base import utcnow
from app.realtime.keys import RedisKeys

log = logging.getLogger(__name__)

CONSUMER_GROUP = "dispatchers"
READ_COUNT = 100


@dataclass
class DispatchContext:
    """What a handler may use besides the session; `after_commit` runs once the event's
    notifications and deliveries are committed (in the order added). `jobs` enqueues arq
    jobs (the worker's pool; None when no worker pool is at hand, as in some tests)."""

    settings: Settings
    redis: Redis
    jobs: ArqRedis | None = None
    # For after-commit actions that must read what other transactions committed meanwhile.
    session_factory: SessionFactory | None = None
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


Handler = Callable[[AsyncSession, Event, DispatchContext], Awaitable[None]]


class Dispatcher:
    def __init__(
        self,
        *,
        settings: Settings,
        session_factory: SessionFactory,
        redis: Redis,
        handlers: list[Handler],
        jobs: ArqRedis | None = None,
        consumer: str | None = None,
    ) -> None:
        self.jobs = jobs
        self.settings = settings
        self.session_factory = session_factory
        self.redis = redis
        self.handlers = handlers
        self.keys = RedisKeys(settings.redis_prefix)
        self.consumer = consumer or f"dispatcher-{uuid.uuid4().hex[:8]}"
        # How long an entry may sit unacknowledged before another consumer takes it over.
        self.claim_idle_ms = int(settings.dispatch_claim_idle_seconds * 1000)

    async def dispatch(self, event_id: uuid.UUID) -> bool:
        """Handle one event unless it already was; True if this call dispatched it."""
        ctx = DispatchContext(
            settings=self.settings,
            redis=self.redis,
            jobs=self.jobs,
            session_factory=self.session_factory,
        )
        async with self.session_factory() as session, session.begin():
            # The row lock makes two dispatchers of the same event take turns; the second
            # sees dispatched_at and stops.
            event = (
                await session.execute(
                    select(Event).where(col(Event.id) == event_id).with_for_update()
                )
            ).scalar_one_or_none()
            if event is None or event.dispatched_at is not None:
                return False
            for handler in self.handlers:
                await handler(session, event, ctx)
            event.dispatched_at = utcnow()
        for action in ctx.after_commit:
            try:
                await action()
            except Exception:  # the sweeps of each consumer catch up whatever this missed
                log.exception("dispatch: after-commit action failed for event %s", event_id)
        return True

    async def sweep(self, grace_seconds: float | None = None) -> int:
        """Dispatch events published more than `grace` ago but never dispatched."""
        grace = self.settings.dispatch_grace_seconds if grace_seconds is None else grace_seconds
        cutoff = utcnow() - timedelta(seconds=grace)
        async with self.session_factory() as session:
            ids = (
                (
                    await session.execute(
                        select(col(Event.id))
                        .where(
                            col(Event.dispatched_at).is_(None),
                            col(Event.published_at).is_not(None),
                            col(Event.published_at) < cutoff,
                        )
                        .order_by(col(Event.group_id), col(Event.seq))
                        .limit(1000)
                    )
                )
                .scalars()
                .all()
            )
        done = 0
        for event_id in ids:
            done += await self.dispatch(event_id)
        return done

    async def _ensure_group(self, client: Redis) -> None:
        # From the start of the stream: entries published before the first worker came up
        # are handled too (already dispatched ones cost one lookup each).
        try:
            await client.xgroup_create(
                self.keys.events_stream, CONSUMER_GROUP, id="0", mkstream=True
            )
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _handle_entries(
        self, client: Redis, entries: list[tuple[bytes, dict[bytes, bytes]]]
    ) -> None:
        for entry_id, fields in entries:
            raw = fields.get(b"i")
            if raw is not None:
                await self.dispatch(uuid.UUID(raw.decode()))
            await client.xack(self.keys.events_stream, CONSUMER_GROUP, entry_id)

    async def run(self) -> None:
        """Consume the stream forever; reconnect after Redis failures."""
        client = create_redis(self.settings.effective_redis_url, blocking=True)
        stream = self.keys.events_stream
        try:
            while True:
                try:
                    await self._ensure_group(client)
                    # Entries a crashed consumer read but never acknowledged.
                    claim = await client.xautoclaim(
                        stream, CONSUMER_GROUP, self.consumer, self.claim_idle_ms, "0-0", READ_COUNT
                    )
                    # Redis 6.2 answers [next, entries]; 7 adds the deleted ids.
                    await self._handle_entries(client, claim[1])
                    replies = await client.xreadgroup(
                        CONSUMER_GROUP, self.consumer, {stream: ">"}, count=READ_COUNT, block=2000
                    )
                    for _, entries in replies:
                        await self._handle_entries(client, entries)
                except (RedisError, OSError) as exc:
                    log.warning("dispatcher: redis unavailable (%s)", type(exc).__name__)
                    await asyncio.sleep(1.0)  # Redis is away; the sweep covers the gap
                except Exception:
                    # A failing handler must not stop consumption: the entry stays pending
                    # and is claimed again later (and the sweep covers it too).
                    log.exception("dispatcher: handling failed")
                    await asyncio.sleep(1.0)
        finally:
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()
