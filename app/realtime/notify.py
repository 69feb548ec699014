"""Pushing a user's notification to their open websockets, on whichever API process they are."""

from __future__ import annotations

import json
import uuid
from typing import Any

from redis.asyncio import Redis

from app.realtime.keys import RedisKeys

NOTIFICATIONS_MAXLEN = 10_000


async def push_notification(
    redis: Redis, prefix: str, user_id: uuid.UUID, notification: dict[str, Any]
) -> None:
    """Every hub reads this stream and forwards the entry to the user's connections as
    `{"type": "notification", "notification": …}`."""
    await redis.xadd(
        RedisKeys(prefix).notifications_stream,
        {"u": str(user_id), "n": json.dumps(notification, separators=(",", ":"), default=str)},
        maxlen=NOTIFICATIONS_MAXLEN,
        approximate=True,
    )
