"""One websocket connection: its subscriptions, the sequence rule, and how it sends.

Every event — replayed from the table or live from the hub — passes the same rule per group:

    seq <= last_seq      → drop (duplicate)
    seq == last_seq + 1  → send, last_seq = seq
    seq >  last_seq + 1  → fetch the missing seqs from the table, send them, then this one

How it sends: while a client keeps up and nothing waits, the hub's own task sends each event
straight to it (`eager.start`: a send that does not have to wait costs no task and no queue).
Anything that must wait — a send to a client that stopped reading, a catch-up from the table,
a subscription's replay, an access re-check — goes into the connection's backlog, and a task
of its own (the worker) works through it in order; until the backlog is empty everything
else queues behind it, so frames never overtake each other. An idle connection holds no task,
no queue and no timer besides its heartbeat. A backlog that reaches `ws_queue_size` means the
client is too slow: the connection is closed (1013) and the client resumes with `after`.

A subscription is registered with the hub *before* its replay is queued, so the switch from
replay to live can neither lose nor repeat an event.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from app.core.config import Settings
from app.core.db import SessionFactory, Tx
from app.core.errors import DomainError
from app.events.queries import envelope_json, events_after
from app.groups.access import authorize_user
from app.models import Group, Role
from app.realtime import eager
from app.realtime.hub import REVOKES_MEMBER, REVOKES_VISIBILITY, Hub, StreamEvent, revocation
from app.users.principal import Credential

log = logging.getLogger(__name__)

REPLAY_PAGE = 200
HEARTBEAT = '{"type":"heartbeat"}'

# The ASGI `send` of the websocket.
Send = Callable[[Any], Awaitable[None]]


def text_message(text: str) -> dict[str, Any]:
    return {"type": "websocket.send", "text": text}


def event_frame(envelope: str) -> str:
    return '{"type":"event","event":' + envelope + "}"


@dataclass(frozen=True, slots=True)
class _Subscribe:
    group_id: uuid.UUID
    after: int | None


@dataclass(frozen=True, slots=True)
class _Unsubscribe:
    group_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class _Resync:
    pass


@dataclass(frozen=True, slots=True)
class _Message:
    message: dict[str, Any]


@dataclass(frozen=True, slots=True)
class _Rest:
    """The rest of a send that had to wait."""

    rest: Awaitable[None]


_Item = StreamEvent | _Subscribe | _Unsubscribe | _Resync | _Message | _Rest


class Connection:
    __slots__ = (
        "_heartbeat",
        "backlog",
        "closed",
        "credential",
        "hub",
        "on_error",
        "on_overflow",
        "on_revoked",
        "send",
        "sent",
        "session_factory",
        "settings",
        "subscriptions",
        "user_id",
        "worker",
    )

    def __init__(
        self,
        *,
        send: Send,
        user_id: uuid.UUID,
        credential: Credential,
        hub: Hub,
        session_factory: SessionFactory,
        settings: Settings,
    ) -> None:
        self.send = send
        self.user_id = user_id  # only the id: an ORM object per idle connection costs memory
        self.credential = credential  # checked again while open (app/realtime/revocation.py)
        self.hub = hub
        self.session_factory = session_factory
        self.settings = settings
        # group_id → last seq sent; present once the subscribe has been processed.
        self.subscriptions: dict[uuid.UUID, int] = {}
        # Work waiting in order, and the task doing it; both None while nothing waits.
        self.backlog: deque[_Item] | None = None
        self.worker: asyncio.Task[None] | None = None
        self.sent = False  # whether anything was sent since the last heartbeat tick
        self.closed = False  # sending has ended (overflow, error, or the client left)
        # Called once, to end the connection: the queue overflowed (1013), or sending failed.
        self.on_overflow: Callable[[], None] | None = None
        self.on_error: Callable[[], None] | None = None
        # Called once, to end the connection: its credential no longer holds (4401).
        self.on_revoked: Callable[[], None] | None = None
        self._heartbeat: asyncio.TimerHandle | None = None

    # --- producers (the hub, the reader); never wait --------------------------------------

    def offer_event(self, event: StreamEvent) -> None:
        if self.worker is None:
            last = self.subscriptions.get(event.group_id)
            if last is None or event.seq <= last:
                return  # not subscribed (a subscribe in progress has a worker), or a repeat
            if event.seq == last + 1 and not self._may_revoke_access(
                event.revokes, event.subject_id
            ):
                self.subscriptions[event.group_id] = event.seq
                self._send_now(event.message)
                return
        self._enqueue(event)  # a gap to fill, an access re-check, or work waiting before it

    def offer_resync(self) -> None:
        self._enqueue(_Resync())

    def send_json(self, message: dict[str, Any]) -> None:
        self.send_text(json.dumps(message, separators=(",", ":")))

    def send_text(self, text: str) -> None:
        if self.worker is None:
            self._send_now(text_message(text))
        else:
            self._enqueue(_Message(text_message(text)))

    def subscribe(self, group_id: uuid.UUID, after: int | None) -> None:
        self.hub.join(self, group_id)
        self._enqueue(_Subscribe(group_id, after))

    def unsubscribe(self, group_id: uuid.UUID) -> None:
        self.hub.leave(self, group_id)
        self._enqueue(_Unsubscribe(group_id))

    def _send_now(self, message: dict[str, Any]) -> None:
        """Send in place; if the send has to wait, the worker finishes it (first in line)."""
        if self.closed:
            return
        self.sent = True
        self.hub.frames_sent += 1
        try:
            rest = eager.start(self.send(message))
        except Exception:
            self._fail()  # the client is gone (its reader sees the disconnect) or worse
            return
        if rest is not None:
            self._enqueue(_Rest(rest))

    def _enqueue(self, item: _Item) -> None:
        if self.closed:
            return
        if self.backlog is None:
            self.backlog = deque()
        if len(self.backlog) >= self.settings.ws_queue_size:
            self.closed = True
            self.backlog.clear()
            self.hub.slow_closes += 1
            if self.on_overflow is not None:
                self.on_overflow()
            return
        self.backlog.append(item)
        if self.worker is None:
            self.worker = asyncio.get_running_loop().create_task(self._work(), name="ws-worker")
            self.worker.add_done_callback(self._worker_done)

    def _fail(self) -> None:
        if not self.closed:
            self.closed = True
            if self.on_error is not None:
                self.on_error()

    # --- heartbeats -------------------------------------------------------------------------

    def start_heartbeats(self) -> None:
        """A heartbeat when nothing else was sent for a heartbeat interval (or up to two)."""
        interval = self.settings.ws_heartbeat_seconds
        self._heartbeat = asyncio.get_running_loop().call_later(interval, self._tick)

    def _tick(self) -> None:
        if not self.sent:
            self.send_text(HEARTBEAT)
        self.sent = False
        if not self.closed:
            self.start_heartbeats()

    def stop(self) -> None:
        """The connection is over: no more sends, no more timers, no more work."""
        self.closed = True
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        if self.worker is not None:
            self.worker.cancel()

    # --- the worker -------------------------------------------------------------------------

    async def _work(self) -> None:
        backlog = self.backlog
        assert backlog is not None
        while backlog:
            item = backlog.popleft()
            if isinstance(item, StreamEvent):
                await self._deliver(item)
            elif isinstance(item, _Rest):
                await item.rest
            elif isinstance(item, _Message):
                await self._send(item.message)
            elif isinstance(item, _Subscribe):
                await self._start_subscription(item)
            elif isinstance(item, _Unsubscribe):
                self.subscriptions.pop(item.group_id, None)
                await self._send_json({"type": "unsubscribed", "group_id": str(item.group_id)})
            else:
                for group_id in list(self.subscriptions):
                    await self._catch_up(group_id)
        # Nothing waits: back to sending in place (no await between the check and this).
        self.worker = None
        self.backlog = None

    def _worker_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            # A database or socket error: the client reconnects and resumes with `after`.
            if not self.closed:
                log.warning("websocket: sending failed (%s)", type(exc).__name__)
            self._fail()

    async def _send(self, message: dict[str, Any]) -> None:
        if not self.closed:
            self.sent = True
            self.hub.frames_sent += 1
            await self.send(message)

    async def _send_json(self, message: dict[str, Any]) -> None:
        await self._send(text_message(json.dumps(message)))

    async def _start_subscription(self, sub: _Subscribe) -> None:
        group_id = sub.group_id
        latest = await self._latest_seq(group_id)
        after = sub.after
        if after is None:
            after = latest
        elif after > latest or latest - after > self.settings.ws_replay_limit:
            # Too far back to replay (or from the future): the client refetches state.
            self.subscriptions[group_id] = latest
            await self._send_json({"type": "reset", "group_id": str(group_id), "seq": latest})
            return
        self.subscriptions[group_id] = after
        await self._send_json({"type": "subscribed", "group_id": str(group_id), "seq": latest})
        await self._catch_up(group_id)

    async def _deliver(self, event: StreamEvent) -> None:
        last = self.subscriptions.get(event.group_id)
        if last is None or event.seq <= last:
            return
        if event.seq > last + 1:
            await self._catch_up(event.group_id, until=event.seq - 1)
        self.subscriptions[event.group_id] = event.seq
        await self._send(event.message)
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
                await self._send(text_message(event_frame(envelope_json(row).decode())))
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
        await self._send_json(
            {
                "type": "error",
                "code": "forbidden",
                "group_id": str(group_id),
                "detail": "You can no longer read this group; the subscription has ended",
            }
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
