"""The baseline of `bench/realtime.py`: websocket fan-out of the event stream as bare Starlette.

    WG_SECRET_KEY=… WG_DATABASE_URL=… WG_REDIS_URL=redis://… WG_REDIS_PREFIX=… \
        .venv/bin/python -m bench.bare_realtime --port 8002 [--stream PREFIX:events]

It reads the same Redis stream as the `wg api` under test (`<WG_REDIS_PREFIX>:events`, the key
of app/realtime/keys.py, or `--stream`) and sends the same frames to its subscribers, with none
of our layers in between. It is the floor our hub and connections are compared with.

What it does:

- `WS /ws`: accepts any connection (the Authorization header is not looked at). Client messages are
  JSON: `{"type": "subscribe", "group_id": …}` is answered `{"type": "subscribed", "group_id":
  …, "seq": 0}`, `unsubscribe` with `unsubscribed`, `ping` with `pong`; anything else gets
  `{"type": "error", "code": "bad_message"}`.
- One task reads the stream: the tail's id first (`XREVRANGE … COUNT 1`, as our hub does), then
  `XREAD BLOCK 5000 COUNT 1000` from it, forever. For each entry whose group (field `g`) has
  subscribers it builds the frame once — `{"type":"event","event":` + field `e` + `}`, the
  frame ours sends — and sends it to every connection subscribed to that group, in stream
  order.
- Sending without a task or a queue per connection: under uvicorn's websockets-sansio protocol
  an ASGI send completes without suspending while the socket is writable (it only awaits an
  event that is set). So the reader starts each send itself and, in the normal case, that is
  the whole send. A send that does suspend — the socket's buffer is over its high-water mark:
  a client that does not keep up — is finished by a task of that connection's own, which then
  sends the frames that queued up for it meanwhile (at most 1,000, as our `ws_queue_size`;
  beyond that the connection is closed with 1013, as ours does). One slow client never holds
  the others up, and an idle connection costs only what uvicorn, websockets and Starlette keep
  for it plus its endpoint coroutine waiting in `receive()`.
- `GET /readyz`: 200 once the reader has found the stream's tail.
- Runs under uvicorn with exactly `wg api`'s options, imported from app.cli
  (`_uvicorn_options`: websockets-sansio, no per-message deflate, 64 KiB `ws_max_size`, the
  log level), one process, and with the same garbage-collector settings as `wg api` after
  start-up (`gc.freeze()`, gen-0 threshold 20,000; app/main.py): a process setting, not a
  layer, and without it the baseline's tail would be its collector's full passes.

What it leaves out (our layers, whose cost the benchmark measures): authentication (ours
looks the token up in the database for every connection) and the per-user connection limit;
the access check on subscribe and the group's latest `seq` (two more queries per subscribe in
ours; here `seq` is always 0 and `after` is ignored); the sequence rule (no last `seq` per
subscription, no duplicate drop, no catch-up from the events table on a gap or after Redis
comes back: on a Redis error the reader just ends); the access re-check after events that may
revoke it; pydantic validation of client messages, the inbound rate limit and size check
(uvicorn's `ws_max_size` still applies); heartbeats (uvicorn's own pings apply to both);
the notifications stream; a task and a bounded queue per connection; FastAPI.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import uuid
from collections import deque
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

BACKLOG_LIMIT = 1000  # frames held for a connection whose socket is backed up (ours: 1000)
CLOSE_TRY_AGAIN = {"type": "websocket.close", "code": 1013, "reason": "too slow"}

Message = dict[str, Any]
log = logging.getLogger("uvicorn.error")


class Subscriber:
    """One connection as the reader sees it: a socket, and a backlog only while it is slow."""

    __slots__ = ("backlog", "closed", "websocket")

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        # Not None while a task is finishing a send that waited: frames queue here meanwhile.
        self.backlog: deque[Message] | None = None
        self.closed = False

    def offer(self, message: Message) -> None:
        """Send now if the socket takes it, otherwise hand the send to a task; never waits."""
        if self.closed:
            return
        if self.backlog is not None:
            if len(self.backlog) >= BACKLOG_LIMIT:
                self.closed = True
                self.backlog.clear()
                self.backlog.append(CLOSE_TRY_AGAIN)
            else:
                self.backlog.append(message)
            return
        send = self.websocket.send(message)
        try:
            waiting = send.send(None)  # run the send up to its first suspension, if any
        except StopIteration:
            return  # sent: the usual case
        except WebSocketDisconnect:
            self.closed = True  # the client is gone; its endpoint cleans up
            return
        self.backlog = deque()
        task = asyncio.get_running_loop().create_task(self._finish(send, waiting))
        _pending.add(task)
        task.add_done_callback(_pending.discard)

    async def _finish(self, send: Coroutine[Any, Any, None], waiting: Any) -> None:
        """Resume the suspended send as a task would, then send what queued up meanwhile."""
        try:
            while True:
                # Until what the send awaits (the socket draining) is done; the send itself
                # takes its result when resumed (awaiting it here would be a second await).
                await asyncio.wait([waiting])
                try:
                    waiting = send.send(None)
                except StopIteration:
                    break
            assert self.backlog is not None
            while self.backlog:
                await self.websocket.send(self.backlog.popleft())
        except WebSocketDisconnect:
            self.closed = True
        finally:
            send.close()
            self.backlog = None


_pending: set[asyncio.Task[None]] = set()


class Hub:
    """group id (as the stream's `g` field: bytes) → its subscribers."""

    def __init__(self, redis_url: str, stream: str) -> None:
        self.redis_url = redis_url
        self.stream = stream
        self.groups: dict[bytes, set[Subscriber]] = {}
        self.ready = asyncio.Event()

    async def read(self) -> None:
        client: Redis = Redis.from_url(self.redis_url)
        try:
            tail = await client.xrevrange(self.stream, count=1)
            position: bytes = tail[0][0] if tail else b"0-0"
            self.ready.set()
            while True:
                replies = await client.xread({self.stream: position}, block=5000, count=1000)
                for _stream, entries in replies:
                    for entry_id, fields in entries:
                        position = entry_id
                        subscribers = self.groups.get(fields[b"g"])
                        if not subscribers:
                            continue
                        frame = '{"type":"event","event":' + fields[b"e"].decode() + "}"
                        message = {"type": "websocket.send", "text": frame}
                        # No copy of the set: it only changes in the endpoints, which cannot run
                        # during this loop (offer never waits).
                        for subscriber in subscribers:
                            subscriber.offer(message)
        finally:
            await client.aclose()

    def join(self, group: bytes, subscriber: Subscriber) -> None:
        self.groups.setdefault(group, set()).add(subscriber)

    def leave(self, group: bytes, subscriber: Subscriber) -> None:
        members = self.groups.get(group)
        if members is not None:
            members.discard(subscriber)
            if not members:
                del self.groups[group]


def _text(kind: str, **fields: Any) -> Message:
    return {"type": "websocket.send", "text": json.dumps({"type": kind, **fields})}


async def _endpoint(websocket: WebSocket) -> None:
    hub: Hub = websocket.app.state.hub
    await websocket.accept()
    me = Subscriber(websocket)
    joined: set[bytes] = set()
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            try:
                msg = json.loads(message.get("text") or message.get("bytes") or b"")
                kind = msg["type"]
                group = str(uuid.UUID(msg["group_id"])) if kind != "ping" else ""
            except (ValueError, TypeError, KeyError):
                me.offer(_text("error", code="bad_message"))
                continue
            if kind == "subscribe":
                key = group.encode()
                hub.join(key, me)
                joined.add(key)
                me.offer(_text("subscribed", group_id=group, seq=0))
            elif kind == "unsubscribe":
                hub.leave(group.encode(), me)
                joined.discard(group.encode())
                me.offer(_text("unsubscribed", group_id=group))
            elif kind == "ping":
                me.offer(_text("pong"))
            else:
                me.offer(_text("error", code="bad_message"))
    finally:
        me.closed = True
        for key in joined:
            hub.leave(key, me)


async def _readyz(request: Request) -> PlainTextResponse:
    ready = request.app.state.hub.ready.is_set()
    return PlainTextResponse("ok" if ready else "starting", 200 if ready else 503)


def _report_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the stream reader failed: no more frames", exc_info=task.exception())


def create_app() -> Starlette:
    hub = Hub(os.environ["BENCH_BARE_REDIS_URL"], os.environ["BENCH_BARE_STREAM"])

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        reader = asyncio.create_task(hub.read(), name="bare-stream-reader")
        reader.add_done_callback(_report_failure)
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 50, 100)  # as app/main.py
        try:
            yield
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    app = Starlette(
        routes=[Route("/readyz", _readyz), WebSocketRoute("/ws", _endpoint)], lifespan=lifespan
    )
    app.state.hub = hub
    return app


def main() -> None:
    """Serve under uvicorn with exactly the options `wg api` uses."""
    import uvicorn

    from app.cli import _uvicorn_options
    from app.core.config import Settings
    from app.realtime.keys import RedisKeys

    settings = Settings()
    parser = argparse.ArgumentParser(description="bare Starlette websocket fan-out baseline")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--redis-url", default=settings.effective_redis_url)
    parser.add_argument("--stream", default=RedisKeys(settings.redis_prefix).events_stream)
    args = parser.parse_args()
    os.environ["BENCH_BARE_REDIS_URL"] = args.redis_url
    os.environ["BENCH_BARE_STREAM"] = args.stream
    uvicorn.run(
        "bench.bare_realtime:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        **_uvicorn_options(settings, console_on_terminal=False),
    )


if __name__ == "__main__":
    main()
