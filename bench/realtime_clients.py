"""The websocket clients of `bench/realtime.py`, in a process of their own.

    .venv/bin/python -m bench.realtime_clients

Driven over stdin and stdout, one JSON object a line each way (an answer per command; an answer
with `error` means the command failed):

- `{"cmd": "connect", "host", "port", "path", "tokens", "group_id", "n", "per_token"}`: open
  `n` websockets to `path` with `Authorization: Bearer <token>` (`per_token` connections share
  each token; a credential in the URL is refused, and tickets are single-use), subscribe each
  to the group and wait for its answer → `{"connected": n, "seconds": …}`.
- `{"cmd": "start"}`: a measured phase begins now: frame counts, latencies, CPU and wall clock
  start from zero → `{"ok": true}`.
- `{"cmd": "wait", "seq": S, "timeout": s}`: once every client has received the event `S` →
  the phase's figures: `frames`, `p50_ms`/`p95_ms`/`p99_ms` (from each event's `occurred_at` to
  its frame's arrival, over every frame of the phase) and `samples`, `elapsed_s` (start to the
  last frame), `frames_per_s`, `cpu_s`, `wall_s` and `cpu_pct` (this process's CPU from the
  start to the last delivery, over the same wall time), `gaps` and `duplicates` (frames whose
  `seq` skipped or repeated one).
- `{"cmd": "close"}`: close every connection (close frame, then wait for the server's) and exit.

The clients are lean on purpose, since they share the machine's cores with the server: each is
an asyncio protocol (on uvloop) speaking just enough RFC 6455 for this — the upgrade request
(the server's `Sec-WebSocket-Accept` is not checked), masked text frames out, unmasked frames in
(text, ping answered with pong, close), no extensions. A frame is parsed only as far as its
`seq`; `occurred_at` is parsed once per event, not per frame (one group per run). The arrival
time is taken once per read from the socket.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import os
import re
import sys
import time
from datetime import datetime
from typing import Any, cast

EVENT = b'{"type":"event"'
SEQ = re.compile(rb'"seq":(\d+)')
OCCURRED = re.compile(rb'"occurred_at":"([^"]+)"')
OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA


def percentile(values: list[float], p: float) -> float:
    """The same definition as bench.common.percentile (not imported: that module loads the app,
    which has no business in this process)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked, unfragmented frame (clients must mask)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 1 << 16:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    masked = (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big") if n else b""
    return head + mask + masked


class Run:
    """Every client of the process and the figures of the current phase."""

    def __init__(self) -> None:
        self.clients: list[Client] = []
        self.occurred: dict[int, float] = {}  # seq → occurred_at as a timestamp
        self.start()
        self.target = 0
        self.behind = 0
        self.delivered = asyncio.Event()

    def start(self) -> None:
        self.frames = 0
        self.gaps = 0
        self.duplicates = 0
        self.latencies_ms: list[float] = []
        self.last_frame_at = 0.0
        self.done_at = 0.0
        self.cpu_done = 0.0
        self.started_at = time.time()
        self.cpu_start = time.process_time()

    def event(self, client: Client, payload: bytes, now: float) -> None:
        found = SEQ.search(payload)
        if found is None:
            return
        seq = int(found.group(1))
        last = client.last_seq
        if seq <= last:
            self.duplicates += 1
            return
        if last and seq != last + 1:
            self.gaps += 1
        client.last_seq = seq
        self.frames += 1
        self.last_frame_at = now
        ts = self.occurred.get(seq)
        if ts is None:
            occurred = OCCURRED.search(payload)
            assert occurred is not None, payload[:200]
            text = occurred.group(1).decode().replace("Z", "+00:00")
            ts = self.occurred[seq] = datetime.fromisoformat(text).timestamp()
        self.latencies_ms.append((now - ts) * 1000)
        if last < self.target <= seq:
            self.behind -= 1
            if not self.behind:
                self.done_at = now
                self.cpu_done = time.process_time()
                self.delivered.set()

    async def wait(self, seq: int, timeout: float) -> dict[str, Any]:
        self.target = seq
        self.delivered = asyncio.Event()
        self.behind = sum(1 for c in self.clients if c.last_seq < seq)
        if not self.behind:
            self.done_at, self.cpu_done = time.time(), time.process_time()
            self.delivered.set()
        try:
            async with asyncio.timeout(timeout):
                await self.delivered.wait()
        except TimeoutError:
            behind = [c for c in self.clients if c.last_seq < seq]
            codes = sorted({str(c.close_code) for c in behind})
            lasts = sorted({c.last_seq for c in behind})[:10]
            return {
                "error": f"{len(behind)} clients did not receive seq {seq} in {timeout} s: "
                f"close codes {codes}, last seqs {lasts}"
            }
        wall = self.done_at - self.started_at
        cpu = self.cpu_done - self.cpu_start
        elapsed = self.last_frame_at - self.started_at if self.frames else 0.0
        lat = self.latencies_ms
        return {
            "frames": self.frames,
            "samples": len(lat),
            "p50_ms": percentile(lat, 50),
            "p95_ms": percentile(lat, 95),
            "p99_ms": percentile(lat, 99),
            "elapsed_s": elapsed,
            "frames_per_s": self.frames / elapsed if elapsed > 0 else float("nan"),
            "cpu_s": cpu,
            "wall_s": wall,
            "cpu_pct": 100 * cpu / wall if wall > 0 else float("nan"),
            "gaps": self.gaps,
            "duplicates": self.duplicates,
        }


class Client(asyncio.Protocol):
    def __init__(self, run: Run, request: bytes) -> None:
        loop = asyncio.get_running_loop()
        self.run = run
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.upgraded = False
        self.last_seq = 0
        self.close_code: int | None = None
        self.opened: asyncio.Future[None] = loop.create_future()
        self.reply: asyncio.Future[bytes] = loop.create_future()  # the first non-event frame
        self.lost: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        for fut in (self.opened, self.reply):
            if not fut.done():
                fut.set_exception(ConnectionError(f"connection lost (close {self.close_code})"))
        if not self.lost.done():
            self.lost.set_result(None)

    def send(self, opcode: int, payload: bytes) -> None:
        assert self.transport is not None
        self.transport.write(client_frame(opcode, payload))

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buf = self.buffer + data if self.buffer else data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buf
                return
            status = buf[: buf.find(b"\r\n")]
            if not status.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(ConnectionError(status.decode(errors="replace")))
                assert self.transport is not None
                self.transport.close()
                return
            self.upgraded = True
            self.opened.set_result(None)
            buf = buf[end + 4 :]
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            if b1 & 0x80:
                raise ValueError("the server masked a frame")
            length, head = b1 & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            end = pos + head + length
            if end > size:
                break
            if not b0 & 0x80:
                raise ValueError("fragmented frames are not expected")
            self.frame(b0 & 0x0F, buf[pos + head : end], now)
            pos = end
        self.buffer = buf[pos:] if pos < size else b""

    def frame(self, opcode: int, payload: bytes, now: float) -> None:
        if opcode == OP_TEXT:
            if payload.startswith(EVENT):
                self.run.event(self, payload, now)
            elif not self.reply.done():
                self.reply.set_result(payload)
        elif opcode == OP_PING:
            self.send(OP_PONG, payload)
        elif opcode == OP_CLOSE:
            first = self.close_code is None
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            if first:
                self.send(OP_CLOSE, payload[:2])  # echo: the closing handshake
            assert self.transport is not None
            self.transport.close()


async def connect(run: Run, spec: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    host, port, path = spec["host"], spec["port"], spec["path"]
    subscribe = json.dumps({"type": "subscribe", "group_id": spec["group_id"]}).encode()
    sem = asyncio.Semaphore(spec.get("concurrency", 100))
    started = time.perf_counter()

    async def one(i: int) -> Client:
        token = spec["tokens"][i // spec["per_token"]]
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        async with sem, asyncio.timeout(60):
            _, client = await loop.create_connection(lambda: Client(run, request), host, port)
            await client.opened
            client.send(OP_TEXT, subscribe)
            reply = json.loads(await client.reply)
            if reply.get("type") != "subscribed":
                raise RuntimeError(f"subscribe answered {reply}")
            client.last_seq = int(reply.get("seq") or 0)
            return client

    run.clients += await asyncio.gather(*(one(i) for i in range(spec["n"])))
    # What is connected lives until the end: keep it out of the collector's passes.
    gc.collect()
    gc.freeze()
    return {"connected": len(run.clients), "seconds": time.perf_counter() - started}


async def close(run: Run) -> dict[str, Any]:
    for c in run.clients:
        if c.transport is not None and not c.transport.is_closing():
            c.close_code = 1000
            c.send(OP_CLOSE, (1000).to_bytes(2, "big"))
    lost = [c.lost for c in run.clients]
    done, pending = await asyncio.wait(lost, timeout=30) if lost else (set(), set())
    for c in run.clients:
        if c.transport is not None and not c.lost.done():
            c.transport.abort()
    return {"closed": len(done), "aborted": len(pending)}


async def serve() -> None:
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader(limit=1 << 26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    run = Run()
    while line := await stdin.readline():
        cmd = json.loads(line)
        try:
            if cmd["cmd"] == "connect":
                answer = await connect(run, cmd)
            elif cmd["cmd"] == "start":
                run.start()
                answer = {"ok": True}
            elif cmd["cmd"] == "wait":
                answer = await run.wait(cmd["seq"], cmd.get("timeout", 120))
            elif cmd["cmd"] == "close":
                answer = await close(run)
            else:
                answer = {"error": f"unknown command {cmd['cmd']!r}"}
        except Exception as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
        if cmd["cmd"] == "close":
            return


def main() -> None:
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve())


if __name__ == "__main__":
    main()
