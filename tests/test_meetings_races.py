"""Concurrent requests on one meeting's floor. Writers of a group queue on its row lock
(PostgreSQL) or the database write lock (SQLite), so both backends must give one FIFO order."""

from __future__ import annotations

import asyncio

import httpx

from tests.helpers import TestUser as ApiUser
from tests.helpers import add_member, make_group, make_user
from tests.test_meetings import call, live_meeting, new_events

HANDS = 20


async def members(client: httpx.AsyncClient, owner: ApiUser, gid: str, n: int) -> list[ApiUser]:
    users = list(await asyncio.gather(*(make_user(client, f"member{i}") for i in range(n))))
    for user in users:
        await add_member(client, owner, gid, user, "member")
    return users


async def test_hands_raised_at_once_form_one_queue(client: httpx.AsyncClient) -> None:
    owner = await make_user(client, "owner")
    gid = (await make_group(client, owner))["id"]
    users = await members(client, owner, gid, HANDS)
    mid = (await live_meeting(client, owner, gid))["id"]
    seq = (await call(client, owner, "GET", f"/groups/{gid}"))["last_seq"]

    responses = await asyncio.gather(
        *(client.post(f"/meetings/{mid}/hands", headers=u.headers) for u in users)
    )
    assert [r.status_code for r in responses] == [201] * HANDS, [r.text for r in responses]

    queue = (await call(client, owner, "GET", f"/meetings/{mid}/hands"))["items"]
    assert sorted(h["user_id"] for h in queue) == sorted(u.id for u in users)
    assert [h["position"] for h in queue] == list(range(1, HANDS + 1))
    assert [h["raised_at"] for h in queue] == sorted({h["raised_at"] for h in queue})
    # Each raise was told the place it keeps, and the events tell the same order.
    told = {r.json()["user_id"]: r.json()["position"] for r in responses}
    assert told == {h["user_id"]: h["position"] for h in queue}
    events = await new_events(client, owner, gid, seq)
    assert [e["type"] for e in events] == ["meeting.hand_raised"] * HANDS
    assert [e["data"]["hand"]["user_id"] for e in events] == [h["user_id"] for h in queue]

    # Raising again, all at once, changes nothing.
    again = await asyncio.gather(
        *(client.post(f"/meetings/{mid}/hands", headers=u.headers) for u in users)
    )
    assert [r.status_code for r in again] == [200] * HANDS
    assert (await call(client, owner, "GET", f"/meetings/{mid}/hands"))["items"] == queue


async def test_two_moderators_calling_next_at_once(client: httpx.AsyncClient) -> None:
    owner, second = await make_user(client, "owner"), await make_user(client, "moderator")
    gid = (await make_group(client, owner))["id"]
    await add_member(client, owner, gid, second, "moderator")
    users = await members(client, owner, gid, 10)
    mid = (await live_meeting(client, owner, gid))["id"]
    for user in users:
        await call(client, user, "POST", f"/meetings/{mid}/hands", 201)
    queue = [
        h["user_id"] for h in (await call(client, owner, "GET", f"/meetings/{mid}/hands"))["items"]
    ]
    seq = (await call(client, owner, "GET", f"/groups/{gid}"))["last_seq"]

    given: list[str] = []
    for _ in range(len(users) // 2):
        pair = await asyncio.gather(
            *(
                client.post(f"/meetings/{mid}/hands/next", headers=m.headers)
                for m in (owner, second)
            )
        )
        assert [r.status_code for r in pair] == [200, 200], [r.text for r in pair]
        round_ = {r.json()["current_speaker_id"] for r in pair}
        # The two calls took the next two hands, one each.
        assert round_ == set(queue[len(given) : len(given) + 2])
        given += sorted(round_, key=queue.index)
    assert given == queue

    pair = await asyncio.gather(
        *(client.post(f"/meetings/{mid}/hands/next", headers=m.headers) for m in (owner, second))
    )
    assert [r.status_code for r in pair] == [409, 409]
    events = await new_events(client, owner, gid, seq)
    assert [e["data"]["speaker"]["id"] for e in events] == queue
    assert [e["data"]["queue_length"] for e in events] == list(range(len(queue) - 1, -1, -1))
