"""Realtime benchmark: websocket fan-out of one `wg api` process on PostgreSQL + Redis.

    .venv/bin/python bench/realtime.py [--sizes 100,1000,5000] \
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres] \
        [--redis-url redis://127.0.0.1:6379/0]

For each number of subscribers it reports: latency from the event's `occurred_at` (set inside
the writing transaction, so a little before commit) to the frame's arrival at each client,
p50/p95/p99 over every (event, client) pair while a writer makes 5 changes a second; frames
per second delivered during a burst of writes; and the API process's memory per idle
connection (RSS growth after N subscribed, idle connections, divided by N).
The clients run in this process on the same machine: their CPU competes with the server's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import time
from datetime import datetime
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from bench.common import ApiProcess, BenchDatabase, machine, percentile, print_report

OCCURRED = re.compile(r'"occurred_at":"([^"]+)"')
SEQ = re.compile(r'"seq":(\d+)')
CONNECTIONS_PER_USER = 20
COLUMNS = ["subscribers", "p50_ms", "p95_ms", "p99_ms", "frames_per_s", "kib_per_idle_conn"]


class Subscriber:
    """A lean client: it reads frames and only pulls out the two fields it measures."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.latencies_ms: list[float] = []
        self.frames = 0
        self.last_seq = 0
        self.last_frame_at = 0.0

    async def run(self) -> None:
        with contextlib.suppress(Exception):
            async for raw in self.ws:
                now = time.time()
                text = raw if isinstance(raw, str) else raw.decode()
                if not text.startswith('{"type":"event"'):
                    continue
                self.frames += 1
                self.last_frame_at = now
                self.last_seq = int(SEQ.search(text).group(1))  # type: ignore[union-attr]
                occurred = OCCURRED.search(text).group(1)  # type: ignore[union-attr]
                ts = datetime.fromisoformat(occurred.replace("Z", "+00:00")).timestamp()
                self.latencies_ms.append((now - ts) * 1000)


async def _register(http: httpx.AsyncClient, i: int) -> str:
    email = f"bench{i}-{time.time_ns()}@example.org"
    body = {"email": email, "password": "bench-password", "name": f"bench {i}"}
    (await http.post("/api/v1/auth/register", json=body)).raise_for_status()
    login = {"username": email, "password": "bench-password"}
    r = await http.post("/api/v1/auth/token", data=login)
    r.raise_for_status()
    return str(r.json()["access_token"])


async def _connect_all(
    api: ApiProcess, tokens: list[str], group_id: str, n: int
) -> list[Subscriber]:
    url = f"ws://127.0.0.1:{api.port}/api/v1/ws"
    subs: list[Subscriber] = []
    sem = asyncio.Semaphore(100)

    async def one(i: int) -> Subscriber:
        async with sem:
            token = tokens[i // CONNECTIONS_PER_USER]
            ws = await connect(f"{url}?token={token}", compression=None, open_timeout=60)
            await ws.send(json.dumps({"type": "subscribe", "group_id": group_id}))
            reply = json.loads(await ws.recv())
            assert reply["type"] == "subscribed", reply
            return Subscriber(ws)

    subs = list(await asyncio.gather(*(one(i) for i in range(n))))
    return subs


async def _write(http: httpx.AsyncClient, headers: dict[str, str], group_id: str, i: int) -> int:
    r = await http.patch(
        f"/api/v1/groups/{group_id}", json={"description": f"change {i}"}, headers=headers
    )
    r.raise_for_status()
    return int(r.json()["last_seq"])


async def _wait_delivered(subs: list[Subscriber], seq: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while any(s.last_seq < seq for s in subs):
        if time.monotonic() > deadline:
            behind = [s for s in subs if s.last_seq < seq]
            codes = {s.ws.close_code for s in behind}
            lasts = sorted({s.last_seq for s in behind})[:10]
            raise RuntimeError(
                f"{len(behind)} subscribers did not receive seq {seq}: close codes {codes}, "
                f"last seqs {lasts}"
            )
        await asyncio.sleep(0.05)


async def run_size(api: ApiProcess, n: int, paced: int, burst: int) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=api.base_url, timeout=60) as http:
        owner = await _register(http, 0)
        headers = {"Authorization": f"Bearer {owner}"}
        r = await http.post("/api/v1/groups", json={"name": f"bench {n}"}, headers=headers)
        r.raise_for_status()
        group = r.json()
        users = (n + CONNECTIONS_PER_USER - 1) // CONNECTIONS_PER_USER
        tokens = [await _register(http, i + 1) for i in range(users)]
        members_url = f"/api/v1/groups/{group['id']}/members"
        for t in tokens:  # everyone joins the (private) group as an observer
            me = await http.get("/api/v1/users/me", headers={"Authorization": f"Bearer {t}"})
            body = {"user_id": me.json()["id"], "role": "observer"}
            (await http.post(members_url, json=body, headers=headers)).raise_for_status()

        rss_before = api.rss_kib()
        subs = await _connect_all(api, tokens, group["id"], n)
        readers = [asyncio.create_task(s.run()) for s in subs]
        await asyncio.sleep(2)  # let the server settle before reading its memory
        rss_idle = api.rss_kib()

        seq = 0
        for i in range(paced):  # latency: a steady trickle of changes
            seq = await _write(http, headers, group["id"], i)
            await asyncio.sleep(0.2)
        await _wait_delivered(subs, seq)
        latencies = [x for s in subs for x in s.latencies_ms]

        frames_before = sum(s.frames for s in subs)
        start = time.time()
        writes = [
            asyncio.create_task(_write(http, headers, group["id"], paced + i)) for i in range(burst)
        ]
        seq = max(await asyncio.gather(*writes))
        await _wait_delivered(subs, seq)
        elapsed = max(s.last_frame_at for s in subs) - start
        frames = sum(s.frames for s in subs) - frames_before

        for s in subs:
            await s.ws.close()
        for t in readers:
            t.cancel()
        return {
            "subscribers": n,
            "p50_ms": percentile(latencies, 50),
            "p95_ms": percentile(latencies, 95),
            "p99_ms": percentile(latencies, 99),
            "frames_per_s": frames / elapsed if elapsed > 0 else float("nan"),
            "kib_per_idle_conn": (rss_idle - rss_before) / n,
            "samples": len(latencies),
        }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--paced-writes", type=int, default=50)
    parser.add_argument("--burst-writes", type=int, default=100)
    args = parser.parse_args()

    db = await asyncio.to_thread(BenchDatabase, args.database_url)
    rows = []
    try:
        for n in [int(x) for x in args.sizes.split(",")]:
            api = await ApiProcess(db.url, args.redis_url).start()
            try:
                rows.append(await run_size(api, n, args.paced_writes, args.burst_writes))
            finally:
                await api.stop()
    finally:
        await asyncio.to_thread(db.drop)
    print_report(
        "realtime fan-out (one wg api process, PostgreSQL + Redis)",
        COLUMNS,
        rows,
        {"date": time.strftime("%Y-%m-%d"), "machine": machine()},
    )


if __name__ == "__main__":
    asyncio.run(main())
