"""Shared bench plumbing: a throwaway database, a `wg api` process, percentiles, output."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.core.config import Settings  # noqa: E402
from app.core.migrations import upgrade  # noqa: E402
from tests.pg import create_database, drop_database  # noqa: E402

WG = str(Path(sys.executable).with_name("wg"))
SECRET = "bench-secret-" + "x" * 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


class BenchDatabase:
    """A fresh PostgreSQL database, migrated, dropped afterwards."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.url = create_database(server_url, f"wg_bench_{uuid.uuid4().hex[:10]}")
        upgrade(Settings(env="test", database_url=self.url, secret_key=SECRET))

    def drop(self) -> None:
        drop_database(self.server_url, self.url)


class ApiProcess:
    """`wg api` as operators run it."""

    def __init__(self, database_url: str, redis_url: str, workers: int = 1, **env: str) -> None:
        self.port = free_port()
        self.workers = workers
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("WG_")}
        self.env.update(
            WG_DATABASE_URL=database_url,
            WG_REDIS_URL=redis_url,
            WG_SECRET_KEY=SECRET,
            WG_REDIS_PREFIX=f"wgbench{uuid.uuid4().hex[:6]}",
            WG_ARGON2_TIME_COST="1",
            WG_ARGON2_MEMORY_COST_KIB="1024",
            WG_LOG_LEVEL="warning",
            # A benchmark is one client writing as fast as it can: no rate limits.
            WG_RATE_WRITES_PER_MINUTE_CREDENTIAL="0",
            WG_RATE_WRITES_PER_MINUTE_IP="0",
            WG_RATE_SIGN_INS_PER_MINUTE_IP="0",
            **env,
        )
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> ApiProcess:
        self.proc = await asyncio.create_subprocess_exec(
            WG, "api", "--port", str(self.port), "--workers", str(self.workers),
            env=self.env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        import httpx

        async with httpx.AsyncClient() as http:
            for _ in range(300):
                try:
                    if (await http.get(self.base_url + "/readyz")).status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("wg api did not become ready")

    def rss_kib(self) -> int:
        """Resident memory of the API process (and its uvicorn workers)."""
        assert self.proc is not None
        pids = [self.proc.pid, *_children(self.proc.pid)]
        total = 0
        for pid in pids:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        return total

    async def stop(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()
        await drop_redis_keys(self.env["WG_REDIS_URL"], self.env["WG_REDIS_PREFIX"])


async def drop_redis_keys(url: str, prefix: str) -> None:
    """Remove the run's streams and queues from a Redis that outlives the benchmark."""
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def process_tree(pid: int) -> list[int]:
    """A process and its descendants."""
    out = [pid]
    path = Path(f"/proc/{pid}/task/{pid}/children")
    if path.exists():
        for child in path.read_text().split():
            out += process_tree(int(child))
    return out


def cpu_ticks(pids: list[int]) -> int:
    """CPU time (user + system) of these processes so far, in clock ticks."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine."""
    parts = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts)


def print_report(
    title: str,
    columns: list[str],
    rows: list[dict[str, Any]],
    meta: dict[str, Any],
    decimals: dict[str, int] | None = None,
) -> None:
    """A table for people, then one JSON line for machines. Floats show one decimal unless
    `decimals` names the column."""
    places = decimals or {}

    def cell(r: dict[str, Any], c: str) -> str:
        return _fmt(r.get(c), places.get(c, 1))

    print(f"\n{title}")
    widths = [max(len(c), *(len(cell(r, c)) for r in rows)) for c in columns]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    for r in rows:
        print("  ".join(cell(r, c).rjust(w) for c, w in zip(columns, widths, strict=True)))
    print(json.dumps({"benchmark": title, **meta, "results": rows}))


def _fmt(v: Any, places: int = 1) -> str:
    if isinstance(v, float):
        return f"{v:.{places}f}"
    return str(v)


def machine() -> dict[str, Any]:
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return {"cpus": os.cpu_count(), "memory_gib": round(mem_kib / 1024 / 1024, 1)}
