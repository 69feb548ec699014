"""The relay: publishes committed events from the outbox table to the Redis stream.

Exactly one relay is active across all API processes: it holds a Redis lease with an expiry and
renews it with every batch; if its process dies the lease runs out and another relay takes over.
A relay that stalled and lost its lease cannot publish any more: the stream only accepts a
batch from the lease's current holder (app/realtime/lease.py).
Rows are read in `(group_id, seq)` order and marked published only after XADD succeeded, so a
crash in between publishes them again; consumers drop the duplicates by `(group_id, seq)`.
No transaction stays open while Redis is called: on SQLite it holds the write lock, and a
hung Redis would hold every writer with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import LockError, RedisError
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core import wake
from app.core.config import Settings
from app.core.db import SessionFactory, autocommit, to_the_end
from app.core.responses import dumps
from app.events import queries
from app.models.base import utcnow
from app.realtime.hub import revocation
from app.realtime.keys import RedisKeys
from app.realtime.lease import Entry, RelayLease

log = logging.getLogger(__name__)

BATCH_SIZE = 500


async def publish_wake(redis: Redis, prefix: str) -> None:
    """Ask the active relay, wherever it runs, to publish now (best effort: it also polls)."""
    await wake.publish_wake(redis, RedisKeys(prefix).relay_wake)


class Relay:
    def __init__(self, *, settings: Settings, session_factory: SessionFactory, redis: Redis):
        self.settings = settings
        self.session_factory = session_factory
        # Its own statements are Core: a plain connection, no ORM session per batch.
        self.engine: AsyncEngine = session_factory.kw["bind"]
        self.redis = redis
        self.keys = RedisKeys(settings.redis_prefix)
        self.instance_id = uuid.uuid4().hex
        self._wake = asyncio.Event()
        self.lease = RelayLease(
            redis,
            key=self.keys.relay_lease,
            stream=self.keys.events_stream,
            seconds=settings.relay_lease_seconds,
            maxlen=settings.events_stream_maxlen,
        )

    @property
    def is_leader(self) -> bool:
        return self.lease.held

    def notify(self) -> None:
        """Wake the relay now (called after a commit that wrote events)."""
        self._wake.set()

    async def wake_all(self) -> None:
        """Wake the relay of every process (the lease holder may live elsewhere)."""
        self._wake.set()
        await publish_wake(self.redis, self.settings.redis_prefix)

    async def hold_lease(self) -> bool:
        """Renew the lease or try to take it; whether this relay holds it."""
        was_leader = self.is_leader
        if await self.lease.hold() and not was_leader:
            log.info("relay lease acquired by %s", self.instance_id)
        return self.is_leader

    async def read_batch(self) -> list[Row[Any]]:
        """The next unpublished events, in (group, seq) order."""
        return await to_the_end(self._read_batch())

    async def _read_batch(self) -> list[Row[Any]]:
        async with autocommit(self.engine) as conn:
            return await queries.unpublished(conn, BATCH_SIZE)

    async def _mark_published(self, ids: list[Any]) -> None:
        async with autocommit(self.engine) as conn:
            await queries.mark_published(conn, ids, utcnow())

    async def publish_pending(self, *, mark: bool = True) -> int:
        """Publish one batch of unpublished events if this relay holds the lease; return how
        many (0 when it does not hold it, or lost it before the batch reached the stream).

        `mark=False` leaves the rows unpublished, as a relay that crashed right after XADD
        would (the fault tests use it).
        """
        # The batch is read under this acquisition of the lease and published only if the
        # lease has not changed hands since: nobody else can have published in between.
        token = self.lease.token
        if token is None:
            return 0
        rows = await self.read_batch()
        if not rows:
            return 0
        if not await self.lease.publish(token, [_entry(row) for row in rows]):
            # Refused, nothing written: the rows stay unpublished for the lease's holder now.
            return 0
        if mark:
            await to_the_end(self._mark_published([row.id for row in rows]))
        return len(rows)

    async def run(self) -> None:
        """Forever: hold (or wait for) the lease, and publish whenever woken or every second."""
        listener = asyncio.create_task(self._listen_for_wakeups(), name="relay-wake-listener")
        loop = asyncio.get_running_loop()
        last_pass = 0.0
        try:
            while True:
                _raise_if_cancelled()
                try:
                    # A long backlog is drained batch by batch, each starting with the lease
                    # held (and each published batch renewing it).
                    while await self.hold_lease() and await self.publish_pending() == BATCH_SIZE:
                        pass
                    last_pass = loop.time()
                except (RedisError, OSError) as exc:
                    # Redis is away: nothing can be published; the rows wait in the table.
                    log.warning("relay: redis unavailable (%s)", type(exc).__name__)
                    self.lease.lost("redis unavailable")
                except Exception:
                    log.exception("relay: publishing failed; retrying")
                await self._wait(self.settings.relay_poll_seconds if self.is_leader else 1.0)
                # Under load every commit wakes the relay: gather what comes within a few
                # milliseconds into one batch rather than a pass per commit.
                pause = self.settings.relay_batch_interval_seconds - (loop.time() - last_pass)
                if pause > 0:
                    await asyncio.sleep(pause)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            with contextlib.suppress(LockError, RedisError, OSError):
                await self.lease.release()

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        self._wake.clear()

    async def _listen_for_wakeups(self) -> None:
        """Turn wake-ups published by other processes into local ones."""
        await wake.listen_for_wakeups(
            self.settings.effective_redis_url, self.keys.relay_wake, self._wake.set
        )


def _raise_if_cancelled() -> None:
    """Stop if this task was asked to: a client library that swallows the CancelledError
    delivered during one of its calls (seen in the suite: a relay cancelled at shutdown went
    on looping, and the shutdown never ended) must not keep the relay running."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _entry(row: Row[Any]) -> Entry:
    """A stream entry: the envelope, and the fields the hub and the dispatcher route by."""
    event = queries.envelope(row)
    return {
        "i": str(event["id"]),
        "g": str(event["group_id"]),
        "s": str(event["seq"]),
        "t": event["type"],
        "u": str(event["subject"]["id"]),
        "e": dumps(event),
        "r": revocation(event["type"], event["data"]),
    }
