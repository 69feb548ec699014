"""The relay: publishes committed events from the outbox table to the Redis stream.

Exactly one relay is active across all API processes: it holds a Redis lock with an expiry and
renews it while it works; if its process dies the lock runs out and another relay takes over.
Rows are read in `(group_id, seq)` order and marked published only after XADD succeeded, so a
crash in between publishes them again; consumers drop the duplicates by `(group_id, seq)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from redis.asyncio import Redis
from redis.exceptions import LockError, RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core import wake
from app.core.config import Settings
from app.core.db import SessionFactory
from app.core.responses import dumps
from app.events import queries
from app.models.base import utcnow
from app.realtime.hub import revocation
from app.realtime.keys import RedisKeys

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
        self.is_leader = False

    def notify(self) -> None:
        """Wake the relay now (called after a commit that wrote events)."""
        self._wake.set()

    async def wake_all(self) -> None:
        """Wake the relay of every process (the lease holder may live elsewhere)."""
        self._wake.set()
        await publish_wake(self.redis, self.settings.redis_prefix)

    async def publish_pending(self, *, mark: bool = True) -> int:
        """Publish one batch of unpublished events; return how many.

        `mark=False` leaves the rows unpublished, as a relay that crashed right after XADD
        would (the fault tests use it).
        """
        # No transaction stays open while Redis is called: on SQLite it holds the write lock,
        # and a hung Redis would hold every writer with it.
        async with self.engine.begin() as conn:
            rows = await queries.unpublished(conn, BATCH_SIZE)
        if not rows:
            return 0
        pipe = self.redis.pipeline(transaction=False)
        for row in rows:
            event = queries.envelope(row)
            pipe.xadd(
                self.keys.events_stream,
                {
                    "i": str(event["id"]),
                    "g": str(event["group_id"]),
                    "s": str(event["seq"]),
                    "t": event["type"],
                    "u": str(event["subject"]["id"]),
                    "e": dumps(event),
                    "r": revocation(event["type"], event["data"]),
                },
                maxlen=self.settings.events_stream_maxlen,
                approximate=True,
            )
        await pipe.execute()
        if mark:
            async with self.engine.begin() as conn:
                await queries.mark_published(conn, [row.id for row in rows], utcnow())
        return len(rows)

    async def run(self) -> None:
        """Forever: hold (or wait for) the lease, and publish whenever woken or every second."""
        lease_seconds = self.settings.relay_lease_seconds
        lock = self.redis.lock(self.keys.relay_lease, timeout=lease_seconds, thread_local=False)
        listener = asyncio.create_task(self._listen_for_wakeups(), name="relay-wake-listener")
        loop = asyncio.get_running_loop()
        renewed = last_pass = 0.0

        async def hold_lease() -> bool:
            """Renew the lease when a third of it has passed (not at every wake-up, which
            comes with every commit), or try to take it; whether this relay holds it."""
            nonlocal renewed
            now = loop.time()
            if self.is_leader and now - renewed >= lease_seconds / 3:
                try:
                    await lock.reacquire()
                    renewed = now
                except LockError:
                    log.warning("relay lease lost")
                    self.is_leader = False
            if not self.is_leader:
                self.is_leader = bool(await lock.acquire(blocking=False))
                if self.is_leader:
                    renewed = now
                    log.info("relay lease acquired by %s", self.instance_id)
            return self.is_leader

        try:
            while True:
                try:
                    # A long backlog is drained batch by batch, the lease renewed in between.
                    while await hold_lease() and await self.publish_pending() == BATCH_SIZE:
                        pass
                    last_pass = loop.time()
                except (RedisError, OSError) as exc:
                    # Redis is away: nothing can be published; the rows wait in the table.
                    log.warning("relay: redis unavailable (%s)", type(exc).__name__)
                    self.is_leader = False
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
            if self.is_leader:
                with contextlib.suppress(LockError, RedisError, OSError):
                    await lock.release()

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
