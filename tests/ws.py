"""A websocket test client that tracks what it received per group, like a real client would."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed


async def ws_ticket(ws_url: str, token: str) -> str:
    """A websocket ticket for `token`, from the server `ws_url` (ws://host/api/v1/ws) is on."""
    base = ws_url.replace("ws://", "http://", 1).removesuffix("/ws")
    async with httpx.AsyncClient(base_url=base) as http:
        r = await http.post("/auth/ws-ticket", headers={"Authorization": f"Bearer {token}"})
    r.raise_for_status()  # an httpx.HTTPError, like a replica that is down
    assert r.status_code == 201, r.text
    return str(r.json()["ticket"])


class WsClient:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.ws: ClientConnection | None = None
        self.messages: list[dict[str, Any]] = []
        self.events: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.closed: asyncio.Future[tuple[int | None, str]] | None = None
        self._changed = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None

    async def connect(self, *, token_in: str = "ticket") -> WsClient:
        """`ticket`: a ticket from POST /auth/ws-ticket in the URL, as browsers do; `header`:
        the Authorization header; `query`: the token itself in the URL (refused)."""
        if token_in == "ticket":
            ticket = await ws_ticket(self.url, self.token)
            self.ws = await connect(f"{self.url}?ticket={ticket}", max_size=2**22)
        elif token_in == "query":
            self.ws = await connect(f"{self.url}?token={self.token}", max_size=2**22)
        else:
            headers = {"Authorization": f"Bearer {self.token}"}
            self.ws = await connect(self.url, additional_headers=headers, max_size=2**22)
        self.closed = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.ws is not None and self.closed is not None
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                async with self._changed:
                    self.messages.append(msg)
                    if msg["type"] == "event":
                        self.events[msg["event"]["group_id"]].append(msg["event"])
                    self._changed.notify_all()
        except ConnectionClosed:
            pass
        finally:
            if not self.closed.done():
                self.closed.set_result((self.ws.close_code, self.ws.close_reason or ""))
            async with self._changed:
                self._changed.notify_all()

    async def send(self, message: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps(message))

    async def subscribe(self, group_id: str, after: int | None = None) -> None:
        msg: dict[str, Any] = {"type": "subscribe", "group_id": group_id}
        if after is not None:
            msg["after"] = after
        await self.send(msg)

    def last_seq(self, group_id: str) -> int:
        events = self.events.get(group_id)
        return events[-1]["seq"] if events else 0

    async def wait_until(
        self, predicate: Any, timeout: float = 20, *, or_closed: bool = False
    ) -> None:
        """Wait for `predicate(self)`; a close first fails, unless `or_closed`."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: predicate(self) or self.is_closed)
        if not or_closed:
            assert predicate(self), f"closed first: {self.closed and self.closed.result()}"

    async def wait_for_message(self, type_: str, timeout: float = 20) -> dict[str, Any]:
        def found(c: WsClient) -> bool:
            return any(m["type"] == type_ for m in c.messages)

        await self.wait_until(found, timeout)
        return next(m for m in self.messages if m["type"] == type_)

    async def wait_for_seq(self, group_id: str, seq: int, timeout: float = 30) -> None:
        await self.wait_until(lambda c: c.last_seq(group_id) >= seq, timeout)

    @property
    def is_closed(self) -> bool:
        return self.closed is not None and self.closed.done()

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader


def seqs(events: list[dict[str, Any]]) -> list[int]:
    return [e["seq"] for e in events]


class ResumingClient:
    """Keeps one group subscription alive across disconnects, resuming from its last seq."""

    def __init__(self, urls: list[str], token: str, group_id: str) -> None:
        self.urls = urls
        self.token = token
        self.group_id = group_id
        self.received: list[dict[str, Any]] = []
        self.reconnects = 0
        self._progress = asyncio.Condition()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        attempt = 0
        while True:
            url = self.urls[attempt % len(self.urls)]
            ws = WsClient(url, self.token)
            try:
                await ws.connect()
            except (OSError, httpx.HTTPError):
                # The replica is down (its ticket or its websocket): try the next one.
                attempt += 1
                await asyncio.sleep(0.1)
                continue
            await ws.subscribe(self.group_id, after=self.last_seq)
            seen = 0
            while not ws.is_closed:
                with contextlib.suppress(TimeoutError):
                    await ws.wait_until(
                        lambda c, n=seen: len(c.events[self.group_id]) > n, 1, or_closed=True
                    )
                new = ws.events[self.group_id][seen:]
                seen += len(new)
                async with self._progress:
                    self.received.extend(new)
                    self._progress.notify_all()
            await ws.close()
            self.reconnects += 1
            attempt += 1

    @property
    def last_seq(self) -> int:
        return self.received[-1]["seq"] if self.received else 0

    async def wait_for_seq(self, seq: int, timeout: float = 60) -> None:
        async with asyncio.timeout(timeout), self._progress:
            await self._progress.wait_for(lambda: self.last_seq >= seq)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
