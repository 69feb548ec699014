"""The messages the server sends on `WS /api/v1/ws`, as models for the AsyncAPI document.

The connection writes them as prebuilt JSON text (app/realtime/connection.py, hub.py: an
event's frame is encoded once for every subscriber), so these models describe the frames
rather than build them; tests/test_event_types.py checks real frames against them. The
client's messages are the models the router parses (app/realtime/router.py).
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from app.notifications.schemas import NotificationRead


class Subscribed(BaseModel):
    """Answer to `subscribe`; replayed events (`seq > after`) follow, then live ones."""

    type: Literal["subscribed"]
    group_id: uuid.UUID
    seq: int = Field(description="the group's latest seq when the subscription started")


class Unsubscribed(BaseModel):
    """Answer to `unsubscribe`."""

    type: Literal["unsubscribed"]
    group_id: uuid.UUID


class Reset(BaseModel):
    """`after` was further behind than the server replays (`WG_WS_REPLAY_LIMIT`): refetch the
    state over HTTP; live events after `seq` follow."""

    type: Literal["reset"]
    group_id: uuid.UUID
    seq: int


class EventFrame(BaseModel):
    """One event of a subscribed group, in `seq` order, exactly once per subscription."""

    type: Literal["event"]
    event: dict[str, Any] = Field(description="the event envelope (one of the event types)")


class NotificationFrame(BaseModel):
    """One of the signed-in user's own notifications, as it is created."""

    type: Literal["notification"]
    notification: NotificationRead


class ErrorFrame(BaseModel):
    """`bad_message`: the last client message was not understood (the connection stays open);
    `forbidden`: the user can no longer read a subscribed group, whose subscription ended."""

    type: Literal["error"]
    code: Literal["bad_message", "forbidden"]
    detail: str
    group_id: uuid.UUID | None = Field(default=None, description="code `forbidden` only")


class Pong(BaseModel):
    """Answer to `ping`."""

    type: Literal["pong"]


class Heartbeat(BaseModel):
    """Sent when nothing else was sent for `ws_heartbeat_seconds` (25 s), so that proxies
    keep the connection open and the client can tell a dead one."""

    type: Literal["heartbeat"]


SERVER_MESSAGES: tuple[type[BaseModel], ...] = (
    Subscribed,
    Unsubscribed,
    Reset,
    EventFrame,
    NotificationFrame,
    ErrorFrame,
    Pong,
    Heartbeat,
)
