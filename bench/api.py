"""API load benchmark: create, list and PATCH action items with many concurrent clients, against
`wg api` and against a bare FastAPI + asyncpg baseline (bench/bare_app.py) doing the same SQL.

    .venv/bin/python -m bench.api [--clients 50] [--duration 10] [--warmup 3] [--workers 1,2] \
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres] \
        [--redis-url redis://127.0.0.1:6379/0]

For every worker count, each server (ours, then the baseline) gets a fresh database seeded the
same way: `--groups` private groups, each with `--list-items` items; `--clients` users, each a
`member` of one group (round robin) with an API key and `--patch-items` items of their own.
Then three phases, each a warm-up followed by `--duration` measured seconds, every client
sending one request at a time on its own keep-alive connection:

- list:   `GET /groups/{its group}/action-items?limit=--page-size` (the first page; the groups
          hold the same rows for both servers, since this phase runs first);
- patch:  `PATCH /action-items/{one of its items}` `{"progress": n}` with `If-Match` (the
          ETag of its previous answer), cycling through its items;
- create: `POST /groups/{its group}/action-items` `{"title": …, "priority": "high"}` — a
          member's item is their own, so each records `action_item.created` and
          `action_item.assigned`.

Reported per phase and server: requests per second, p50/p99 latency (requests completed in
the window), server CPU milliseconds per request (all the server's processes, from /proc: the
figure least disturbed by other load on the machine), and the ratio ours/bare of requests per
second. `wg api` runs as operators run it (bench.common.ApiProcess: rate limits are switched
on here with limits far above what the run reaches, so their Redis leases are taken — one
round trip per bucket and second, see app/core/ratelimit.py; `--no-rate-limits` switches them
off); no `Idempotency-Key` is sent.

The load generator is a lean HTTP/1.1 client (asyncio streams on uvloop, hand-built requests,
only the status line, Content-Length and ETag parsed) running in a separate process, so the
orchestrator's work never stalls it; its CPU use is reported (`client_cpu_pct`) because it
shares the machine's cores with the servers and PostgreSQL. Uvicorn's workers share one
listening socket, so with 2 workers the kernel decides how the connections are split.
Set BENCH_SERVER_LOG=1 to see the servers' output.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from bench.common import (
    ROOT,
    SECRET,
    ApiProcess,
    BenchDatabase,
    cpu_ticks,
    machine,
    machine_ticks,
    percentile,
    print_report,
    process_tree,
)

OPS = ("list", "patch", "create")
ITEM_KEYS = {
    "id", "group_id", "title", "description", "owner_id", "due_date", "priority", "status",
    "progress", "completed_at", "focus_area_id", "proposal_id", "meeting_id", "decision_id",
    "created_by", "created_at", "updated_at", "overdue",
}  # fmt: skip
COLUMNS = [
    "workers", "op", "ours_req_s", "bare_req_s", "ratio", "ours_p50_ms", "bare_p50_ms",
    "ours_p99_ms", "bare_p99_ms", "ours_cpu_ms", "bare_cpu_ms",
]  # fmt: skip


# --- the dataset ------------------------------------------------------------------------------


@dataclass
class Client:
    key: str
    group_id: str
    # [id, version, progress] of the items this client PATCHes (its own).
    items: list[list[Any]] = field(default_factory=list)


@dataclass
class Dataset:
    owner_key: str
    group_ids: list[str]
    clients: list[Client]


async def seed(url: str, args: argparse.Namespace) -> Dataset:
    """Users, keys, groups, memberships and items, inserted in bulk (no events)."""
    from sqlalchemy import insert

    from app.core.config import Settings
    from app.core.db import create_engine
    from app.core.security import generate_api_key, hash_token
    from app.models import ActionItem, ApiKey, Group, Membership, User
    from app.models.base import table_of

    engine = create_engine(Settings(env="test", database_url=url, secret_key=SECRET))
    base = datetime.now(UTC) - timedelta(days=1)
    tick = iter(range(10**9))
    users: list[dict[str, Any]] = []
    keys: list[dict[str, Any]] = []
    memberships: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []

    def user_with_key(name: str) -> tuple[uuid.UUID, str]:
        user_id, key = uuid.uuid4(), generate_api_key()
        users.append(
            {"id": user_id, "email": f"{name}@bench.example.org", "name": name,
             "password_hash": "!", "is_admin": False, "is_active": True, "locale": "en",
             "created_at": base, "version": 1}
        )  # fmt: skip
        keys.append(
            {"id": uuid.uuid4(), "user_id": user_id, "name": "bench", "prefix": key[:10],
             "key_hash": hash_token(key), "created_at": base, "scopes": ["read", "write"]}
        )  # fmt: skip
        return user_id, key

    def member(group_id: uuid.UUID, user_id: uuid.UUID, role: str) -> None:
        memberships.append(
            {"id": uuid.uuid4(), "group_id": group_id, "user_id": user_id, "role": role,
             "created_at": base, "updated_at": base, "version": 1}
        )  # fmt: skip

    def item(group_id: uuid.UUID, owner_id: uuid.UUID, title: str) -> uuid.UUID:
        at = base + timedelta(milliseconds=next(tick))
        item_id = uuid.uuid4()
        items.append(
            {"id": item_id, "group_id": group_id, "title": title, "owner_id": owner_id,
             "created_by": owner_id, "priority": "medium", "status": "todo", "progress": 0,
             "created_at": at, "updated_at": at, "version": 1}
        )  # fmt: skip
        return item_id

    owner_id, owner_key = user_with_key("owner")
    group_ids = [uuid.uuid4() for _ in range(args.groups)]
    groups = [
        {"id": g, "name": f"bench {n}", "visibility": "private", "last_seq": 0,
         "created_at": base, "updated_at": base, "version": 1}
        for n, g in enumerate(group_ids)
    ]  # fmt: skip
    for g in group_ids:
        member(g, owner_id, "owner")
        for i in range(args.list_items):
            item(g, owner_id, f"seeded {i}")
    clients: list[Client] = []
    for c in range(args.clients):
        user_id, key = user_with_key(f"client{c}")
        group_id = group_ids[c % len(group_ids)]
        member(group_id, user_id, "member")
        mine = [item(group_id, user_id, f"client {c} item {i}") for i in range(args.patch_items)]
        clients.append(Client(key, str(group_id), [[str(i), 1, 0] for i in mine]))
    try:
        async with engine.begin() as conn:
            for model, rows in (
                (User, users), (ApiKey, keys), (Group, groups), (Membership, memberships),
            ):  # fmt: skip
                await conn.execute(insert(table_of(model)), rows)
            for start in range(0, len(items), 10_000):
                await conn.execute(insert(table_of(ActionItem)), items[start : start + 10_000])
            await conn.exec_driver_sql("ANALYZE")
        return Dataset(owner_key, [str(g) for g in group_ids], clients)
    finally:
        await engine.dispose()


# --- the servers ------------------------------------------------------------------------------


def _server_output() -> int | None:
    return None if os.environ.get("BENCH_SERVER_LOG") else asyncio.subprocess.DEVNULL


class OurApi(ApiProcess):
    """`wg api`, with its output shown when BENCH_SERVER_LOG is set."""

    async def start(self) -> OurApi:
        from bench.common import WG

        out = _server_output()
        self.proc = await asyncio.create_subprocess_exec(
            WG, "api", "--port", str(self.port), "--workers", str(self.workers),
            env=self.env, stdout=out, stderr=out,
        )  # fmt: skip
        await _wait_ready(self)
        return self


class BareApi(ApiProcess):
    """bench/bare_app.py under uvicorn with `wg api`'s options (same env, same worker count)."""

    async def start(self) -> BareApi:
        dsn = make_url(self.env["WG_DATABASE_URL"]).set(drivername="postgresql")
        env = {**self.env, "BENCH_BARE_DATABASE_URL": dsn.render_as_string(hide_password=False)}
        out = _server_output()
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.bare_app", "--port", str(self.port),
            "--workers", str(self.workers), env=env, cwd=str(ROOT), stdout=out, stderr=out,
        )  # fmt: skip
        await _wait_ready(self)
        return self


async def _wait_ready(api: ApiProcess) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            assert api.proc is not None
            if api.proc.returncode is not None:
                raise RuntimeError(f"server exited with {api.proc.returncode}")
            try:
                if (await http.get(api.base_url + "/readyz")).status_code == 200:
                    # Uvicorn's workers come up one by one: give the last ones a moment.
                    await asyncio.sleep(1.0)
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("server did not become ready")


# --- the load generator (runs in its own process) ---------------------------------------------


def run_phase(spec: dict[str, Any]) -> dict[str, Any]:
    """Entry point in the load process: one phase, warm-up then measurement."""
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_phase(spec))


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes | None, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    etag = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"etag":
            etag = value.strip()
        elif name == b"transfer-encoding":
            raise RuntimeError("chunked responses are not expected")
    body = await reader.readexactly(length) if length else b""
    return status, etag, body


async def _phase(spec: dict[str, Any]) -> dict[str, Any]:
    host, port, op = spec["host"], spec["port"], spec["op"]
    start = time.perf_counter()
    window_start = start + spec["warmup"]
    window_end = window_start + spec["duration"]
    latencies: list[float] = []
    errors: list[str] = []
    counter = 0

    def request(method: str, path: str, key: str, body: bytes = b"", extra: str = "") -> bytes:
        head = (
            f"{method} /api/v1{path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {key}\r\n{extra}"
        )
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        return head.encode() + b"\r\n" + body

    async def client(c: dict[str, Any]) -> None:
        nonlocal counter
        reader, writer = await asyncio.open_connection(host, port)
        items = c["items"]
        turn = 0
        expected = {"list": 200, "patch": 200, "create": 201}[op]
        try:
            while time.perf_counter() < window_end:
                current: list[Any] | None = None
                if op == "list":
                    req = request("GET", f"/groups/{c['group_id']}/action-items?limit="
                                  f"{spec['page_size']}", c["key"])  # fmt: skip
                elif op == "patch":
                    current = items[turn % len(items)]
                    turn += 1
                    new = current[2] % 99 + 1
                    body = b'{"progress":%d}' % new
                    req = request("PATCH", f"/action-items/{current[0]}", c["key"], body,
                                  f'If-Match: "{current[1]}"\r\n')  # fmt: skip
                else:
                    counter += 1
                    body = b'{"title":"bench item %d","priority":"high"}' % counter
                    req = request("POST", f"/groups/{c['group_id']}/action-items", c["key"], body)
                t0 = time.perf_counter()
                writer.write(req)
                status, etag, payload = await _read_response(reader)
                t1 = time.perf_counter()
                if status != expected:
                    errors.append(f"{status} {payload[:300]!r}")
                elif current is not None and etag is not None:
                    current[1] = int(etag.strip(b'"'))
                    current[2] = new
                if window_start <= t1 < window_end:
                    latencies.append(t1 - t0)
        finally:
            writer.close()

    async def sample() -> dict[str, float]:
        await asyncio.sleep(max(0.0, window_start - time.perf_counter()))
        s0, m0, c0, t0 = cpu_ticks(spec["pids"]), machine_ticks(), time.process_time(), \
            time.perf_counter()  # fmt: skip
        await asyncio.sleep(max(0.0, window_end - time.perf_counter()))
        s1, m1, c1, t1 = cpu_ticks(spec["pids"]), machine_ticks(), time.process_time(), \
            time.perf_counter()  # fmt: skip
        hz = os.sysconf("SC_CLK_TCK")
        return {
            "server_cpu_s": (s1 - s0) / hz,
            "client_cpu_pct": 100 * (c1 - c0) / (t1 - t0),
            "machine_busy_pct": 100 * (m1[0] - m0[0]) / max(1, m1[1] - m0[1]),
        }

    sampler = asyncio.create_task(sample())
    await asyncio.gather(*(client(c) for c in spec["clients"]))
    cpu = await sampler
    n = len(latencies)
    ms = [x * 1000 for x in latencies]
    return {
        "requests": n,
        "req_s": n / spec["duration"],
        "p50_ms": percentile(ms, 50),
        "p99_ms": percentile(ms, 99),
        "cpu_ms_per_req": 1000 * cpu["server_cpu_s"] / n if n else float("nan"),
        "client_cpu_pct": cpu["client_cpu_pct"],
        "machine_busy_pct": cpu["machine_busy_pct"],
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


# --- checks that both servers answer alike ----------------------------------------------------


async def _event_count(url: str) -> int:
    import asyncpg  # type: ignore[import-untyped]

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM events"))
    finally:
        await conn.close()


async def check_shapes(api: ApiProcess, db_url: str, data: Dataset, page_size: int) -> None:
    """One create, PATCH and list: status, JSON keys, ETags and events written must match."""
    c = data.clients[0]
    headers = {"Authorization": f"Bearer {c.key}"}
    async with httpx.AsyncClient(base_url=api.base_url + "/api/v1", headers=headers) as http:
        r = await http.get(f"/groups/{c.group_id}/action-items", params={"limit": page_size})
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) == page_size and page["next_cursor"], page
        assert set(page["items"][0]) == ITEM_KEYS, sorted(page["items"][0])
        r = await http.get(
            f"/groups/{c.group_id}/action-items", params={"cursor": page["next_cursor"]}
        )
        assert r.status_code == 200 and r.json()["items"][0]["id"] != page["items"][0]["id"]
        before = await _event_count(db_url)
        r = await http.post(f"/groups/{c.group_id}/action-items", json={"title": "shape"})
        assert r.status_code == 201 and set(r.json()) == ITEM_KEYS, r.text
        assert r.headers["etag"] == '"1"' and r.json()["owner_id"] is not None, r.headers
        created = await _event_count(db_url)
        assert created - before == 2, "a member's new item records created + assigned"
        item_id = r.json()["id"]
        r = await http.patch(
            f"/action-items/{item_id}", json={"progress": 7}, headers={"If-Match": '"1"'}
        )
        assert r.status_code == 200 and r.headers["etag"] == '"2"', r.text
        assert r.json()["progress"] == 7
        assert await _event_count(db_url) - created == 1
        r = await http.patch(
            f"/action-items/{item_id}", json={"progress": 8}, headers={"If-Match": '"1"'}
        )
        assert r.status_code == 412, r.text


# --- the run ----------------------------------------------------------------------------------


async def run_server(
    kind: str,
    workers: int,
    args: argparse.Namespace,
    pool: ProcessPoolExecutor,
) -> dict[str, dict[str, Any]]:
    db = await asyncio.to_thread(BenchDatabase, args.database_url)
    try:
        data = await seed(db.url, args)
        cls = OurApi if kind == "ours" else BareApi
        api = cls(db.url, args.redis_url, workers=workers)
        if args.rate_limits:
            # On, as in production, but far above what a run reaches: the cost is measured,
            # no request is refused.
            for name in ("CREDENTIAL", "IP"):
                api.env[f"WG_RATE_WRITES_PER_MINUTE_{name}"] = str(10**9)
        await api.start()
        try:
            assert api.proc is not None
            pids = process_tree(api.proc.pid)
            results = {}
            loop = asyncio.get_running_loop()
            for op in args.ops:
                spec = {
                    "host": "127.0.0.1",
                    "port": api.port,
                    "op": op,
                    "clients": [vars(c) for c in data.clients],
                    "warmup": args.warmup,
                    "duration": args.duration,
                    "page_size": args.page_size,
                    "pids": pids,
                }
                profiler = await _start_profiler(args, kind, workers, op, pids)
                res = await loop.run_in_executor(pool, run_phase, spec)
                if profiler is not None:
                    await profiler.wait()
                results[op] = res
                print(
                    f"  {kind:4} workers={workers} {op:6} {res['req_s']:8.1f} req/s  "
                    f"p50 {res['p50_ms']:6.1f} ms  p99 {res['p99_ms']:7.1f} ms  "
                    f"cpu {res['cpu_ms_per_req']:5.2f} ms/req  client {res['client_cpu_pct']:4.0f}%"
                    f"  machine {res['machine_busy_pct']:4.0f}%  errors {res['errors']}"
                    + (f" ({res['first_error']})" if res["errors"] else ""),
                    file=sys.stderr,
                    flush=True,
                )
            await check_shapes(api, db.url, data, args.page_size)
            return results
        finally:
            await api.stop()
    finally:
        await asyncio.to_thread(db.drop)


async def _start_profiler(
    args: argparse.Namespace, kind: str, workers: int, op: str, pids: list[int]
) -> asyncio.subprocess.Process | None:
    """With --profile DIR: py-spy samples our busiest server process during the measured
    window of the phase, written as collapsed stacks (`bench/profile_summary.py` reads them)."""
    if not args.profile or kind != "ours":
        return None
    out = Path(args.profile) / f"{kind}-w{workers}-{op}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    # The uvicorn worker(s), not the supervisor that only forwards signals.
    targets = pids[1:] if len(pids) > 1 else pids
    py_spy = str(Path(sys.executable).with_name("py-spy"))
    return await asyncio.create_subprocess_exec(
        "sh", "-c",
        f"sleep {args.warmup}; exec {py_spy} record --nonblocking --format raw --rate 200 "
        f"--duration {int(args.duration)} --output {out} "
        + " ".join(f"--pid {p}" for p in targets[:1]),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


SCALE_COLUMNS = [
    "items_per_group", "op", "req_s", "p50_ms", "p99_ms", "cpu_ms", "p50_vs_first", "p99_vs_first",
]  # fmt: skip


async def scale(args: argparse.Namespace, sizes: list[int], workers: int) -> None:
    """Flat cost as data grows: the same load on groups holding more and more items."""
    args.ops = [op for op in args.ops if op in ("list", "create")] or ["list", "create"]
    results: dict[int, dict[str, dict[str, Any]]] = {}
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        for size in sizes:
            args.list_items = size
            results[size] = await run_server("ours", workers, args, pool)
    rows = []
    for size in sizes:
        for op in args.ops:
            res, first = results[size][op], results[sizes[0]][op]
            rows.append(
                {
                    "items_per_group": size,
                    "op": op,
                    "req_s": res["req_s"],
                    "p50_ms": res["p50_ms"],
                    "p99_ms": res["p99_ms"],
                    "cpu_ms": res["cpu_ms_per_req"],
                    "p50_vs_first": _ratio(res["p50_ms"], first["p50_ms"]),
                    "p99_vs_first": _ratio(res["p99_ms"], first["p99_ms"]),
                }
            )
    print_report(
        "action-item API as a group grows (wg api, PostgreSQL)",
        SCALE_COLUMNS,
        rows,
        {
            "date": time.strftime("%Y-%m-%d"),
            "machine": machine(),
            "workers": workers,
            "clients": args.clients,
            "groups": args.groups,
            "duration_s": args.duration,
        },
        decimals={"cpu_ms": 2, "p50_vs_first": 2, "p99_vs_first": 2},
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--list-items", type=int, default=200, help="seeded items per group")
    parser.add_argument("--patch-items", type=int, default=20, help="seeded items per client")
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--ops", default=",".join(OPS), help="phases, in this order")
    parser.add_argument("--servers", default="ours,bare")
    parser.add_argument("--no-rate-limits", dest="rate_limits", action="store_false")
    parser.add_argument(
        "--profile", metavar="DIR", help="py-spy our server during each phase into DIR"
    )
    parser.add_argument(
        "--database-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--scale",
        metavar="N1,N2",
        help="instead: ours only, list and create with N1, then N2… seeded items per group, "
        "latencies next to those of N1 (use with fewer --groups: seeding takes time)",
    )
    args = parser.parse_args()
    args.ops = [op for op in args.ops.split(",") if op]
    assert set(args.ops) <= set(OPS), f"--ops: choose from {OPS}"
    servers = [s for s in args.servers.split(",") if s]
    worker_counts = [int(w) for w in args.workers.split(",")]
    if args.scale:
        await scale(args, [int(n) for n in args.scale.split(",")], worker_counts[0])
        return

    results: dict[tuple[str, int], dict[str, dict[str, Any]]] = {}
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        for w in worker_counts:
            for kind in servers:
                results[(kind, w)] = await run_server(kind, w, args, pool)

    rows = []
    for w in worker_counts:
        for op in args.ops:
            ours = results.get(("ours", w), {}).get(op, {})
            bare = results.get(("bare", w), {}).get(op, {})
            row: dict[str, Any] = {"workers": w, "op": op}
            for name, res in (("ours", ours), ("bare", bare)):
                row[f"{name}_req_s"] = res.get("req_s")
                row[f"{name}_p50_ms"] = res.get("p50_ms")
                row[f"{name}_p99_ms"] = res.get("p99_ms")
                row[f"{name}_cpu_ms"] = res.get("cpu_ms_per_req")
                row[f"{name}_errors"] = res.get("errors")
                row[f"{name}_client_cpu_pct"] = res.get("client_cpu_pct")
                row[f"{name}_machine_busy_pct"] = res.get("machine_busy_pct")
            if ours and bare:
                row["ratio"] = _ratio(ours["req_s"], bare["req_s"])
            rows.append(row)
    print_report(
        "action-item API under load (wg api vs bare FastAPI + asyncpg, PostgreSQL)",
        COLUMNS,
        rows,
        {
            "date": time.strftime("%Y-%m-%d"),
            "machine": machine(),
            "clients": args.clients,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "groups": args.groups,
            "rows_per_group": args.list_items + args.clients // args.groups * args.patch_items,
            "page_size": args.page_size,
            "rate_limits": args.rate_limits,
        },
        decimals={"ratio": 2, "ours_cpu_ms": 2, "bare_cpu_ms": 2},
    )


if __name__ == "__main__":
    asyncio.run(main())
