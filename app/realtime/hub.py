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
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.config import Settings
from app.core.redis import create_redis
from app.realtime.keys import RedisKeys

if TYPE_CHECKING:
    from app.realtime.connection import Connection

log = logging.getLogger(__name__)


REVOKES_MEMBER = "member"  # the subject user may have lost access
REVOKES_VISIBILITY = "visibility"  # non-members may have lost access


def revocation(event_type: str, data: dict[str, Any]) -> str:
    """Whether an event can take away someone's right to read the group, and whose.

    Connections re-check access (a database query) only after such events, so an ordinary
    `group.updated` costs subscribers nothing extra.
    """
    if event_type == "member.removed":
        return REVOKES_MEMBER
    if event_type == "group.updated" and "visibility" in data.get("changes", {}):
        return REVOKES_VISIBILITY
    return ""


class StreamEvent:
    """An event as read from the stream: routing fields, and its frame as the ASGI message
    every subscriber is sent (built once per event, shared by all of them)."""

    __slots__ = ("envelope_json", "group_id", "message", "revokes", "seq", "subject_id", "type")

    def __init__(
        self,
        group_id: uuid.UUID,
        seq: int,
        type: str,
        subject_id: str,
        envelope_json: str,
        revokes: str = "",
    ) -> None:
        self.group_id = group_id
        self.seq = seq
        self.type = type
        self.subject_id = subject_id
        self.envelope_json = envelope_json
        self.revokes = revokes
        frame = '{"type":"event","event":' + envelope_json + "}"
        self.message = {"type": "websocket.send", "text": frame}


class Hub:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = RedisKeys(settings.redis_prefix)
        self.groups: dict[uuid.UUID, set[Connection]] = defaultdict(set)
        self.users: dict[uuid.UUID, set[Connection]] = defaultdict(set)
        self.connections: set[Connection] = set()
        self.connected = asyncio.Event()  # set while the stream is being read
        # Catch-ups and access checks share the process's database pool with HTTP requests;
        # thousands of websockets resyncing at once must queue here, not time out there.
        self.db_slots = asyncio.Semaphore(settings.ws_db_concurrency)
        # Counters for /metrics (plain ints: a metric's lock per frame would cost more).
        self.frames_sent = 0
        self.slow_closes = 0

    def add(self, conn: Connection) -> None:
        self.connections.add(conn)
        self.users[conn.user_id].add(conn)

    def discard(self, conn: Connection) -> None:
        self.connections.discard(conn)
        mine = self.users.get(conn.user_id)
        if mine is not None:
            mine.discard(conn)
            if not mine:
                del self.users[conn.user_id]
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
        """Offer the event to its group's connections. Never waits, and nothing it calls
        joins or leaves a group (the endpoints do, in their own tasks): no copy of the set."""
        for conn in self.groups.get(event.group_id, ()):
            conn.offer_event(event)

    def dispatch_notification(self, fields: dict[bytes, bytes]) -> None:
        """A user's notification goes to all of that user's connections on this process.

        Live pushes are a convenience: the inbox (`GET /notifications`) is the record, so a
        notification missed while disconnected is still there.
        """
        user_id = uuid.UUID(fields[b"u"].decode())
        frame = '{"type":"notification","notification":' + fields[b"n"].decode() + "}"
        for conn in self.users.get(user_id, ()):
            conn.send_text(frame)

    async def run(self) -> None:
        """Read the streams forever, reconnecting (and resyncing everyone) after failures."""
        client: Redis = create_redis(self.settings.effective_redis_url, blocking=True)
        events, notes = self.keys.events_stream, self.keys.notifications_stream
        positions: dict[str, str] = {}
        backoff = 0.2
        try:
            while True:
                try:
                    if not positions:
                        positions = {s: await _stream_tail(client, s) for s in (events, notes)}
                        # Anything published while we were not reading is in the table.
                        for conn in tuple(self.connections):
                            conn.offer_resync()
                        self.connected.set()
                        backoff = 0.2
                    replies = await client.xread(positions, block=5000, count=1000)  # type: ignore[arg-type]
                    for stream, items in replies:
                        name = stream.decode()
                        for entry_id, fields in items:
                            positions[name] = entry_id.decode()
                            if name == events:
                                self.dispatch(_parse(fields))
                            else:
                                self.dispatch_notification(fields)
                except (RedisError, OSError) as exc:
                    if self.connected.is_set():
                        log.warning("hub: lost the event stream (%s)", type(exc).__name__)
                    self.connected.clear()
                    positions = {}
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
        revokes=fields.get(b"r", b"").decode(),
    )
