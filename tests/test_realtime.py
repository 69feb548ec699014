"""The websocket protocol against a real uvicorn serving the app (API.md "Realtime")."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from fastapi import FastAPI

from tests.conftest import Connect
from tests.helpers import (
    TestUser,
    add_member,
    eventually,
    make_group,
    make_user,
    metric,
    settings_changed,
)
from tests.ws import seqs


async def _write(client: httpx.AsyncClient, owner: TestUser, group_id: str, n: int) -> None:
    for i in range(n):
        r = await client.post(
            f"/groups/{group_id}/focus-areas", json={"title": f"area {i}"}, headers=owner.headers
        )
        assert r.status_code == 201, r.text


async def test_bad_credentials_close_4401(ws_connect: Connect) -> None:
    for token in ("not-a-token", "wgk_unknown"):
        client = await ws_connect(token, token_in="header")
        assert client.closed is not None
        code, _ = await asyncio.wait_for(client.closed, 10)
        assert code == 4401


async def test_subscribing_to_a_private_group_of_others_closes_4403(
    client: httpx.AsyncClient, ws_connect: Connect
) -> None:
    owner, stranger = await make_user(client, "owner"), await make_user(client, "stranger")
    group = await make_group(client, owner)
    ws = await ws_connect(stranger)
    await ws.subscribe(group["id"], after=0)
    code, _ = await asyncio.wait_for(ws.closed, 10)
    assert code == 4403
    assert not ws.events


async def test_replay_then_live_in_order_exactly_once(
    client: httpx.AsyncClient, ws_connect: Connect
) -> None:
    owner = await make_user(client, "owner")
    group = await make_group(client, owner)
    await _write(client, owner, group["id"], 5)  # seq 1..7 exist before subscribing
    ws = await ws_connect(owner, token_in="header")
    await ws.subscribe(group["id"], after=3)
    subscribed = await ws.wait_for_message("subscribed")
    assert subscribed == {"type": "subscribed", "group_id": group["id"], "seq": 7}
    await ws.wait_for_seq(group["id"], 7)
    await _write(client, owner, group["id"], 3)
    await ws.wait_for_seq(group["id"], 10)
    assert seqs(ws.events[group["id"]]) == list(range(4, 11))
    first = ws.events[group["id"]][0]
    assert set(first) == {
        "id",
        "seq",
        "type",
        "group_id",
        "occurred_at",
        "actor_id",
        "subject",
        "data",
    }
    assert first["occurred_at"].endswith("Z")


async def test_subscribe_without_after_gets_only_new_events(
    client: httpx.AsyncClient, ws_connect: Connect
) -> None:
    owner = await make_user(client, "owner")
    group = await make_group(client, owner)
    ws = await ws_connect(owner)
    await ws.subscribe(group["id"])
    assert (await ws.wait_for_message("subscribed"))["seq"] == 2
    await _write(client, owner, group["id"], 1)
    await ws.wait_for_seq(group["id"], 3)
    assert seqs(ws.events[group["id"]]) == [3]


async def test_switch_from_replay_to_live_under_concurrent_writes(
    client: httpx.AsyncClient, ws_connect: Connect
) -> None:
    owner = await make_user(client, "owner")
    group = await make_group(client, owner)
    await _write(client, owner, group["id"], 20)
    ws = await ws_connect(owner)
    writer = asyncio.create_task(_write(client, owner, group["id"], 60))
    await ws.subscribe(group["id"], after=0)
    await writer
    await ws.wait_for_seq(group["id"], 82)
    assert seqs(ws.events[group["id"]]) == list(range(1, 83))


async def test_reset_when_after_cannot_be_replayed(
    app: FastAPI, client: httpx.AsyncClient, ws_connect: Connect
) -> None:
    owner = await make_user(client, "owner")
    group = await make_group(client, owner)
    await _write(client, owner, group["id"], 6)  # latest seq 8
    ws = await ws_connect(owner)
    await ws.subscribe(group["id"], after=50)  # from the future
    assert await ws.wait_for_message("reset") == {
        "type": "reset",
        "group_id": group["id"],
        "seq": 8,
    }

    with settings_changed(app, ws_replay_limit=5):
        ws2 = await ws_connect(owner)
    await ws2.subscribe(group["id"], after=1)  # 7 behind, limit 5
    assert (await ws2.wait_for_message("reset"))["seq"] == 8
    assert not ws2.events
    await _write(client, owner, group["id"], 1)
    await ws2.wait_for_seq(group["id"], 9)  # live from the reset point on
    assert seqs(ws2.events[group["id"]]) == [9]


async def test_ping_bad_messages_unsubscribe(
    client: httpx.AsyncClient, ws_connect: Connect
) -> None:
    owner = await make_user(client, "owner")
    group = await make_group(client, owner)
    ws = await ws_connect(owner)
    await ws.send({"type": "ping"})
    assert await ws.wait_for_message("pong") == {"type": "pong"}
    assert ws.ws is not None
    await ws.ws.send("{not json")
    await ws.send({"type": "subscribe", "group_id": "nope"})
    await ws.send({"type": "dance"})
    await ws.wait_until(lambda c: sum(m["type"] == "error" for m in c.messages) == 3)
    errors = [m for m in ws.messages if m["type"] == "error"]
    assert {e["code"] for e in errors} == {"bad_message"}
    await ws.subscribe(group["id"])
    await ws.wait_for_message("subscribed")
    await ws.send({"type": "unsubscribe", "group_id": group["id"]})
    await ws.wait_for_message("unsubscribed")
    await _write(client, owner, group["id"], 1)
    await ws.send({"type": "ping"})
    await ws.wait_until(lambda c: sum(m["type"] == "pong" for m in c.messages) == 2)
    assert not ws.events  # the pong came after the write's event would have
    assert not ws.is_closed


async def test_flooding_closes_1008_and_oversized_message_1009(
    client: httpx.AsyncClient, ws_connect: Connect
) -> None:
    user = await make_user(client, "flooder")
    ws = await ws_connect(user)
    for _ in range(200):
        if ws.is_closed:
            break
        await ws.send({"type": "ping"})
    code, _ = await asyncio.wait_for(ws.closed, 10)
    assert code == 1008

    ws2 = await ws_connect(user)
    assert ws2.ws is not None
    await ws2.ws.send('{"type":"ping","pad":"' + "x" * 10_000 + '"}')
    code, _ = await asyncio.wait_for(ws2.closed, 10)
    assert code == 1009


async def test_removed_member_stops_receiving(
    client: httpx.AsyncClient, ws_connect: Connect
) -> None:
    owner, member = await make_user(client, "owner"), await make_user(client, "member")
    group = await make_group(client, owner)
    await add_member(client, owner, group["id"], member, "member")
    ws = await ws_connect(member)
    await ws.subscribe(group["id"])
    await ws.wait_for_message("subscribed")
    r = await client.delete(f"/groups/{group['id']}/members/{member.id}", headers=owner.headers)
    assert r.status_code == 204
    error = await ws.wait_for_message("error")
    assert error["code"] == "forbidden" and error["group_id"] == group["id"]
    assert [e["type"] for e in ws.events[group["id"]]] == ["member.removed"]
    await _write(client, owner, group["id"], 2)
    await ws.send({"type": "ping"})
    await ws.wait_for_message("pong")
    owner_ws = await ws_connect(owner)
    await owner_ws.subscribe(group["id"], after=0)
    await owner_ws.wait_for_seq(group["id"], 6)
    assert [e["type"] for e in ws.events[group["id"]]] == ["member.removed"]


async def test_a_users_notifications_reach_all_their_connections_only(
    app: FastAPI, client: httpx.AsyncClient, ws_connect: Connect
) -> None:
    from app.realtime.notify import push_notification

    alice, bob = await make_user(client, "alice"), await make_user(client, "bob")
    alice_tabs = [await ws_connect(alice), await ws_connect(alice)]
    bob_ws = await ws_connect(bob)
    for ws in (*alice_tabs, bob_ws):  # the hub knows each connection once this answers
        await ws.send({"type": "ping"})
        await ws.wait_for_message("pong")
    note = {"id": "n1", "type": "action_item.assigned", "title": "You own a new item"}
    settings = app.state.settings
    await push_notification(app.state.redis, settings.redis_prefix, uuid.UUID(alice.id), note)
    for ws in alice_tabs:
        got = await ws.wait_for_message("notification")
        assert got == {"type": "notification", "notification": note}
    await bob_ws.send({"type": "ping"})
    await bob_ws.wait_until(lambda c: sum(m["type"] == "pong" for m in c.messages) == 2)
    assert not any(m["type"] == "notification" for m in bob_ws.messages)


async def test_idle_connections_get_server_heartbeats(
    app: FastAPI, client: httpx.AsyncClient, ws_connect: Connect
) -> None:
    user = await make_user(client, "idle")
    with settings_changed(app, ws_heartbeat_seconds=0.2):
        ws = await ws_connect(user)
    assert await ws.wait_for_message("heartbeat", timeout=5) == {"type": "heartbeat"}


async def test_metrics_count_connections_and_frames(
    client: httpx.AsyncClient, ws_connect: Connect
) -> None:
    async def scrape() -> str:
        r = await client.get("http://test/metrics")
        assert r.status_code == 200
        return r.text

    owner = await make_user(client, "metered")
    group = await make_group(client, owner)
    before = await scrape()
    ws = await ws_connect(owner)
    await ws.subscribe(group["id"])
    await ws.wait_for_message("subscribed")
    await _write(client, owner, group["id"], 3)
    await ws.wait_until(lambda c: len(c.events.get(group["id"], [])) == 3)
    during = await scrape()
    connections = metric(before, "wg_ws_connections")
    assert metric(during, "wg_ws_connections") == connections + 1
    # "subscribed" and three events at least (other tests' idle connections may heartbeat).
    frames = metric(during, "wg_ws_frames_sent_total") - metric(before, "wg_ws_frames_sent_total")
    assert frames >= 4
    await ws.close()

    async def closed_counted() -> bool:
        return metric(await scrape(), "wg_ws_connections") == connections

    assert await eventually(closed_counted)
