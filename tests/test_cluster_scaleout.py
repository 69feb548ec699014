"""Scale-out: two `wg api` and two `wg worker` processes on one PostgreSQL and one Redis.

One scenario writes through both APIs at once while websocket clients listen on both and
three webhook endpoints receive. Mid-run one worker is SIGKILLed in the middle of a webhook
attempt, then the API that holds the relay lease; writing goes on through the survivor.

What is asserted, following EVENTS.md:
- every write answered 2xx is exactly one event; each group's seqs run 1..n without gaps;
- every websocket client gets exactly its group's events, each once, in seq order, with no
  deduplication on its side (the server's sequence rule promises that much); the clients of
  the killed API reconnect to the other and resume from their last seq;
- each (event, matching endpoint) has exactly one delivery, i.e. one `webhook-id`, and that
  delivery has exactly one successful attempt; an endpoint gets its events in seq order;
- delivery is at-least-once with a stable `webhook-id` (receivers dedupe by it), so the
  receiver may see a `webhook-id` again, but only for an attempt the killed worker made and
  never recorded: at most once per endpoint (an endpoint has one attempt in flight at a
  time), and surely for the attempt the worker was killed in.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col
from standardwebhooks.webhooks import Webhook

from app.core.config import Settings
from app.core.db import create_engine
from app.core.migrations import upgrade
from app.models import DeliveryAttempt, DeliveryStatus, Event, WebhookDelivery
from app.webhooks.service import matches
from tests.cluster import Cluster, Service
from tests.conftest import TEST_DATABASE_URL, fresh_database, make_settings
from tests.helpers import TestUser, events_of, eventually, make_group, make_user
from tests.receiver import Behaviour, Receiver
from tests.ws import ResumingClient

pytestmark = [
    pytest.mark.postgres_only,
    # conftest has no hook for the marker yet; the processes need a server database anyway.
    pytest.mark.skipif(
        not (TEST_DATABASE_URL or "").startswith("postgresql"),
        reason="a scaled-out deployment runs on PostgreSQL",
    ),
]

# A killed worker's claimed attempt is free again after WEBHOOK_TIMEOUT + 5 s (the claim
# lease), the sweeps run twice a second, and a dead relay's lease runs out in 3 s. The timeout
# is also how long the test has to find the worker stuck in the hanging attempt.
CLUSTER_ENV = {
    # Long enough that the hung attempt cannot time out (and be recorded) before the test has
    # found and killed the worker making it, on a loaded 2-core machine; short enough that
    # its lease (timeout + 5 s) lapses well within the test's waits.
    "WG_WEBHOOK_TIMEOUT": "8",
    "WG_WEBHOOK_CONNECT_TIMEOUT": "2",
    "WG_WEBHOOK_RETRY_SCHEDULE": "[0.2, 0.5, 1, 1, 1]",
    "WG_DISPATCH_SWEEP_SECONDS": "0.5",
    "WG_DISPATCH_GRACE_SECONDS": "2",
    "WG_DISPATCH_CLAIM_IDLE_SECONDS": "2",
    "WG_RELAY_LEASE_SECONDS": "3",
    "WG_RELAY_POLL_SECONDS": "0.2",
}
FOCUS_AREAS = 35  # per group and writer (one writer per API)
ACTION_ITEMS = 20  # group 1 only, per writer
AFTER_KILL = 5  # the last writes of every writer wait for the kills
INITIAL_EVENTS = 2  # group.created, member.added


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Settings]:
    """A database of this module's own: another relay on the session database would publish
    these events to its own stream, and the workers' sweeps would see other tests' events."""
    with fresh_database(tmp_path_factory) as url:
        s = make_settings(url, redis_url, tmp_path_factory.mktemp("scaleout"))
        upgrade(s)
        yield s


@dataclass
class PortRecordingReceiver(Receiver):
    """Also notes each request's client port, to tell which worker process sent it."""

    ports: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            webhook_id = dict(scope["headers"]).get(b"webhook-id", b"").decode()
            self.ports[webhook_id].append(scope["client"][1])
        await super().app(scope, receive, send)


@pytest.fixture
async def receiver() -> AsyncIterator[PortRecordingReceiver]:
    r = await PortRecordingReceiver().start()
    yield r
    await r.stop()


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    e = create_engine(settings)
    yield e
    await e.dispose()


class Writer:
    """Creates resources through one API and, once that replica is gone, through the next.

    A request that never reached a replica goes to the next one; one cut off in flight may or
    may not have committed, so it is only noted (resending it blindly could write it twice).
    """

    def __init__(self, https: list[httpx.AsyncClient], user: TestUser, killed: asyncio.Event):
        self.https = list(https)
        self.user = user
        self.killed = killed
        self.acked: dict[str, str] = {}  # title -> id of the created resource
        self.in_doubt: list[str] = []
        self.acked_after_kill = 0

    async def create(self, path: str, prefix: str, n: int) -> None:
        run = uuid.uuid4().hex[:6]
        for i in range(n):
            if i == n - AFTER_KILL:
                await self.killed.wait()
            await self._create(path, f"{prefix}-{run}-{i}")

    async def _create(self, path: str, title: str) -> None:
        while True:
            try:
                r = await self.https[0].post(path, json={"title": title}, headers=self.user.headers)
            except httpx.ConnectError:
                assert len(self.https) > 1, "the last replica is unreachable"
                self.https.pop(0)
                continue
            except httpx.TransportError:
                assert len(self.https) > 1, "the last replica failed"
                self.https.pop(0)
                self.in_doubt.append(title)
                return
            assert r.status_code == 201, r.text
            self.acked[title] = r.json()["id"]
            self.acked_after_kill += self.killed.is_set()
            return


def _worker_holding(port: int, workers: list[Service]) -> Service:
    """The worker process whose socket has local port `port` (the receiver saw it as client)."""
    for w in workers:
        conns = psutil.Process(w.pid).net_connections(kind="tcp")
        if any(c.laddr and c.laddr.port == port for c in conns):
            return w
    raise AssertionError(f"no worker holds a connection from port {port}")


@dataclass
class Delivery:
    id: str
    event_id: str
    endpoint_id: str
    status: str
    attempts: int  # recorded attempts
    successes: int  # recorded attempts answered 2xx


async def _deliveries(engine: AsyncEngine) -> list[Delivery]:
    d, attempt = WebhookDelivery, DeliveryAttempt
    ok = col(attempt.status_code).between(200, 299)
    stmt = (
        select(
            col(d.id),
            col(d.event_id),
            col(d.endpoint_id),
            col(d.status),
            func.count(col(attempt.id)),
            func.count(col(attempt.id)).filter(ok),
        )
        .outerjoin(attempt, col(attempt.delivery_id) == col(d.id))
        .group_by(col(d.id))
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [Delivery(str(i), str(ev), str(ep), s, n, k) for i, ev, ep, s, n, k in rows]


async def _all_dispatched(engine: AsyncEngine) -> bool:
    stmt = select(func.count()).select_from(Event).where(col(Event.dispatched_at).is_(None))
    async with engine.connect() as conn:
        return (await conn.execute(stmt)).scalar_one() == 0


async def _webhook(
    http: httpx.AsyncClient, owner: TestUser, group_id: str, url: str, types: list[str]
) -> dict[str, Any]:
    body = {"url": url, "event_types": types}
    r = await http.post(f"/groups/{group_id}/webhooks", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    hook: dict[str, Any] = r.json()
    return hook


async def test_two_apis_two_workers_lose_and_repeat_nothing_through_kills(
    settings: Settings, receiver: PortRecordingReceiver, engine: AsyncEngine
) -> None:
    async with Cluster(settings, **CLUSTER_ENV) as cluster, contextlib.AsyncExitStack() as stack:
        a = cluster.relay_holder  # killing it makes the other replica's relay take over
        b = next(api for api in cluster.apis if api is not a)
        assert a is not None
        http_a = await stack.enter_async_context(a.client())
        http_b = await stack.enter_async_context(b.client())
        owner = await make_user(http_a, "owner")
        g1 = (await make_group(http_a, owner))["id"]
        g2 = (await make_group(http_b, owner))["id"]
        # An endpoint gets what is dispatched after it exists: with the groups' first events
        # dispatched beforehand, which events each endpoint is owed is exact.
        await eventually(lambda: _all_dispatched(engine))
        hooks = {
            "/all1": await _webhook(http_b, owner, g1, receiver.url("/all1"), ["*"]),
            # The first attempt hangs: the worker making it is the one to kill.
            "/ai1": await _webhook(
                http_a, owner, g1, receiver.on("/ai1", Behaviour(hang_times=1)), ["action_item.*"]
            ),
            "/all2": await _webhook(http_a, owner, g2, receiver.url("/all2"), ["*"]),
        }
        hook_group = {"/all1": g1, "/ai1": g1, "/all2": g2}

        # Clients of `a` fall back to `b` when `a` is gone; clients of `b` have nowhere to go.
        clients = {
            (replica, g): ResumingClient(urls, owner.token, g)
            for replica, urls in (("a", [a.ws_url, b.ws_url]), ("b", [b.ws_url]))
            for g in (g1, g2)
        }
        stack.push_async_callback(_close_all, list(clients.values()))

        killed = asyncio.Event()
        writers: list[Writer] = []
        tasks: list[asyncio.Task[None]] = []
        plan = [(g, "focus-areas", FOCUS_AREAS) for g in (g1, g2)] + [
            (g1, "action-items", ACTION_ITEMS)
        ]
        for g, kind, n in plan:
            for via in ([http_a, http_b], [http_b]):
                writer = Writer(via, owner, killed)
                writers.append(writer)
                tasks.append(asyncio.create_task(writer.create(f"/groups/{g}/{kind}", kind, n)))
        stack.push_async_callback(_cancel, tasks)

        (trapped,) = await receiver.wait_for("/ai1", 1)
        trapped_id = trapped.headers["webhook-id"]
        victim = _worker_holding(receiver.ports[trapped_id][0], cluster.workers)
        await victim.kill()
        # The clients of `a` are to resume from a seq of their own, not from the start.
        for g in (g1, g2):
            await clients[("a", g)].wait_for_seq(INITIAL_EVENTS + 1)
        await a.kill()
        killed.set()
        await asyncio.gather(*tasks)

        # --- every acknowledged write is exactly one event; seqs without gaps ------------------
        events = {g: await events_of(http_b, owner, g) for g in (g1, g2)}
        for evs in events.values():
            assert [e["seq"] for e in evs] == list(range(1, len(evs) + 1))
        created = Counter(
            e["subject"]["id"]
            for evs in events.values()
            for e in evs[INITIAL_EVENTS:]
            if e["type"].endswith(".created")
        )
        acked = {i for w in writers for i in w.acked.values()}
        in_doubt = sum(len(w.in_doubt) for w in writers)
        assert len(acked) + in_doubt == sum(2 * n for *_, n in plan)
        assert acked <= set(created)
        assert max(created.values()) == 1
        assert len(created) <= len(acked) + in_doubt
        assert sum(len(evs) - INITIAL_EVENTS for evs in events.values()) == len(created)
        # Writes went on through the survivor; a writer of `a` may have lost one in flight.
        assert all(w.acked_after_kill >= AFTER_KILL - 1 for w in writers)

        # --- websocket clients: everything, once, in order ----------------------------------
        for (replica, g), client in clients.items():
            expected = [e["id"] for e in events[g]]
            await client.wait_for_seq(len(expected), timeout=30)
            assert [e["id"] for e in client.received] == expected, replica
            # Only the clients of the killed replica had to reconnect.
            assert (client.reconnects >= 1) == (replica == "a"), (replica, client.reconnects)

        # --- webhooks: one delivery per (event, endpoint), which succeeded once ---------------
        path_of = {hook["id"]: path for path, hook in hooks.items()}
        owed = {
            path: {
                e["id"]: e["seq"]
                for e in events[hook_group[path]][INITIAL_EVENTS:]
                if matches(hook["event_types"], e["type"])
            }
            for path, hook in hooks.items()
        }

        async def all_succeeded() -> list[Delivery] | None:
            ds = await _deliveries(engine)
            ok = {
                (path_of[d.endpoint_id], d.event_id)
                for d in ds
                if d.status == DeliveryStatus.succeeded
            }
            return ds if ok >= {(p, e) for p, ids in owed.items() for e in ids} else None

        deliveries: list[Delivery] = await eventually(all_succeeded, timeout=45, interval=0.2)
        by_path: dict[str, dict[str, Delivery]] = defaultdict(dict)
        for d in deliveries:
            path = path_of[d.endpoint_id]
            assert d.event_id not in by_path[path], f"two deliveries of one event to {path}"
            by_path[path][d.event_id] = d
        for path, ids in owed.items():
            assert set(by_path[path]) == set(ids), path
            for d in by_path[path].values():
                assert (d.status, d.successes) == (DeliveryStatus.succeeded, 1), d

        # --- what the receiver saw ----------------------------------------------------------
        delivery = {d.id: d for d in deliveries}
        for path, hook in hooks.items():
            seen: Counter[str] = Counter()
            first_seqs: list[int] = []
            for req in receiver.at(path):
                msg = Webhook(hook["secret"]).verify(req.body, req.headers)
                webhook_id = req.headers["webhook-id"]
                assert msg["data"]["id"] == delivery[webhook_id].event_id
                if not seen[webhook_id]:
                    first_seqs.append(msg["data"]["seq"])
                seen[webhook_id] += 1
            assert set(seen) == {d.id for d in by_path[path].values()}, path
            assert first_seqs == sorted(owed[path].values()), f"{path}: out of seq order"
            # Requests beyond the recorded attempts: attempts the killed worker never recorded.
            unrecorded = [n - delivery[i].attempts for i, n in seen.items()]
            assert max(unrecorded) <= 1, path
            assert sum(u for u in unrecorded if u > 0) <= 1, path
        assert [r.headers["webhook-id"] for r in receiver.at("/ai1")].count(trapped_id) == 2
        assert delivery[trapped_id].attempts == 1


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _close_all(clients: list[ResumingClient]) -> None:
    await asyncio.gather(*(c.close() for c in clients))
