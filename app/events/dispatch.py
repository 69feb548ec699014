"""The dispatcher: turns each published event into notifications and webhook deliveries.

It runs in the arq worker process as a Redis consumer group on the events stream
(`XREADGROUP`, `XACK`; `XAUTOCLAIM` takes over what a dead worker left pending). The events
read together are handled in one database transaction by each registered handler, then
marked `dispatched_at`; a handler's side effects outside the database (waking the webhook
deliverers, pushing a websocket notification) run only after that commit. If a batch fails,
its events are dispatched one by one, so one bad event cannot hold up the others. Handlers
must be idempotent: the same event can be dispatched twice (a crash before XACK), which the
unique keys `(event_id, user_id)` and `(event_id, endpoint_id)` make harmless. A periodic
sweep dispatches events that were published but never dispatched (a flushed or lost stream).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from arq.connections import ArqRedis
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core import logs, tracing
from app.core.config import Settings
from app.core.db import SessionFactory
from app.core.redis import create_redis
from app.models import Event
from app.models.base import utcnow
from app.realtime.keys import RedisKeys

log = logging.getLogger(__name__)

CONSUMER_GROUP = "dispatchers"
READ_COUNT = 100


# Wakes the webhook deliverer of this worker about these endpoints' deliveries.
WakeDeliverer = Callable[[Collection[uuid.UUID]], None]


@dataclass
class DispatchContext:
    """What a handler may use besides the session; `after_commit` runs once the batch's
    notifications and deliveries are committed (in the order added). `jobs` enqueues arq
    jobs (the worker's pool; None when no worker pool is at hand, as in some tests);
    `wake_deliverer` wakes this worker's webhook deliverer."""

    settings: Settings
    redis: Redis
    jobs: ArqRedis | None = None
    wake_deliverer: WakeDeliverer | None = None
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


# A handler gets the batch's events in (group, seq) order.
Handler = Callable[[AsyncSession, Sequence[Event], DispatchContext], Awaitable[None]]


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
        wake_deliverer: WakeDeliverer | None = None,
    ) -> None:
        self.jobs = jobs
        self.wake_deliverer = wake_deliverer
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
        return await self.dispatch_many([event_id]) == 1

    async def dispatch_many(self, event_ids: Sequence[uuid.UUID]) -> int:
        """Handle the events not dispatched yet, in one transaction; how many it handled."""
        ctx = DispatchContext(
            settings=self.settings,
            redis=self.redis,
            jobs=self.jobs,
            wake_deliverer=self.wake_deliverer,
        )
        async with self.session_factory() as session, session.begin():
            # The row locks make two dispatchers of an event take turns (the second finds it
            # dispatched); taken in one order, so two batches cannot deadlock.
            batch = (
                (
                    await session.execute(
                        select(Event)
                        .where(col(Event.id).in_(event_ids), col(Event.dispatched_at).is_(None))
                        .order_by(col(Event.group_id), col(Event.seq))
                        .with_for_update()
                    )
                )
                .scalars()
                .all()
            )
            if not batch:
                return 0
            # Linked to the requests that wrote the events (a batch has many parents).
            with tracing.span("dispatch events", links=(e.traceparent for e in batch)):
                for handler in self.handlers:
                    await handler(session, batch, ctx)
            await session.execute(
                update(Event)
                .where(col(Event.id).in_([e.id for e in batch]))
                .values(dispatched_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        for action in ctx.after_commit:
            try:
                await action()
            except Exception:  # the sweeps of each consumer catch up whatever this missed
                log.exception("dispatch: an after-commit action failed")
        return len(batch)

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
        for start in range(0, len(ids), READ_COUNT):
            done += await self._dispatch_each_on_failure(ids[start : start + READ_COUNT])
        return done

    async def _dispatch_each_on_failure(self, event_ids: Sequence[uuid.UUID]) -> int:
        """`dispatch_many`, falling back to one event at a time if the batch fails; raises
        only when the database is away (every event then failed alike)."""
        try:
            return await self.dispatch_many(event_ids)
        except Exception:
            if len(event_ids) == 1:
                raise
            log.exception("dispatch: a batch failed; dispatching its events one by one")
        done, failures = 0, 0
        for event_id in event_ids:
            with logs.bound(event_id=event_id):
                try:
                    done += await self.dispatch(event_id)
                except Exception:
                    failures += 1
                    log.exception("dispatch: event failed; it stays pending")
        if failures == len(event_ids):
            raise RuntimeError("dispatch failed for every event of the batch")
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
        """Dispatch the entries' events together, then acknowledge them together.

        An event that failed on its own is acknowledged with the rest: it stays undispatched
        in the table, where the sweep retries it. When the whole batch fails (the database is
        away) nothing is acknowledged, and the entries are claimed again later."""
        if not entries:
            return
        ids = [uuid.UUID(f[b"i"].decode()) for _, f in entries if b"i" in f]
        if ids:
            await self._dispatch_each_on_failure(ids)
        await client.xack(self.keys.events_stream, CONSUMER_GROUP, *(e for e, _ in entries))

    async def run(self) -> None:
        """Consume the stream forever; reconnect after Redis failures."""
        client = create_redis(self.settings.effective_redis_url, blocking=True)
        stream = self.keys.events_stream
        loop = asyncio.get_running_loop()
        group_ready = False
        last_pass = last_takeover = -float("inf")
        try:
            while True:
                try:
                    if not group_ready:  # at start, and after Redis was away (or flushed)
                        await self._ensure_group(client)
                        group_ready = True
                    if loop.time() - last_takeover >= self.claim_idle_ms / 2000:
                        # Entries a crashed consumer read but never acknowledged.
                        claim = await client.xautoclaim(
                            stream, CONSUMER_GROUP, self.consumer, self.claim_idle_ms, "0-0",
                            READ_COUNT,
                        )  # fmt: skip
                        last_takeover = loop.time()
                        # Redis 6.2 answers [next, entries]; 7 adds the deleted ids.
                        await self._handle_entries(client, claim[1])
                    # Under load, gather what comes within a few milliseconds into one batch
                    # (one transaction) rather than a transaction per event or two.
                    pause = self.settings.dispatch_batch_interval_seconds - (
                        loop.time() - last_pass
                    )
                    if pause > 0:
                        await asyncio.sleep(pause)
                    replies = await client.xreadgroup(
                        CONSUMER_GROUP, self.consumer, {stream: ">"}, count=READ_COUNT, block=2000
                    )
                    last_pass = loop.time()
                    for _, entries in replies:
                        await self._handle_entries(client, entries)
                except (RedisError, OSError) as exc:
                    log.warning("dispatcher: redis unavailable (%s)", type(exc).__name__)
                    group_ready = False
                    await asyncio.sleep(1.0)  # Redis is away; the sweep covers the gap
                except Exception:
                    # A failing handler must not stop consumption: the entry stays pending
                    # and is claimed again later (and the sweep covers it too).
                    log.exception("dispatcher: handling failed")
                    await asyncio.sleep(1.0)
        finally:
            with contextlib.suppress(RedisError, OSError):
                await client.aclose()
