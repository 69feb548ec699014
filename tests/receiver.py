"""A real HTTP receiver for webhook tests, served by uvicorn on a loopback address.

Each path can be told how to answer: fail a number of times, hang, answer 410, stream an
endless body, or redirect. Every request is recorded, and tests await requests (no polling).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str


@dataclass
class Behaviour:
    fail_times: int = 0  # answer 500 this many times first
    fail_at: tuple[int, ...] = ()  # answer 500 to these requests (counted from 1)
    status: int = 200
    hang: bool = False  # never answer (until the server stops)
    hang_times: int = 0  # never answer the first this many requests
    endless: bool = False  # stream a body that never ends
    redirect_to: str | None = None
    retry_after: str | None = None


@dataclass
class Receiver:
    host: str = "127.0.0.1"
    port: int = 0
    received: list[Received] = field(default_factory=list)
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    def url(self, path: str = "/hook") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def on(self, path: str, behaviour: Behaviour) -> str:
        self.behaviours[path] = behaviour
        return self.url(path)

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def wait_for(self, path: str, count: int, timeout: float = 30) -> list[Received]:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.at(path)) >= count)
        return self.at(path)

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        body = (await request.body()).decode()
        path = request.url.path
        async with self._changed:
            self.received.append(Received(path, dict(request.headers), body))
            self._changed.notify_all()
        b = self.behaviours.get(path, Behaviour())
        seen = len(self.at(path))
        response: Response
        if b.hang or seen <= b.hang_times:
            await asyncio.Event().wait()
        if seen <= b.fail_times or seen in b.fail_at:
            headers = {"Retry-After": b.retry_after} if b.retry_after else None
            response = JSONResponse({"error": "try later"}, status_code=500, headers=headers)
        elif b.endless:
            response = StreamingResponse(_endless())
        elif b.redirect_to:
            response = Response(status_code=302, headers={"Location": b.redirect_to})
        else:
            response = JSONResponse({"ok": True}, status_code=b.status)
        await response(scope, receive, send)

    async def start(self) -> Receiver:
        sock = socket.socket()
        sock.bind((self.host, 0))
        sock.listen(128)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, lifespan="off", log_level="warning", interface="asgi3")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        return self

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            self._server.force_exit = True
            await self._task


async def _endless() -> AsyncIterator[bytes]:
    chunk = b"x" * 16384
    while True:
        yield chunk
        await asyncio.sleep(0)
