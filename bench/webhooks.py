"""Webhook benchmark: deliveries per second by one `wg worker` to a local receiver, and
latency from the event's `occurred_at` (inside the writing transaction) to its receipt.

    .venv/bin/python -m bench.webhooks [--endpoints 20] [--events 100] \
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres] \
        [--redis-url redis://127.0.0.1:6379/0]

One `wg api` takes the writes, one `wg worker` dispatches and delivers, and the receiver (a
bare ASGI app under uvicorn in this process) answers 200 at once. Every endpoint subscribes to
every event, so the run makes endpoints x events deliveries.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import time
from datetime import datetime
from typing import Any

import httpx
import uvicorn

from bench.common import (
    WG,
    ApiProcess,
    BenchDatabase,
    machine,
    percentile,
    print_report,
)


class Receiver:
    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.first: float | None = None
        self.last = 0.0
        self.done = asyncio.Event()
        self.expected = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        now = time.time()
        occurred = json.loads(body)["data"]["occurred_at"]
        ts = datetime.fromisoformat(occurred.replace("Z", "+00:00")).timestamp()
        self.latencies_ms.append((now - ts) * 1000)
        self.first = self.first or now
        self.last = now
        if len(self.latencies_ms) >= self.expected:
            self.done.set()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--endpoints", type=int, default=20)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()

    receiver = Receiver()
    receiver.expected = args.endpoints * args.events
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(receiver, lifespan="off", log_level="warning", access_log=False)
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))

    db = await asyncio.to_thread(BenchDatabase, args.database_url)
    extra = {"WG_WEBHOOK_ALLOWED_HOSTS": '["127.0.0.1"]'}
    api = await ApiProcess(db.url, args.redis_url, **extra).start()
    # BENCH_WORKER_LOG=info shows the worker's job log (to see where time goes).
    log_level = os.environ.get("BENCH_WORKER_LOG")
    output = None if log_level else asyncio.subprocess.DEVNULL
    worker = await asyncio.create_subprocess_exec(
        WG, "worker", env={**api.env, "WG_LOG_LEVEL": log_level or "warning"},
        stdout=output, stderr=output,
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=api.base_url + "/api/v1", timeout=60) as http:
            email = f"bench-{time.time_ns()}@example.org"
            body = {"email": email, "password": "bench-password", "name": "bench"}
            (await http.post("/auth/register", json=body)).raise_for_status()
            login = {"username": email, "password": "bench-password"}
            token = (await http.post("/auth/token", data=login)).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            group = (await http.post("/groups", json={"name": "bench"}, headers=headers)).json()
            for i in range(args.endpoints):
                hook = {"url": f"http://127.0.0.1:{port}/hook/{i}", "event_types": ["*"]}
                r = await http.post(f"/groups/{group['id']}/webhooks", json=hook, headers=headers)
                r.raise_for_status()
            start = time.time()
            for i in range(args.events):
                r = await http.patch(
                    f"/groups/{group['id']}", json={"description": f"{i}"}, headers=headers
                )
                r.raise_for_status()
            await asyncio.wait_for(receiver.done.wait(), timeout=600)
        elapsed = receiver.last - (receiver.first or start)
        rows = [
            {
                "endpoints": args.endpoints,
                "deliveries": len(receiver.latencies_ms),
                "deliveries_per_s": len(receiver.latencies_ms) / elapsed if elapsed else 0.0,
                "p50_ms": percentile(receiver.latencies_ms, 50),
                "p99_ms": percentile(receiver.latencies_ms, 99),
            }
        ]
    finally:
        worker.terminate()
        await worker.wait()
        await api.stop()
        server.should_exit = True
        await serving
        await asyncio.to_thread(db.drop)
    print_report(
        "webhook delivery (one wg worker, PostgreSQL + Redis, local receiver)",
        ["endpoints", "deliveries", "deliveries_per_s", "p50_ms", "p99_ms"],
        rows,
        {"date": time.strftime("%Y-%m-%d"), "machine": machine(), "pid": os.getpid()},
    )


if __name__ == "__main__":
    asyncio.run(main())
