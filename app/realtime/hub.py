"""The realtime hub: one per API process; fans the Redis event stream out to local websockets.

The hub only routes. Each connection applies the sequence rule itself (see `connection.py`), in
its own task and behind its own bounded queue, so a slow client never delays the others.
When the stream connection comes back after a failure, every subscription is told to catch up
from the events table, since events may have been published while the hub was away.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from typing import TYPE_CHECKING

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.config import Settings
from app.core.redis import create_redis
from app.realtime.keys import RedisKeys

if TYPE_CHECKING:
    from app.realtime.connection import Connection

log = logging.getLogger(__name__)


class StreamEvent:
    """An event as read from the stream: routing fields plus its ready-made JSON envelope."""

    __slots__ = ("envelope_json", "group_id", "seq", "subject_id", "type")

    def __init__(
        self, group_id: uuid.UUID, seq: int, type: str, subject_id: str, envelope_json: str
    ) -> None:
        self.group_id = group_id
        self.seq = seq
        self.type = type
        self.subject_id = subject_id
        self.envelope_json = envelope_json


class Hub:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = RedisKeys(settings.redis_prefix)
        self.groups: dict[uuid.UUID, set[Connection]] = defaultdict(set)
        self.connections: set[Connection] = set()
        self.connected = asyncio.Event()  # set while the stream is being read

    def add(self, conn: Connection) -> None:
        self.connections.add(conn)

    def discard(self, conn: Connection) -> None:
        self.connections.discard(conn)
        for group_id in list(conn.subscriptions):
            self.leave(conn, group_id)

    def join(self, conn: Connection, group_id: uuid.UUID) -> None:
        self.groups[group_id].add(conn)

    def leave(self, conn: Connection, group_id: uuid.UUID) -> None:
        members = self.groups.get(group_id)
        if members is not None:
            members.discard(conn)
            if not members:
                del self.groups[group_id]

    def dispatch(self, event: StreamEvent) -> None:
        for conn in tuple(self.groups.get(event.group_id, ())):
            conn.offer_event(event)

    async def run(self) -> None:
        """Read the stream forever, reconnecting (and resyncing everyone) after failures."""
        client: Redis = create_redis(self.settings.effective_redis_url, blocking=True)
        stream = self.keys.events_stream
        position: str | None = None
        backoff = 0.2
        try:
            while True:
                try:
                    if position is None:
                        position = await _stream_tail(client, stream)
                        # Anything published while we were not reading is in the table.
                        for conn in tuple(self.connections):
                            conn.offer_resync()
                        self.connected.set()
                        backoff = 0.2
                    entries = await client.xread({stream: position}, block=5000, count=1000)
                    for _, items in entries:
                        for entry_id, fields in items:
                            position = entry_id.decode()
                            self.dispatch(_parse(fields))
                except (RedisError, OSError) as exc:
                    if self.connected.is_set():
                        log.warning("hub: lost the event stream (%s)", type(exc).__name__)
                    self.connected.clear()
                    position = None
                    await asyncio.sleep(backoff)  # wait for Redis to come back
                    backoff = min(backoff * 2, 2.0)
        finally:
            await client.aclose()


async def _stream_tail(client: Redis, stream: str) -> str:
    last = await client.xrevrange(stream, count=1)
    return last[0][0].decode() if last else "0-0"


def _parse(fields: dict[bytes, bytes]) -> StreamEvent:
    return StreamEvent(
        group_id=uuid.UUID(fields[b"g"].decode()),
        seq=int(fields[b"s"]),
        type=fields[b"t"].decode(),
        subject_id=fields[b"u"].decode(),
        envelope_json=fields[b"e"].decode(),
    )
