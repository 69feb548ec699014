"""Realtime benchmark: websocket fan-out of one `wg api` process next to a bare baseline.

    .venv/bin/python -m bench.realtime [--sizes 100,1000,5000] [--paced-writes 50] \
        [--burst-writes 100] [--settle 2] \
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres] \
        [--redis-url redis://127.0.0.1:6379/0]

For each number of subscribers N: one `wg api` process on a fresh database, a group, N/20
users who are its observers (ours allows 20 connections per user and process), and two phases
with the same N clients and the same writes:

- ours: the clients connect to `wg api`'s `/api/v1/ws`;
- bare: they connect to bench/bare_realtime.py, a bare Starlette app under uvicorn with `wg
  api`'s uvicorn options, which reads the same Redis stream as `wg api`'s hub and sends the same
  frames (its docstring says what it leaves out).

In both phases every write goes through `wg api` (a PATCH of the group's description: one
`group.updated` event), so each event takes the same path — transaction, outbox relay, XADD —
before either server reads it; during the bare phase `wg api` handles the writes and publishes
with no subscriber of its own. Per phase:

- latency from each event's `occurred_at` (set inside the writing transaction, so a little
  before commit) to its frame's arrival at each client: p50/p95/p99 over every (event, client)
  pair while a writer makes `--paced-writes` changes, 5 a second;
- frames per second delivered during a burst of `--burst-writes` concurrent writes (from the
  burst's start to the last frame);
- KiB per idle connection: the server process's RSS growth from before the clients connect
  to `--settle` seconds after all N are connected and subscribed, divided by N;
- server CPU per frame delivered during the burst, in µs (from /proc, the figure least moved by
  other load on the machine): for the baseline its process's CPU; for ours `wg api`'s CPU
  during its burst minus its CPU during the bare phase's burst (the same writes, nothing to
  fan out), so both are the cost of the fan-out alone;
- the client process's CPU share (its CPU seconds over the wall seconds from the phase's start
  to the last delivery): the clients share the machine's cores with the servers, PostgreSQL
  and Redis, and near 100 % they, not the server, bound frames per second.

The clients are bench/realtime_clients.py in a process of their own. Printed: one row per N
with ours and bare side by side, the ratios ours/bare of p99 and of KiB per connection (above
1: ours costs more), and the highest client CPU share of the row's four measured phases; then
one JSON line with every phase's figures. Progress goes to stderr. One caveat: during the bare
phase the writes are handled by another process than the fan-out, while ours does both on
one event loop (hence the CPU per frame above).
Set BENCH_SERVER_LOG=1 to see the servers' output.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from itertools import count
from typing import Any

import httpx

from bench.common import (
    ROOT,
    ApiProcess,
    BenchDatabase,
    cpu_ticks,
    machine,
    machine_ticks,
    print_report,
    process_tree,
)

CONNECTIONS_PER_USER = 20  # ours' ws_max_connections_per_user
PACED_INTERVAL = 0.2  # 5 writes a second
COLUMNS = [
    "subscribers", "ours_p50_ms", "bare_p50_ms", "ours_p95_ms", "bare_p95_ms", "ours_p99_ms",
    "bare_p99_ms", "p99_ratio", "ours_frames_s", "bare_frames_s", "ours_kib_conn",
    "bare_kib_conn", "kib_ratio", "ours_cpu_us_frame", "bare_cpu_us_frame", "client_cpu_pct",
]  # fmt: skip


def _server_output() -> int | None:
    return None if os.environ.get("BENCH_SERVER_LOG") else asyncio.subprocess.DEVNULL


class OurApi(ApiProcess):
    """`wg api`, with its output shown when BENCH_SERVER_LOG is set."""

    ws_path = "/api/v1/ws"

    async def start(self) -> OurApi:
        from bench.common import WG

        out = _server_output()
        self.proc = await asyncio.create_subprocess_exec(
            WG, "api", "--port", str(self.port), env=self.env, stdout=out, stderr=out,
        )  # fmt: skip
        await _wait_ready(self)
        return self


class BareRealtime(ApiProcess):
    """bench/bare_realtime.py reading the stream `ours` publishes to (same env, same prefix)."""

    ws_path = "/ws"

    def __init__(self, ours: ApiProcess) -> None:
        super().__init__(ours.env["WG_DATABASE_URL"], ours.env["WG_REDIS_URL"])
        self.env = dict(ours.env)

    async def start(self) -> BareRealtime:
        out = _server_output()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.bare_realtime", "--port", str(self.port),
            env=self.env, cwd=str(ROOT), stdout=out, stderr=out,
        )  # fmt: skip
        await _wait_ready(self)
        return self

    async def stop(self) -> None:
        """Stop the process only: the Redis keys are ours', dropped when ours stops."""
        if self.proc and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()


async def _wait_ready(server: ApiProcess) -> None:
    """Until the server answers /readyz; a server that never does is stopped, not left behind."""
    try:
        await _poll_ready(server)
    except BaseException:
        await server.stop()
        raise


async def _poll_ready(server: ApiProcess) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            assert server.proc is not None
            if server.proc.returncode is not None:
                raise RuntimeError(f"server exited with {server.proc.returncode}")
            try:
                if (await http.get(server.base_url + "/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("server did not become ready")


class Clients:
    """bench/realtime_clients.py: the websocket clients, in a process of their own."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls) -> Clients:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.realtime_clients", cwd=str(ROOT),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return cls(proc)

    async def ask(self, cmd: str, **args: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
        await self.proc.stdin.drain()
        line = await self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the client process exited ({await self.proc.wait()})")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"clients, {cmd}: {answer['error']}")
        return answer

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


class Setup:
    """The group, its observers' tokens, and a writer (the group's owner) through `wg api`."""

    def __init__(self, http: httpx.AsyncClient, owner: str, group_id: str, tokens: list[str]):
        self.http = http
        self.headers = {"Authorization": f"Bearer {owner}"}
        self.group_id = group_id
        self.tokens = tokens
        self.changes = count()

    async def write(self) -> int:
        """One change (always a new description, so always an event); the group's last seq."""
        body = {"description": f"change {next(self.changes)}"}
        r = await self.http.patch(
            f"/api/v1/groups/{self.group_id}", json=body, headers=self.headers
        )
        r.raise_for_status()
        return int(r.json()["last_seq"])


async def _register(http: httpx.AsyncClient, i: int) -> str:
    email = f"bench{i}-{time.time_ns()}@example.org"
    body = {"email": email, "password": "bench-password", "name": f"bench {i}"}
    (await http.post("/api/v1/auth/register", json=body)).raise_for_status()
    login = {"username": email, "password": "bench-password"}
    r = await http.post("/api/v1/auth/token", data=login)
    r.raise_for_status()
    return str(r.json()["access_token"])


async def setup(http: httpx.AsyncClient, n: int) -> Setup:
    owner = await _register(http, 0)
    headers = {"Authorization": f"Bearer {owner}"}
    r = await http.post("/api/v1/groups", json={"name": f"bench {n}"}, headers=headers)
    r.raise_for_status()
    group_id = str(r.json()["id"])
    users = (n + CONNECTIONS_PER_USER - 1) // CONNECTIONS_PER_USER
    tokens = [await _register(http, i + 1) for i in range(users)]
    members_url = f"/api/v1/groups/{group_id}/members"
    for t in tokens:  # everyone joins the (private) group as an observer
        me = await http.get("/api/v1/users/me", headers={"Authorization": f"Bearer {t}"})
        body = {"user_id": me.json()["id"], "role": "observer"}
        (await http.post(members_url, json=body, headers=headers)).raise_for_status()
    return Setup(http, owner, group_id, tokens)


class Window:
    """CPU of the servers and of the machine over a measured phase."""

    def __init__(self, servers: dict[str, ApiProcess]) -> None:
        self.pids = {name: process_tree(s.proc.pid) for name, s in servers.items() if s.proc}
        self.cpu0 = {name: cpu_ticks(pids) for name, pids in self.pids.items()}
        self.machine0 = machine_ticks()

    def close(self) -> dict[str, float]:
        hz = os.sysconf("SC_CLK_TCK")
        machine1 = machine_ticks()
        out = {
            f"{name}_cpu_s": (cpu_ticks(pids) - self.cpu0[name]) / hz
            for name, pids in self.pids.items()
        }
        busy, total = machine1[0] - self.machine0[0], machine1[1] - self.machine0[1]
        out["machine_busy_pct"] = 100 * busy / max(1, total)
        return out


async def run_phase(
    kind: str,
    server: OurApi | BareRealtime,
    ours: OurApi,
    s: Setup,
    n: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    servers: dict[str, ApiProcess] = (
        {"ours": ours} if kind == "ours" else {"ours": ours, "bare": server}
    )
    clients = await Clients.start()
    try:
        rss_before = server.rss_kib()
        connected = await clients.ask(
            "connect", host="127.0.0.1", port=server.port, path=server.ws_path,
            tokens=s.tokens, per_token=CONNECTIONS_PER_USER, group_id=s.group_id, n=n,
        )  # fmt: skip
        await asyncio.sleep(args.settle)  # let the server settle before reading its memory
        rss_idle = server.rss_kib()

        # Latency: a steady trickle of changes, 5 a second.
        await clients.ask("start")
        window = Window(servers)
        first = last = 0
        loop = asyncio.get_running_loop()
        begin = loop.time()
        for i in range(args.paced_writes):
            await asyncio.sleep(max(0.0, begin + i * PACED_INTERVAL - loop.time()))
            last = await s.write()
            first = first or last
        paced = await clients.ask("wait", seq=last)
        paced.update(window.close(), events=last - first + 1)

        # Throughput: a burst of concurrent changes.
        await clients.ask("start")
        window = Window(servers)
        seqs = await asyncio.gather(*(s.write() for _ in range(args.burst_writes)))
        burst = await clients.ask("wait", seq=max(seqs))
        burst.update(window.close(), events=max(seqs) - last)
        await clients.ask("close")
    finally:
        await clients.stop()

    for name, phase in (("paced", paced), ("burst", burst)):
        missing = n * phase["events"] - phase["frames"]
        print(
            f"  {kind:4} {n:6} subscribers {name}: {phase['frames']:7} frames "
            f"({missing} missing, {phase['gaps']} gaps, {phase['duplicates']} duplicates)  "
            f"p50 {phase['p50_ms']:7.1f} ms  p99 {phase['p99_ms']:7.1f} ms  "
            f"{phase['frames_per_s']:8.0f} frames/s  client cpu {phase['cpu_pct']:3.0f}%  "
            f"machine {phase['machine_busy_pct']:3.0f}%",
            file=sys.stderr,
            flush=True,
        )
    return {
        "connect_s": connected["seconds"],
        "rss_before_kib": rss_before,
        "rss_idle_kib": rss_idle,
        "kib_per_idle_conn": (rss_idle - rss_before) / n,
        "paced": paced,
        "burst": burst,
    }


async def run_size(db: BenchDatabase, n: int, args: argparse.Namespace) -> dict[str, Any]:
    ours = await OurApi(db.url, args.redis_url).start()
    try:
        async with httpx.AsyncClient(base_url=ours.base_url, timeout=60) as http:
            s = await setup(http, n)
            results = {"ours": await run_phase("ours", ours, ours, s, n, args)}
            bare = await BareRealtime(ours).start()
            try:
                results["bare"] = await run_phase("bare", bare, ours, s, n, args)
            finally:
                await bare.stop()
    finally:
        await ours.stop()
    return _row(n, results["ours"], results["bare"])


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def _row(n: int, ours: dict[str, Any], bare: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"subscribers": n}
    for name, res in (("ours", ours), ("bare", bare)):
        for p in ("p50_ms", "p95_ms", "p99_ms"):
            row[f"{name}_{p}"] = res["paced"][p]
        row[f"{name}_frames_s"] = res["burst"]["frames_per_s"]
        row[f"{name}_kib_conn"] = res["kib_per_idle_conn"]
    # The fan-out's CPU: ours' burst minus the same writes without subscribers (bare phase).
    ours_fanout = ours["burst"]["ours_cpu_s"] - bare["burst"]["ours_cpu_s"]
    row["ours_cpu_us_frame"] = 1e6 * ours_fanout / max(1, ours["burst"]["frames"])
    row["bare_cpu_us_frame"] = 1e6 * bare["burst"]["bare_cpu_s"] / max(1, bare["burst"]["frames"])
    row["p99_ratio"] = _ratio(row["ours_p99_ms"], row["bare_p99_ms"])
    row["kib_ratio"] = _ratio(row["ours_kib_conn"], row["bare_kib_conn"])
    row["client_cpu_pct"] = max(
        res[phase]["cpu_pct"] for res in (ours, bare) for phase in ("paced", "burst")
    )
    row["ours"], row["bare"] = ours, bare
    return row


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument("--paced-writes", type=int, default=50)
    parser.add_argument("--burst-writes", type=int, default=100)
    parser.add_argument("--settle", type=float, default=2.0, help="seconds before reading RSS")
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()

    db = await asyncio.to_thread(BenchDatabase, args.database_url)
    rows = []
    try:
        for n in [int(x) for x in args.sizes.split(",")]:
            rows.append(await run_size(db, n, args))
    finally:
        await asyncio.to_thread(db.drop)
    print_report(
        "realtime fan-out (one wg api process vs bare Starlette, PostgreSQL + Redis)",
        COLUMNS,
        rows,
        {
            "date": time.strftime("%Y-%m-%d"),
            "machine": machine(),
            "paced_writes": args.paced_writes,
            "paced_per_s": 1 / PACED_INTERVAL,
            "burst_writes": args.burst_writes,
            "settle_s": args.settle,
        },
        decimals={"p99_ratio": 2, "kib_ratio": 2, "ours_frames_s": 0, "bare_frames_s": 0},
    )


if __name__ == "__main__":
    asyncio.run(main())
