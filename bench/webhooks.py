"""Webhook benchmark: one `wg worker` delivering to a local receiver.

    .venv/bin/python -m bench.webhooks [--endpoints 20] [--events 100] \
        [--rate 100 --seconds 30] [--profile DIR] \
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres] \
        [--redis-url redis://127.0.0.1:6379/0]

Burst (always): `--events` changes are written as fast as one client can, every one going to
each of `--endpoints` endpoints; it reports deliveries per second (first to last receipt) and
the latency of each delivery. Steady (with `--rate`): `--rate` changes a second for
`--seconds`, to as many endpoints; it reports the latency at that rate, next to the burst.

Latency is from the event's `occurred_at` to the receipt. `occurred_at` is set inside the
writing transaction, a few milliseconds before its commit, so the figure is commit→receipt
plus that (it errs on the slow side). One `wg api` takes the writes, one `wg worker`
dispatches and delivers, and the receiver (a bare ASGI app under uvicorn in this process)
answers 200 at once. The worker's CPU per delivery is its CPU time over the phase divided by
the deliveries (dispatch included). `--profile DIR` samples the worker with py-spy in each
phase (`bench/profile_summary.py` reads the results).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
import uvicorn
import uvloop

from bench.common import (
    WG,
    ApiProcess,
    BenchDatabase,
    machine,
    percentile,
    print_report,
)

COLUMNS = [
    "phase", "endpoints", "events", "deliveries", "deliveries_per_s", "p50_ms", "p99_ms",
    "max_ms", "worker_cpu_ms_per_delivery",
]  # fmt: skip


class Receiver:
    """Answers 200 at once and notes, per phase (the path's first part), each receipt."""

    def __init__(self) -> None:
        self.latencies_ms: dict[str, list[float]] = defaultdict(list)
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.expected: dict[str, int] = {}
        self.done: dict[str, asyncio.Event] = defaultdict(asyncio.Event)

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
        phase = scope["path"].split("/")[1]
        message = orjson.loads(body)
        if message["type"] != "group.updated":  # e.g. the set-up's webhook.created
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"{}"})
            return
        occurred = message["data"]["occurred_at"]
        ts = datetime.fromisoformat(occurred.replace("Z", "+00:00")).timestamp()
        self.latencies_ms[phase].append((now - ts) * 1000)
        self.first.setdefault(phase, now)
        self.last[phase] = now
        if len(self.latencies_ms[phase]) >= self.expected.get(phase, 1 << 60):
            self.done[phase].set()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


class Writer:
    """A signed-in owner with a group of `endpoints` webhooks pointing at the receiver."""

    def __init__(self, http: httpx.AsyncClient, headers: dict[str, str], group_id: str) -> None:
        self.http, self.headers, self.group_id = http, headers, group_id

    @classmethod
    async def create(
        cls, http: httpx.AsyncClient, phase: str, endpoints: int, receiver_port: int
    ) -> Writer:
        email = f"bench-{phase}-{time.time_ns()}@example.org"
        body = {"email": email, "password": "bench-password", "name": "bench"}
        (await http.post("/auth/register", json=body)).raise_for_status()
        login = {"username": email, "password": "bench-password"}
        token = (await http.post("/auth/token", data=login)).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        group = (await http.post("/groups", json={"name": phase}, headers=headers)).json()
        for i in range(endpoints):
            hook = {"url": f"http://127.0.0.1:{receiver_port}/{phase}/{i}", "event_types": ["*"]}
            r = await http.post(f"/groups/{group['id']}/webhooks", json=hook, headers=headers)
            r.raise_for_status()
        return cls(http, headers, group["id"])

    async def change(self, i: int) -> None:
        r = await self.http.patch(
            f"/groups/{self.group_id}", json={"description": f"{i}"}, headers=self.headers
        )
        r.raise_for_status()


async def _burst(writer: Writer, events: int) -> None:
    for i in range(events):
        await writer.change(i)


async def _steady(writer: Writer, rate: float, seconds: float) -> None:
    """Changes at `rate` a second, each started on its tick whether or not the last is done."""
    started = time.monotonic()
    pending: list[asyncio.Task[None]] = []
    for i in range(int(rate * seconds)):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing a load generator, not waiting for an outcome
        pending.append(asyncio.create_task(writer.change(i)))
    await asyncio.gather(*pending)


async def _phase(
    name: str,
    label: str,
    writes: Any,
    receiver: Receiver,
    worker: psutil.Process,
    *,
    endpoints: int,
    events: int,
) -> dict[str, Any]:
    receiver.expected[name] = endpoints * events
    cpu_before = sum(worker.cpu_times()[:2])
    await writes
    await asyncio.wait_for(receiver.done[name].wait(), timeout=600)
    cpu = sum(worker.cpu_times()[:2]) - cpu_before
    latencies = receiver.latencies_ms[name]
    elapsed = receiver.last[name] - receiver.first[name]
    return {
        "phase": label,
        "endpoints": endpoints,
        "events": events,
        "deliveries": len(latencies),
        "deliveries_per_s": len(latencies) / elapsed if elapsed else float("nan"),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies),
        "worker_cpu_ms_per_delivery": cpu * 1000 / len(latencies),
    }


async def _start_profiler(out_dir: str, pid: int, phase: str) -> asyncio.subprocess.Process:
    out = Path(out_dir) / f"worker-{phase}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    py_spy = str(Path(sys.executable).with_name("py-spy"))
    return await asyncio.create_subprocess_exec(
        py_spy, "record", "--nonblocking", "--format", "raw", "--rate", "200",
        "--output", str(out), "--pid", str(pid),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--endpoints", type=int, default=20)
    parser.add_argument("--events", type=int, default=100, help="changes in the burst")
    parser.add_argument("--rate", type=float, help="changes a second in a steady phase")
    parser.add_argument("--seconds", type=float, default=30, help="length of the steady phase")
    parser.add_argument("--profile", metavar="DIR", help="py-spy the worker in each phase")
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()

    receiver = Receiver()
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
    # BENCH_WORKER_LOG=info shows the worker's log (to see where time goes).
    log_level = os.environ.get("BENCH_WORKER_LOG")
    output = None if log_level else asyncio.subprocess.DEVNULL
    worker = await asyncio.create_subprocess_exec(
        WG, "worker", env={**api.env, "WG_LOG_LEVEL": log_level or "warning"},
        stdout=output, stderr=output,
    )  # fmt: skip
    rows = []
    try:
        async with httpx.AsyncClient(base_url=api.base_url + "/api/v1", timeout=60) as http:
            burst = await Writer.create(http, "burst", args.endpoints, port)
            steady = None
            if args.rate:
                steady = await Writer.create(http, "steady", args.endpoints, port)
            process = psutil.Process(worker.pid)
            profiler = None
            if args.profile:
                profiler = await _start_profiler(args.profile, process.pid, "burst")
            rows.append(
                await _phase(
                    "burst",
                    "burst",
                    _burst(burst, args.events),
                    receiver,
                    process,
                    endpoints=args.endpoints,
                    events=args.events,
                )
            )
            if profiler is not None:
                profiler.send_signal(2)  # SIGINT: py-spy writes what it sampled
                await profiler.wait()
            if steady is not None:
                if args.profile:
                    profiler = await _start_profiler(args.profile, process.pid, "steady")
                events = int(args.rate * args.seconds)
                rows.append(
                    await _phase(
                        "steady",
                        f"steady {args.rate:g}/s",
                        _steady(steady, args.rate, args.seconds),
                        receiver,
                        process,
                        endpoints=args.endpoints,
                        events=events,
                    )
                )
                if profiler is not None:
                    profiler.send_signal(2)
                    await profiler.wait()
    finally:
        worker.terminate()
        await worker.wait()
        await api.stop()
        server.should_exit = True
        await serving
        await asyncio.to_thread(db.drop)
    print_report(
        "webhook delivery (one wg worker, PostgreSQL + Redis, local receiver)",
        COLUMNS,
        rows,
        {"date": time.strftime("%Y-%m-%d"), "machine": machine(), "pid": os.getpid()},
    )


if __name__ == "__main__":
    # uvloop, as uvicorn picks it for receivers in production: under asyncio's own loop this
    # receiver answered every request on a kept-alive connection ~40 ms late (a delayed-ACK
    # stall), which capped each endpoint at ~22 deliveries a second.
    uvloop.run(main())
