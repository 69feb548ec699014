"""Authorization matrix rows for the meeting routes (see tests/authz_base.py).

The world's meeting is live, moderated by the world's moderator, with three agenda items, an
item to act on, published minutes and a decision. Moderators and owners run meetings; every
role but observer takes part (RSVP, raise a hand); every role attends (join, leave), observers
included; every reader reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.authz_base import (
    API,
    CALLERS,
    Case,
    Fresh,
    World,
    group_read,
    json_body,
    member_write,
    moderator_write,
    observer_write,
)
from tests.test_meetings import call, meeting_body

M = f"{API}/meetings/{{meeting_id}}"
CALLERS_WHO_FRESHEN = len(CALLERS)  # `fresh` runs before each caller, anonymous included


async def _new_meeting(client: httpx.AsyncClient, world: World, *, live: bool) -> str:
    owner = world.users["owner"]
    body = meeting_body(moderator_id=world.users["moderator"].id)
    meeting_id: str = (
        await call(client, owner, "POST", f"/groups/{world.group_id}/meetings", 201, json=body)
    )["id"]
    if live:
        await call(client, owner, "POST", f"/meetings/{meeting_id}/start")
    return meeting_id


async def _new_item(client: httpx.AsyncClient, world: World, title: str) -> str:
    path = f"/meetings/{world.ids['meeting_id']}/agenda-items"
    item = await call(client, world.users["owner"], "POST", path, 201, json={"title": title})
    item_id: str = item["id"]
    return item_id


def fresh_meeting(*, live: bool) -> Fresh:
    """Each caller acts on a new meeting (a lifecycle move succeeds only once)."""

    async def fresh(client: httpx.AsyncClient, world: World, caller: str) -> None:
        world.ids["meeting_id"] = await _new_meeting(client, world, live=live)

    return fresh


async def _fresh_item(client: httpx.AsyncClient, world: World, caller: str) -> None:
    world.ids["item_id"] = await _new_item(client, world, "To delete")


def as_caller(action: str) -> Fresh:
    """The caller first does `action` on the world's meeting themselves, when they may."""

    async def fresh(client: httpx.AsyncClient, world: World, caller: str) -> None:
        user = world.users.get(caller)
        if user is not None:
            await client.post(f"/meetings/{world.ids['meeting_id']}/{action}", headers=user.headers)

    return fresh


async def _extra_raises_hand(client: httpx.AsyncClient, world: World, caller: str) -> None:
    r = await client.post(f"/meetings/{world.ids['meeting_id']}/hands", headers=world.extra.headers)
    assert r.status_code in (200, 201), r.text


def per_caller(make: Callable[[str], dict[str, Any]]) -> Callable[[World, str], dict[str, Any]]:
    """A body that differs per caller, so each allowed write really changes something."""
    return lambda world, caller: {"json": make(caller)}


RUNNERS, PARTICIPANTS, ATTENDEES = 2, 3, 4  # moderator + owner; + member; + observer

MATRIX: dict[tuple[str, str], Case] = {
    ("POST", f"{API}/groups/{{group_id}}/meetings"): Case(
        moderator_write(201), json_body(meeting_body()), events=RUNNERS
    ),
    ("GET", f"{API}/groups/{{group_id}}/meetings"): Case(group_read()),
    ("GET", f"{API}/groups/{{group_id}}/calendar.ics"): Case(group_read()),
    ("GET", f"{M}.ics"): Case(group_read()),
    ("GET", M): Case(group_read()),
    ("PATCH", M): Case(
        moderator_write(200), per_caller(lambda c: {"title": f"Renamed by {c}"}), events=RUNNERS
    ),
    # Each caller gets a new meeting: the fresh ones' events plus the allowed moves.
    ("POST", f"{M}/start"): Case(
        moderator_write(200),
        fresh=fresh_meeting(live=False),
        events=CALLERS_WHO_FRESHEN + RUNNERS,
    ),
    ("POST", f"{M}/end"): Case(
        moderator_write(200),
        fresh=fresh_meeting(live=True),
        events=2 * CALLERS_WHO_FRESHEN + RUNNERS,
    ),
    ("POST", f"{M}/cancel"): Case(
        moderator_write(200),
        fresh=fresh_meeting(live=False),
        events=CALLERS_WHO_FRESHEN + RUNNERS,
    ),
    ("GET", f"{M}/agenda-items"): Case(group_read()),
    ("POST", f"{M}/agenda-items"): Case(
        moderator_write(201), json_body({"title": "Another item"}), events=RUNNERS
    ),
    ("PATCH", f"{API}/agenda-items/{{item_id}}"): Case(
        moderator_write(200), per_caller(lambda c: {"title": f"Item by {c}"}), events=RUNNERS
    ),
    ("DELETE", f"{API}/agenda-items/{{item_id}}"): Case(
        moderator_write(204), fresh=_fresh_item, events=CALLERS_WHO_FRESHEN + RUNNERS
    ),
    # Three items: the moderator moves to the first, the owner to the second.
    ("POST", f"{M}/agenda/advance"): Case(moderator_write(200), events=RUNNERS),
    ("PUT", f"{M}/rsvp"): Case(
        member_write(200), json_body({"response": "yes"}), events=PARTICIPANTS
    ),
    # A read, but only for those who run the meeting: the same statuses as their writes.
    ("GET", f"{M}/rsvps"): Case(moderator_write(200)),
    ("POST", f"{M}/join"): Case(observer_write(200), events=ATTENDEES),
    # Attendees join first, then leave: a join and a leave each.
    ("POST", f"{M}/leave"): Case(
        observer_write(200), fresh=as_caller("join"), events=2 * ATTENDEES
    ),
    ("GET", f"{M}/attendance"): Case(group_read()),
    ("POST", f"{M}/hands"): Case(member_write(201), events=PARTICIPANTS),
    ("DELETE", f"{M}/hands/me"): Case(
        member_write(204), fresh=as_caller("hands"), events=2 * PARTICIPANTS
    ),
    ("GET", f"{M}/hands"): Case(group_read()),
    # The extra member keeps a hand up: raised before the first caller and again after the
    # moderator gave them the floor; each allowed call gives it to them.
    ("POST", f"{M}/hands/next"): Case(
        moderator_write(200), fresh=_extra_raises_hand, events=2 * RUNNERS
    ),
    ("GET", f"{M}/minutes"): Case(group_read()),
    ("PUT", f"{M}/minutes"): Case(
        moderator_write(200),
        per_caller(lambda c: {"body": f"# Minutes by {c}", "published": True}),
        events=RUNNERS,
    ),
    ("GET", f"{M}/decisions"): Case(group_read()),
    # The world's meeting is live: its report is a draft for those who run it, not yet (409)
    # for the other readers.
    ("GET", f"{M}/report"): Case(moderator_write(200) | {"member": 409, "observer": 409}),
    ("GET", f"{M}/report.md"): Case(moderator_write(200) | {"member": 409, "observer": 409}),
    ("POST", f"{M}/decisions"): Case(
        moderator_write(201), json_body({"text": "Decided"}), events=RUNNERS
    ),
}


async def build(client: httpx.AsyncClient, world: World) -> None:
    owner = world.users["owner"]
    meeting_id = world.ids["meeting_id"] = await _new_meeting(client, world, live=True)
    for title in ("Welcome", "Diagnosis", "Debate"):
        world.ids["item_id"] = await _new_item(client, world, title)
    minutes = {"body": "# Minutes", "published": True}
    await call(client, owner, "PUT", f"/meetings/{meeting_id}/minutes", json=minutes)
    decision = {"text": "Form the group"}
    await call(client, owner, "POST", f"/meetings/{meeting_id}/decisions", 201, json=decision)
