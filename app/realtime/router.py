"""`WS /api/v1/ws`: live group events and the user's notifications (API.md "Realtime").

Client messages: `subscribe {group_id, after?}`, `unsubscribe {group_id}`, `ping`.
Credentials: `?ticket=` (from `POST /auth/ws-ticket`) or the Authorization header; a JWT or
API key in the URL is refused. They are checked again every `ws_credential_check_seconds`
(app/realtime/revocation.py): revoked, expired or deactivated, the websocket closes with 4401.

Close codes: 4401 bad credentials, 4403 subscribing to a group the user may not read,
1008 flooding, 1009 message too large, 1011 a server error (reconnect and resume), 1013 the
client fell too far behind (its queue filled; resubscribe with `after` to resume).

The endpoint is a bare ASGI app, reached before the HTTP middlewares and the router
(`RealtimeShortcut`): a connection lives for hours, and every layer it passes through keeps a
frame (and FastAPI's websocket handling its dependency stacks) alive for all that time — at
thousands of idle connections, a good part of their memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.config import Settings
from app.core.routing import get_route_path
from app.realtime.connection import Connection
from app.realtime.keys import RedisKeys
from app.users import tickets
from app.users.principal import Credential, parse_credential, principal_by

PATH = "/api/v1/ws"

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

    __slots__ = ("capacity", "rate", "stamp", "tokens")

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


class RealtimeShortcut:
    """ASGI middleware, outermost: the realtime websocket goes straight to its endpoint;
    everything else on to the app's middlewares and router (none of which handles
    websockets: each would only pass it through)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and get_route_path(scope) == PATH:
            await websocket_endpoint(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _credential_in(scope: Scope) -> tuple[str, str] | None:
    """("ticket", value) from the query, ("bearer", value) from the Authorization header,
    ("url", "") for a JWT or API key in the URL (refused: URLs end up in logs), or None."""
    query = scope.get("query_string", b"").decode("latin-1")
    for key, value in parse_qsl(query):
        if key == "ticket" and value:
            return "ticket", str(value)
        if key in ("token", "access_token") and value:
            return "url", ""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            auth = value.decode("latin-1")
            return ("bearer", auth[7:].strip()) if auth.lower().startswith("bearer ") else None
    return None


async def websocket_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    app = scope["app"]
    settings: Settings = app.state.settings
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    found = _credential_in(scope)
    if found is not None and found[0] == "url":
        await _close(send, CLOSE_BAD_CREDENTIALS, "no credentials in the URL: use ?ticket=")
        return
    try:
        caller = await _caller(app, settings, found)
    except (RedisError, OSError, SQLAlchemyError):
        await _close(send, CLOSE_TRY_AGAIN, "cannot check credentials now: try again")
        return
    if caller is None:
        await _close(send, CLOSE_BAD_CREDENTIALS, "invalid or missing credentials")
        return
    user_id, credential = caller
    hub = app.state.hub
    if len(hub.users.get(user_id, ())) >= settings.ws_max_connections_per_user:
        await _close(send, CLOSE_POLICY, "too many connections for this user")
        return

    conn = Connection(
        send=send,
        user_id=user_id,
        credential=credential,
        hub=hub,
        session_factory=app.state.session_factory,
        settings=settings,
    )
    # The client's messages are read right here, in the connection's only task; the server's
    # go out from the hub's task (or the connection's worker, while one is needed). Sending
    # ending badly cancels this task with a reason.
    this_task = asyncio.current_task()
    assert this_task is not None
    stop: list[tuple[int, str]] = []

    def end(code: int, reason: str) -> None:
        if not stop:
            stop.append((code, reason))
            this_task.cancel()

    conn.on_overflow = lambda: end(CLOSE_TRY_AGAIN, "too slow: resubscribe with `after` to resume")
    conn.on_error = lambda: end(CLOSE_INTERNAL, "server error: reconnect and resume")
    conn.on_revoked = lambda: end(CLOSE_BAD_CREDENTIALS, "credentials revoked or expired")
    hub.add(conn)
    conn.start_heartbeats()
    close_code, reason = 1000, ""
    try:
        close_code, reason = await _read_loop(receive, conn, settings)
    except asyncio.CancelledError:
        if not stop:
            raise  # the server is shutting down
        this_task.uncancel()
        close_code, reason = stop[0]
    finally:
        hub.discard(conn)
        conn.stop()
    if close_code != 0:  # 0: the client has gone already
        await _close(send, close_code, reason)


async def _caller(
    app: Any, settings: Settings, found: tuple[str, str] | None
) -> tuple[uuid.UUID, Credential] | None:
    """The signed-in user's id (only the id: what the lookup loaded is not kept for the
    connection's lifetime) and the credential, which is checked again while it is open."""
    if found is None:
        return None
    kind, value = found
    if kind == "ticket":
        credential = await tickets.redeem(app.state.redis, RedisKeys(settings.redis_prefix), value)
    else:
        credential = parse_credential(settings, value)
    if credential is None:
        return None
    async with app.state.engine.connect() as db:
        user = await principal_by(db, credential)
        await db.commit()  # the lookup may note an API key's use
    return (user.id, credential) if user is not None else None


async def _close(send: Send, code: int, reason: str) -> None:
    # The client may be gone already, or not reading: then there is nothing left to do.
    with contextlib.suppress(Exception):
        async with asyncio.timeout(5):
            await send({"type": "websocket.close", "code": code, "reason": reason})


async def _read_loop(receive: Receive, conn: Connection, settings: Settings) -> tuple[int, str]:
    """Handle client messages until the client leaves or must be closed; the close code
    (0: the client disconnected)."""
    bucket = TokenBucket(settings.ws_messages_per_second, settings.ws_message_burst)
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return 0, ""
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
