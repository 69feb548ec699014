"""Notifications: who gets what, the inbox, preferences and the live push (API.md
"Notifications"). Events are turned into notifications by the real dispatcher and handler."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlmodel import col

from app.events.dispatch import DispatchContext, Dispatcher
from app.models import Event, Notification
from app.models.base import utcnow
from app.notifications.rules import NOTIFIABLE_TYPES
from app.notifications.tasks import handle_events
from tests.helpers import TestUser, add_member, make_group, make_user
from tests.notifications_support import (
    create_item,
    create_meeting,
    dispatch_group,
    inbox,
    inbox_types,
    make_dispatcher,
)
from tests.ws import WsClient


@pytest.fixture
def dispatcher(app: FastAPI) -> Dispatcher:
    return make_dispatcher(app)


async def _team(
    client: httpx.AsyncClient, *roles: str
) -> tuple[dict[str, Any], TestUser, list[TestUser]]:
    owner = await make_user(client, "owner")
    group = await make_group(client, owner)
    others = []
    for role in roles:
        user = await make_user(client, role)
        await add_member(client, owner, group["id"], user, role)
        others.append(user)
    return group, owner, others


async def test_action_item_owner_hears_assignment_and_changes_by_others_only(
    client: httpx.AsyncClient, dispatcher: Dispatcher
) -> None:
    group, owner, (mod, alice, bob) = await _team(client, "moderator", "member", "member")
    gid = group["id"]
    item = await create_item(client, mod, gid, owner_id=alice.id, due_date="2030-01-31")
    path = f"/action-items/{item['id']}"
    r = await client.patch(path, json={"title": "Map every cluster"}, headers=mod.headers)
    assert r.status_code == 200, r.text
    # Alice's own changes and comments notify nobody (she is the actor and the owner).
    r = await client.patch(path, json={"progress": 40}, headers=alice.headers)
    assert r.status_code == 200, r.text
    r = await client.post(f"{path}/comments", json={"body": "Started"}, headers=alice.headers)
    assert r.status_code == 201, r.text
    r = await client.post(f"{path}/comments", json={"body": "Thanks!"}, headers=bob.headers)
    assert r.status_code == 201, r.text
    # A member creating their own item assigns it to themselves: no notification.
    await create_item(client, bob, gid, title="Bob's own")
    await dispatch_group(dispatcher, gid)

    notes = await inbox(client, alice)
    assert [n["type"] for n in reversed(notes)] == [
        "action_item.assigned",
        "action_item.updated",
        "action_item.commented",
    ]
    assigned = notes[-1]
    assert assigned["reason"] == "owner" and assigned["read"] is False
    assert assigned["group_id"] == gid
    data = assigned["data"]
    assert data["subject"] == {"type": "action_item", "id": item["id"]}
    assert data["title"] == "Map the clusters"
    assert data["actor"] == {"id": mod.id, "name": "moderator"}
    assert data["group"] == {"id": gid, "name": group["name"]}
    assert data["due_date"] == "2030-01-31"
    assert notes[1]["data"]["changes"] == ["title"]
    assert notes[0]["data"]["comment"] == "Thanks!"
    # Never the actor: the moderator and Bob got nothing, nor the owner of the group.
    for user in (mod, bob, owner):
        assert await inbox(client, user) == []


async def test_reassignment_tells_the_new_owner_once(
    client: httpx.AsyncClient, dispatcher: Dispatcher
) -> None:
    group, _, (mod, alice, bob) = await _team(client, "moderator", "member", "member")
    item = await create_item(client, mod, group["id"], owner_id=alice.id)
    r = await client.patch(
        f"/action-items/{item['id']}", json={"owner_id": bob.id}, headers=mod.headers
    )
    assert r.status_code == 200, r.text
    await dispatch_group(dispatcher, group["id"])
    assert await inbox_types(client, alice) == ["action_item.assigned"]
    # `updated` (owner changed) is covered by `assigned`: one notification, not two.
    assert await inbox_types(client, bob) == ["action_item.assigned"]


async def test_proposal_author_hears_state_changes_and_comments(
    client: httpx.AsyncClient, dispatcher: Dispatcher
) -> None:
    group, _, (mod, author, other) = await _team(client, "moderator", "member", "member")
    r = await client.post(
        f"/groups/{group['id']}/proposals",
        json={"title": "Shared cluster map", "body": "Let us map all clusters"},
        headers=author.headers,
    )
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    moves = [(author, "submitted"), (mod, "under_review")]
    for actor, to in moves:
        r = await client.post(
            f"/proposals/{pid}/transitions", json={"to": to}, headers=actor.headers
        )
        assert r.status_code == 200, r.text
    for actor in (author, other):
        r = await client.post(
            f"/proposals/{pid}/comments", json={"body": "A thought"}, headers=actor.headers
        )
        assert r.status_code == 201, r.text
    await dispatch_group(dispatcher, group["id"])

    notes = list(reversed(await inbox(client, author)))
    # Submitting was the author's own move; the review and the other's comment were not.
    assert [n["type"] for n in notes] == ["proposal.state_changed", "proposal.commented"]
    assert notes[0]["data"]["to"] == "under_review"
    assert notes[0]["reason"] == "author"
    assert notes[1]["data"]["actor"]["id"] == other.id
    assert await inbox(client, mod) == [] and await inbox(client, other) == []


async def test_members_hear_meetings_scheduled_started_and_minutes(
    client: httpx.AsyncClient, dispatcher: Dispatcher
) -> None:
    group, owner, (mod, member, observer) = await _team(client, "moderator", "member", "observer")
    start = utcnow() + timedelta(days=2)
    meeting = await create_meeting(
        client,
        mod,
        group["id"],
        start.isoformat(),
        (start + timedelta(hours=1)).isoformat(),
    )
    mid = meeting["id"]
    r = await client.post(f"/meetings/{mid}/start", headers=mod.headers)
    assert r.status_code == 200, r.text
    r = await client.put(f"/meetings/{mid}/rsvp", json={"response": "yes"}, headers=member.headers)
    assert r.status_code == 200, r.text
    r = await client.put(
        f"/meetings/{mid}/minutes",
        json={"body": "# Minutes", "published": True},
        headers=mod.headers,
    )
    assert r.status_code == 200, r.text
    await dispatch_group(dispatcher, group["id"])

    expected = ["meeting.scheduled", "meeting.started", "meeting.minutes_published"]
    for user in (owner, member, observer):
        assert await inbox_types(client, user) == expected, user.name
    assert await inbox(client, mod) == []  # the moderator did all of it
    scheduled = (await inbox(client, member))[-1]
    assert scheduled["reason"] == "member"
    assert scheduled["data"]["timezone"] == "America/Bogota"


async def test_muted_types_are_not_notified(
    client: httpx.AsyncClient, dispatcher: Dispatcher
) -> None:
    group, _, (mod, alice) = await _team(client, "moderator", "member")
    r = await client.put(
        "/users/me/notification-preferences",
        json={"email": "off", "muted_types": ["action_item.updated"]},
        headers=alice.headers,
    )
    assert r.status_code == 200, r.text
    item = await create_item(client, mod, group["id"], owner_id=alice.id)
    r = await client.patch(
        f"/action-items/{item['id']}", json={"progress": 10}, headers=mod.headers
    )
    assert r.status_code == 200, r.text
    await dispatch_group(dispatcher, group["id"])
    assert await inbox_types(client, alice) == ["action_item.assigned"]


async def test_former_members_are_not_notified(
    client: httpx.AsyncClient, dispatcher: Dispatcher
) -> None:
    group, owner, (mod, alice) = await _team(client, "moderator", "member")
    item = await create_item(client, mod, group["id"], owner_id=alice.id)
    r = await client.delete(f"/groups/{group['id']}/members/{alice.id}", headers=owner.headers)
    assert r.status_code == 204, r.text
    r = await client.patch(f"/action-items/{item['id']}", json={"progress": 5}, headers=mod.headers)
    assert r.status_code == 200, r.text
    await dispatch_group(dispatcher, group["id"])
    assert await inbox(client, alice) == []


async def test_handling_an_event_twice_creates_one_notification(
    app: FastAPI, client: httpx.AsyncClient, dispatcher: Dispatcher
) -> None:
    group, _, (mod, alice) = await _team(client, "moderator", "member")
    await create_item(client, mod, group["id"], owner_id=alice.id)
    factory = app.state.session_factory
    async with factory() as session:
        event = (
            await session.execute(
                select(Event).where(
                    col(Event.group_id) == uuid.UUID(group["id"]),
                    col(Event.type) == "action_item.assigned",
                )
            )
        ).scalar_one()
    # As when a crash before XACK makes the worker handle the event again.
    for _ in range(2):
        ctx = DispatchContext(settings=app.state.settings, redis=app.state.redis)
        async with factory() as session, session.begin():
            await handle_events(session, [event], ctx)
    async with factory() as session:
        count = await session.execute(
            select(func.count()).where(col(Notification.event_id) == event.id)
        )
        assert count.scalar_one() == 1
    assert await inbox_types(client, alice) == ["action_item.assigned"]


# --- the inbox -------------------------------------------------------------------------------


async def _notified(
    client: httpx.AsyncClient, dispatcher: Dispatcher, n: int
) -> tuple[TestUser, TestUser, list[dict[str, Any]]]:
    """Alice with `n` notifications (one assignment each), newest first."""
    group, _, (mod, alice) = await _team(client, "moderator", "member")
    for i in range(n):
        await create_item(client, mod, group["id"], owner_id=alice.id, title=f"item {i}")
    await dispatch_group(dispatcher, group["id"])
    notes = await inbox(client, alice)
    assert len(notes) == n
    return alice, mod, notes


async def test_inbox_newest_first_paginated_and_unread_filter(
    client: httpx.AsyncClient, dispatcher: Dispatcher
) -> None:
    alice, _, notes = await _notified(client, dispatcher, 5)
    assert [n["data"]["title"] for n in notes] == [f"item {i}" for i in range(4, -1, -1)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = await client.get("/notifications", params=params, headers=alice.headers)
        assert r.status_code == 200, r.text
        seen += [n["id"] for n in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == [n["id"] for n in notes]

    r = await client.post(f"/notifications/{notes[1]['id']}/read", headers=alice.headers)
    assert r.status_code == 200, r.text
    assert r.json()["read"] is True
    unread = await inbox(client, alice, unread="true")
    assert [n["id"] for n in unread] == [n["id"] for n in notes if n["id"] != notes[1]["id"]]
    assert [n["id"] for n in await inbox(client, alice, unread="false")] == [notes[1]["id"]]


async def test_unread_count_read_and_read_all(
    client: httpx.AsyncClient, dispatcher: Dispatcher
) -> None:
    alice, mod, notes = await _notified(client, dispatcher, 3)

    async def count(user: TestUser) -> int:
        r = await client.get("/notifications/unread-count", headers=user.headers)
        assert r.status_code == 200, r.text
        value: int = r.json()["count"]
        return value

    assert await count(alice) == 3
    first = await client.post(f"/notifications/{notes[0]['id']}/read", headers=alice.headers)
    again = await client.post(f"/notifications/{notes[0]['id']}/read", headers=alice.headers)
    assert first.status_code == again.status_code == 200
    assert first.json()["read_at"] == again.json()["read_at"]  # idempotent
    assert await count(alice) == 2
    # Someone else's notification does not exist for you.
    r = await client.post(f"/notifications/{notes[1]['id']}/read", headers=mod.headers)
    assert r.status_code == 404, r.text
    r = await client.post(f"/notifications/{uuid.uuid4()}/read", headers=alice.headers)
    assert r.status_code == 404, r.text

    r = await client.post("/notifications/read-all", headers=alice.headers)
    assert r.status_code == 200 and r.json() == {"marked_read": 2}
    assert await count(alice) == 0
    r = await client.post("/notifications/read-all", headers=alice.headers)
    assert r.json() == {"marked_read": 0}
    assert all(n["read"] for n in await inbox(client, alice))


# --- preferences -----------------------------------------------------------------------------


async def test_preferences_default_update_and_validation(client: httpx.AsyncClient) -> None:
    user = await make_user(client, "prefs")
    path = "/users/me/notification-preferences"
    r = await client.get(path, headers=user.headers)
    assert r.status_code == 200
    assert r.json() == {"email": "immediate", "muted_types": []}
    etag = r.headers["etag"]

    body = {"email": "daily", "muted_types": ["meeting.started", "proposal.commented"]}
    r = await client.put(path, json=body, headers={**user.headers, "If-Match": etag})
    assert r.status_code == 200, r.text
    assert r.json() == body
    r = await client.put(path, json=body, headers={**user.headers, "If-Match": etag})
    assert r.status_code == 412, r.text  # the stale ETag

    bad: list[dict[str, Any]] = [
        {"email": "daily", "muted_types": ["meeting.started", "no.such_type"]},
        {"email": "weekly"},
        {"email": "off", "muted_types": "meeting.started"},
        {"email": "off", "unknown": 1},
    ]
    for payload in bad:
        r = await client.put(path, json=payload, headers=user.headers)
        assert r.status_code == 422, (payload, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.get(path, headers=user.headers)
    assert r.json() == body  # nothing changed

    r = await client.put(path, json={"email": "off"}, headers=user.headers)
    assert r.json() == {"email": "off", "muted_types": []}


def test_every_notifiable_type_is_documented_and_worded(app: FastAPI) -> None:
    from app.notifications.templates import TEXTS

    description = app.openapi()["paths"]["/api/v1/notifications"]["get"]["description"]
    for type_ in NOTIFIABLE_TYPES:
        assert f"`{type_}`" in description
        for locale in ("en", "es"):
            assert type_ in TEXTS[locale], (locale, type_)


# --- live push -------------------------------------------------------------------------------


@pytest.fixture
async def ws_open(live_server: str) -> AsyncIterator[Callable[[TestUser], Any]]:
    clients: list[WsClient] = []

    async def open_(user: TestUser) -> WsClient:
        ws = await WsClient(f"ws://{live_server}/api/v1/ws", user.token).connect()
        clients.append(ws)
        return ws

    yield open_
    for ws in clients:
        await ws.close()


async def test_a_notification_is_pushed_to_its_users_websocket(
    client: httpx.AsyncClient, dispatcher: Dispatcher, ws_open: Callable[[TestUser], Any]
) -> None:
    group, _, (mod, alice) = await _team(client, "moderator", "member")
    alice_ws, mod_ws = await ws_open(alice), await ws_open(mod)
    # A round trip proves each connection is registered before anything is pushed.
    for ws in (alice_ws, mod_ws):
        await ws.send({"type": "ping"})
        await ws.wait_for_message("pong")
    item = await create_item(client, mod, group["id"], owner_id=alice.id)
    await dispatch_group(dispatcher, group["id"])

    pushed = await alice_ws.wait_for_message("notification")
    stored = (await inbox(client, alice))[0]
    assert pushed["notification"] == stored
    assert pushed["notification"]["data"]["subject"]["id"] == item["id"]
    assert not any(m["type"] == "notification" for m in mod_ws.messages)
