"""One websocket connection: its subscriptions, its bounded queue and the sequence rule.

Everything the server sends goes through one task (`run_sender`) in queue order, and every
event — replayed from the table or live from the hub — passes the same rule per group:

    seq <= last_seq      → drop (duplicate)
    seq == last_seq + 1  → send, last_seq = seq
    seq >  last_seq + 1  → fetch the missing seqs from the table, send them, then this one

A subscription is registered with the hub *before* its replay is queued, so the switch from
replay to live can neither lose nor repeat an event.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import WebSocket
from sqlalchemy import select
from sqlmodel import col

from app.core.config import Settings
from app.core.db import SessionFactory, Tx
from app.core.errors import DomainError
from app.events.queries import envelope_json, events_after
from app.groups.access import authorize_user
from app.models import Group, Role
from app.realtime.hub import REVOKES_MEMBER, REVOKES_VISIBILITY, Hub, StreamEvent, revocation

REPLAY_PAGE = 200


class QueueOverflow(Exception):
    """The client does not read fast enough; its connection is closed."""


@dataclass(frozen=True)
class _Subscribe:
    group_id: uuid.UUID
    after: int | None


@dataclass(frozen=True)
class _Unsubscribe:
    group_id: uuid.UUID


@dataclass(frozen=True)
class _Resync:
    pass


@dataclass(frozen=True)
class _Frame:
    text: str


_QueueItem = StreamEvent | _Subscribe | _Unsubscribe | _Resync | _Frame


class Connection:
    def __init__(
        self,
        *,
        websocket: WebSocket,
        user_id: uuid.UUID,
        hub: Hub,
        session_factory: SessionFactory,
        settings: Settings,
    ) -> None:
        self.websocket = websocket
        self.user_id = user_id  # only the id: an ORM object per idle connection costs memory
        self.hub = hub
        self.session_factory = session_factory
        self.settings = settings
        self.queue: asyncio.Queue[_QueueItem] = asyncio.Queue(maxsize=settings.ws_queue_size)
        # group_id → last seq sent; present once the subscribe has been processed.
        self.subscriptions: dict[uuid.UUID, int] = {}
        self.overflowed = False
        # Called once when the queue overflows; the endpoint uses it to end the connection.
        self.on_overflow: Callable[[], None] | None = None

    # --- producers (hub and reader); never block -----------------------------------------

    def _put(self, item: _QueueItem) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            if not self.overflowed:
                self.overflowed = True
                if self.on_overflow is not None:
                    self.on_overflow()

    def offer_event(self, event: StreamEvent) -> None:
        self._put(event)

    def offer_resync(self) -> None:
        self._put(_Resync())

    def send_json(self, message: dict[str, Any]) -> None:
        self.send_text(json.dumps(message, separators=(",", ":")))

    def send_text(self, text: str) -> None:
        self._put(_Frame(text))

    def subscribe(self, group_id: uuid.UUID, after: int | None) -> None:
        self.hub.join(self, group_id)
        self._put(_Subscribe(group_id, after))

    def unsubscribe(self, group_id: uuid.UUID) -> None:
        self.hub.leave(self, group_id)
        self._put(_Unsubscribe(group_id))

    # --- the sender task ------------------------------------------------------------------

    async def run_sender(self) -> None:
        heartbeat = self.settings.ws_heartbeat_seconds
        while True:
            try:
                async with asyncio.timeout(heartbeat):
                    item = await self.queue.get()
            except TimeoutError:
                await self._send_text('{"type":"heartbeat"}')
                continue
            if isinstance(item, StreamEvent):
                await self._deliver(item)
            elif isinstance(item, _Frame):
                await self._send_text(item.text)
            elif isinstance(item, _Subscribe):
                await self._start_subscription(item)
            elif isinstance(item, _Unsubscribe):
                self.subscriptions.pop(item.group_id, None)
                await self._send_text(
                    json.dumps({"type": "unsubscribed", "group_id": str(item.group_id)})
                )
            else:
                for group_id in list(self.subscriptions):
                    await self._catch_up(group_id)

    async def _send_text(self, text: str) -> None:
        await self.websocket.send_text(text)

    async def _send_event(self, envelope_json: str) -> None:
        await self._send_text('{"type":"event","event":' + envelope_json + "}")

    async def _start_subscription(self, sub: _Subscribe) -> None:
        group_id = sub.group_id
        latest = await self._latest_seq(group_id)
        after = sub.after
        if after is None:
            after = latest
        elif after > latest or latest - after > self.settings.ws_replay_limit:
            # Too far back to replay (or from the future): the client refetches state.
            self.subscriptions[group_id] = latest
            await self._send_text(
                json.dumps({"type": "reset", "group_id": str(group_id), "seq": latest})
            )
            return
        self.subscriptions[group_id] = after
        await self._send_text(
            json.dumps({"type": "subscribed", "group_id": str(group_id), "seq": latest})
        )
        await self._catch_up(group_id)

    async def _deliver(self, event: StreamEvent) -> None:
        last = self.subscriptions.get(event.group_id)
        if last is None or event.seq <= last:
            return
        if event.seq > last + 1:
            await self._catch_up(event.group_id, until=event.seq - 1)
        self.subscriptions[event.group_id] = event.seq
        await self._send_event(event.envelope_json)
        if self._may_revoke_access(event.revokes, event.subject_id):
            await self._recheck_access(event.group_id)

    async def _catch_up(self, group_id: uuid.UUID, until: int | None = None) -> None:
        """Send the group's events after last_seq (up to `until`) from the table."""
        while group_id in self.subscriptions:
            last = self.subscriptions[group_id]
            if until is not None and last >= until:
                return
            async with self.hub.db_slots, self.session_factory() as session:
                rows = await events_after(
                    await session.connection(), group_id=group_id, after=last, limit=REPLAY_PAGE
                )
            rows = [r for r in rows if until is None or r.seq <= until]
            if not rows:
                return
            for row in rows:
                self.subscriptions[group_id] = row.seq
                await self._send_event(envelope_json(row).decode())
                if self._may_revoke_access(revocation(row.type, row.data), row.subject_id):
                    await self._recheck_access(group_id)
                    if group_id not in self.subscriptions:
                        return

    async def _latest_seq(self, group_id: uuid.UUID) -> int:
        async with self.hub.db_slots, self.session_factory() as session:
            stmt = select(col(Group.last_seq)).where(col(Group.id) == group_id)
            return int((await session.execute(stmt)).scalar_one_or_none() or 0)

    def _may_revoke_access(self, revokes: str, subject_id: object) -> bool:
        """Whether this user may no longer read the group after this event."""
        if revokes == REVOKES_MEMBER:
            return str(subject_id) == str(self.user_id)
        return revokes == REVOKES_VISIBILITY

    async def _recheck_access(self, group_id: uuid.UUID) -> None:
        if await self.can_read(group_id):
            return
        self.subscriptions.pop(group_id, None)
        self.hub.leave(self, group_id)
        await self._send_text(
            json.dumps(
                {
                    "type": "error",
                    "code": "forbidden",
                    "group_id": str(group_id),
                    "detail": "You can no longer read this group; the subscription has ended",
                }
            )
        )

    async def can_read(self, group_id: uuid.UUID) -> bool:
        async with self.hub.db_slots, self.session_factory() as session:
            tx = await Tx.of_session(session)
            try:
                await authorize_user(
                    tx, self.user_id, group_id=group_id, need=Role.observer, write=False
                )
            except DomainError:
                return False
            return True
