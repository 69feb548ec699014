"""Wake-ups across processes: a Redis pub/sub channel that says "look now".

A wake-up carries no data and may be lost (Redis away, nobody listening); whoever listens also
polls on a timer, so a lost wake-up only delays. The outbox relay and the webhook deliverers
use it to react to a commit made in another process within milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.redis import create_redis


async def publish_wake(redis: Redis, channel: str) -> None:
    """Best effort: a failure here costs at most one poll interval of latency."""
    with contextlib.suppress(RedisError, OSError):
        await redis.publish(channel, b"1")


async def listen_for_wakeups(redis_url: str, channel: str, on_wake: Callable[[], None]) -> None:
    """Call `on_wake` for every wake-up published on `channel`, forever (cancel to stop);
    resubscribes after Redis comes back."""
    client = create_redis(redis_url, blocking=True)
    try:
        while True:
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(channel)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        on_wake()
            except (RedisError, OSError):
                await asyncio.sleep(1.0)  # Redis is away; try to subscribe again shortly
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
    finally:
        await client.aclose()
