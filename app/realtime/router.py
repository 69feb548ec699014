"""`WS /api/v1/ws`: live group events and the user's notifications (API.md "Realtime").

Client messages: `subscribe {group_id, after?}`, `unsubscribe {group_id}`, `ping`.
Close codes: 4401 bad credentials, 4403 subscribing to a group the user may not read,
1008 flooding, 1009 message too large, 1013 the client fell too far behind (its queue filled;
resubscribe with `after` to resume).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, WebSocket
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.websockets import WebSocketState

from app.core.config import Settings
from app.realtime.connection import Connection
from app.users.principal import authenticate

router = APIRouter(tags=["realtime"])

CLOSE_BAD_CREDENTIALS = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011
CLOSE_TRY_AGAIN = 1013


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SubscribeMsg(_Msg):
    type: Literal["subscribe"]
    group_id: uuid.UUID
    after: int | None = Field(default=None, ge=0)


class UnsubscribeMsg(_Msg):
    type: Literal["unsubscribe"]
    group_id: uuid.UUID


class PingMsg(_Msg):
    type: Literal["ping"]


ClientMessage = TypeAdapter[Any](
    Annotated[SubscribeMsg | UnsubscribeMsg | PingMsg, Field(discriminator="type")]
)


class TokenBucket:
    """Inbound rate limit: `rate` messages per second with bursts up to `burst`."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.capacity = rate, float(burst)
        self.tokens, self.stamp = float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def _token_of(websocket: WebSocket) -> str | None:
    token = websocket.query_params.get("token")
    if token:
        return token
    auth = websocket.headers.get("authorization", "")
    return auth[7:].strip() if auth.lower().startswith("bearer ") else None


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    app = websocket.app
    settings: Settings = app.state.settings
    await websocket.accept()
    token = _token_of(websocket)
    user = None
    if token:
        async with app.state.engine.connect() as conn:
            user = await authenticate(conn, settings, token)
            await conn.commit()  # authenticate may note an API key's use
    if user is None:
        await websocket.close(CLOSE_BAD_CREDENTIALS, "invalid or missing credentials")
        return
    user_id = user.id
    del user
    hub = app.state.hub
    if len(hub.users.get(user_id, ())) >= settings.ws_max_connections_per_user:
        await websocket.close(CLOSE_POLICY, "too many connections for this user")
        return

    conn = Connection(
        websocket=websocket,
        user_id=user_id,
        hub=app.state.hub,
        session_factory=app.state.session_factory,
        settings=settings,
    )
    # The client's messages are read right here and the server's are sent by one task; either
    # side ending (or the queue overflowing) cancels this coroutine with a reason. Fewer tasks
    # per connection keep an idle connection's memory small.
    this_task = asyncio.current_task()
    assert this_task is not None
    stop: list[tuple[int, str]] = []

    def end(code: int, reason: str) -> None:
        if not stop:
            stop.append((code, reason))
            this_task.cancel()

    def sender_done(task: asyncio.Task[None]) -> None:
        if not task.cancelled():
            # Sending failed (database or socket error): the client reconnects and resumes.
            end(CLOSE_INTERNAL, "server error: reconnect and resume")

    conn.on_overflow = lambda: end(CLOSE_TRY_AGAIN, "too slow: resubscribe with `after` to resume")
    app.state.hub.add(conn)
    sender = asyncio.create_task(conn.run_sender(), name="ws-sender")
    sender.add_done_callback(sender_done)
    close_code, reason = 1000, ""
    try:
        close_code, reason = await _read_loop(websocket, conn, settings)
    except asyncio.CancelledError:
        if not stop:
            raise  # the server is shutting down
        this_task.uncancel()
        close_code, reason = stop[0]
    finally:
        app.state.hub.discard(conn)
        sender.remove_done_callback(sender_done)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender
        if websocket.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await websocket.close(close_code, reason)


async def _read_loop(websocket: WebSocket, conn: Connection, settings: Settings) -> tuple[int, str]:
    """Handle client messages until the client leaves or must be closed; return the close code."""
    bucket = TokenBucket(settings.ws_messages_per_second, settings.ws_message_burst)
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return 1000, ""
        text = message.get("text")
        if text is None:
            text = (message.get("bytes") or b"").decode("utf-8", errors="replace")
        if not bucket.take():
            return CLOSE_POLICY, "too many messages"
        if len(text) > settings.ws_max_message_bytes:
            return CLOSE_TOO_BIG, "message too large"
        try:
            msg = ClientMessage.validate_python(json.loads(text))
        except (ValueError, ValidationError) as exc:
            conn.send_json({"type": "error", "code": "bad_message", "detail": _explain(exc)})
            continue
        if isinstance(msg, PingMsg):
            conn.send_json({"type": "pong"})
        elif isinstance(msg, SubscribeMsg):
            if not await conn.can_read(msg.group_id):
                return CLOSE_FORBIDDEN, "you may not read this group"
            conn.subscribe(msg.group_id, msg.after)
        else:
            conn.unsubscribe(msg.group_id)


def _explain(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
    return "not valid JSON"
