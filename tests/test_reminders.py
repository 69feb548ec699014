"""Reminders (the arq cron, called directly with a `now`): due-soon once, overdue at most once
a day, and a meeting reminder to members who did not answer "no"."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from app.models.base import utcnow
from app.notifications import tasks
from tests.helpers import TestUser, add_member, events_of, make_group, make_user
from tests.notifications_support import (
    create_item,
    create_meeting,
    dispatch_group,
    inbox_types,
    make_dispatcher,
    worker_ctx,
)


async def _team(client: httpx.AsyncClient) -> tuple[str, TestUser, TestUser, TestUser]:
    owner, mod, alice = [await make_user(client, n) for n in ("owner", "mod", "alice")]
    group = await make_group(client, owner)
    await add_member(client, owner, group["id"], mod, "moderator")
    await add_member(client, owner, group["id"], alice, "member")
    return group["id"], owner, mod, alice


KINDS = ("action_item.due_soon", "action_item.overdue", "meeting.reminder")


async def _reminders(client: httpx.AsyncClient, user: TestUser, gid: str) -> list[dict[str, Any]]:
    return [e for e in await events_of(client, user, gid) if e["type"] in KINDS]


def _noon(days: int = 0) -> datetime:
    """Noon UTC, `days` from today: far from midnight, so "today" is unambiguous."""
    return datetime.combine(utcnow().date() + timedelta(days=days), time(12), tzinfo=UTC)


async def test_due_soon_once_per_item_on_its_due_date(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    gid, owner, mod, alice = await _team(client)
    now = _noon()
    today, tomorrow = now.date(), now.date() + timedelta(days=1)
    due_today = await create_item(client, mod, gid, owner_id=alice.id, due_date=str(today))
    due_tomorrow = await create_item(
        client, mod, gid, owner_id=alice.id, due_date=str(tomorrow), title="Tomorrow"
    )
    await create_item(client, mod, gid, due_date=str(today), title="Nobody's")  # no owner
    done = await create_item(client, mod, gid, owner_id=alice.id, due_date=str(today))
    r = await client.patch(
        f"/action-items/{done['id']}", json={"status": "done"}, headers=mod.headers
    )
    assert r.status_code == 200, r.text
    etag = (await client.get(f"/action-items/{due_today['id']}", headers=mod.headers)).headers[
        "etag"
    ]

    ctx = worker_ctx(app)
    await tasks.send_reminders(ctx, now=now)
    await tasks.send_reminders(ctx, now=now + timedelta(hours=11))  # the same day: no repeat
    (event,) = await _reminders(client, owner, gid)
    assert event["type"] == "action_item.due_soon"
    assert event["actor_id"] is None
    assert event["subject"] == {"type": "action_item", "id": due_today["id"]}
    assert event["data"]["due_at"] == f"{tomorrow}T00:00:00+00:00"  # end of the due date, UTC
    # Bookkeeping is not an edit: the item's ETag is unchanged.
    r = await client.get(f"/action-items/{due_today['id']}", headers=mod.headers)
    assert r.headers["etag"] == etag

    # Next day: the second item is due; the first is now overdue.
    await tasks.send_reminders(ctx, now=now + timedelta(days=1))
    got = [(e["type"], e["subject"]["id"]) for e in await _reminders(client, owner, gid)]
    assert got == [
        ("action_item.due_soon", due_today["id"]),
        ("action_item.due_soon", due_tomorrow["id"]),
        ("action_item.overdue", due_today["id"]),
    ]
    await dispatch_group(make_dispatcher(app), gid)
    assert [t for t in await inbox_types(client, alice) if t in KINDS] == [
        "action_item.due_soon",
        "action_item.due_soon",
        "action_item.overdue",
    ]


async def test_moving_the_due_date_arms_due_soon_again(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    gid, owner, mod, alice = await _team(client)
    now = _noon()
    item = await create_item(client, mod, gid, owner_id=alice.id, due_date=str(now.date()))
    ctx = worker_ctx(app)
    await tasks.send_reminders(ctx, now=now)
    later = now.date() + timedelta(days=3)
    r = await client.patch(
        f"/action-items/{item['id']}", json={"due_date": str(later)}, headers=mod.headers
    )
    assert r.status_code == 200, r.text
    await tasks.send_reminders(ctx, now=now + timedelta(days=3))
    await tasks.send_reminders(ctx, now=now + timedelta(days=3, hours=1))
    assert [e["data"]["due_at"][:10] for e in await _reminders(client, owner, gid)] == [
        str(now.date() + timedelta(days=1)),
        str(later + timedelta(days=1)),
    ]


async def test_overdue_at_most_once_a_day_until_done(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    gid, owner, mod, alice = await _team(client)
    now = _noon()
    item = await create_item(
        client, mod, gid, owner_id=alice.id, due_date=str(now.date() - timedelta(days=2))
    )
    ctx = worker_ctx(app)
    for hours in (0, 1, 6):
        await tasks.send_reminders(ctx, now=now + timedelta(hours=hours))
    await tasks.send_reminders(ctx, now=now + timedelta(days=1))
    await tasks.send_reminders(ctx, now=now + timedelta(days=1, hours=3))
    events = await _reminders(client, owner, gid)
    assert [(e["type"], e["data"]["days_overdue"]) for e in events] == [
        ("action_item.overdue", 2),
        ("action_item.overdue", 3),
    ]
    r = await client.patch(
        f"/action-items/{item['id']}", json={"status": "done"}, headers=alice.headers
    )
    assert r.status_code == 200, r.text
    await tasks.send_reminders(ctx, now=now + timedelta(days=2))
    assert len(await _reminders(client, owner, gid)) == 2


async def test_meeting_reminder_an_hour_before_to_members_not_declined(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    gid, owner, mod, alice = await _team(client)
    names = ("bob", "carol", "olga", "oscar")
    bob, carol, olga, oscar = [await make_user(client, n) for n in names]
    for user, role in ((bob, "member"), (carol, "member"), (olga, "member"), (oscar, "observer")):
        await add_member(client, owner, gid, user, role)
    now = utcnow()
    soon = now + timedelta(minutes=30)
    meeting = await create_meeting(
        client, mod, gid, soon.isoformat(), (soon + timedelta(hours=1)).isoformat()
    )
    later = now + timedelta(hours=3)
    other = await create_meeting(
        client, mod, gid, later.isoformat(), (later + timedelta(hours=1)).isoformat()
    )
    for user, answer in ((alice, "no"), (bob, "yes"), (carol, "maybe")):
        r = await client.put(
            f"/meetings/{meeting['id']}/rsvp", json={"response": answer}, headers=user.headers
        )
        assert r.status_code == 200, r.text
    # Olga said no to the other meeting only: she is reminded of this one.
    r = await client.put(
        f"/meetings/{other['id']}/rsvp", json={"response": "no"}, headers=olga.headers
    )
    assert r.status_code == 200, r.text

    ctx = worker_ctx(app)
    await tasks.send_reminders(ctx, now=now)
    await tasks.send_reminders(ctx, now=now + timedelta(minutes=5))
    (event,) = await _reminders(client, owner, gid)
    assert event["type"] == "meeting.reminder" and event["actor_id"] is None
    assert event["subject"] == {"type": "meeting", "id": meeting["id"]}
    assert event["data"]["starts_in_minutes"] == 30

    await dispatch_group(make_dispatcher(app), gid)
    reminded = {
        user.name
        for user in (owner, mod, alice, bob, carol, olga, oscar)
        if "meeting.reminder" in await inbox_types(client, user)
    }
    assert reminded == {"owner", "mod", "bob", "carol", "olga", "oscar"}

    # The other meeting: reminded once it is an hour away.
    await tasks.send_reminders(ctx, now=now + timedelta(hours=2, minutes=5))
    await tasks.send_reminders(ctx, now=now + timedelta(hours=2, minutes=10))
    subjects = [e["subject"]["id"] for e in await _reminders(client, owner, gid)]
    assert subjects == [meeting["id"], other["id"]]
