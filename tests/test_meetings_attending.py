"""Who comes to a meeting: observers attending, and the RSVP list with its counts (issue 14)."""

from __future__ import annotations

import httpx

from tests.helpers import add_member, events_of, make_group, make_user
from tests.test_meetings import call, create_meeting, live_meeting, member_with_org


async def test_observers_attend_but_do_not_take_the_floor(client: httpx.AsyncClient) -> None:
    owner = await make_user(client, "owner")
    guest = await make_user(client, "commission-staff")
    passer_by = await make_user(client, "passer-by")
    group = await make_group(client, owner, "public")
    gid = group["id"]
    await add_member(client, owner, gid, guest, "observer")
    member, org = await member_with_org(client, owner, gid, "promoter", "CR")
    mid = (await live_meeting(client, owner, gid))["id"]

    joined = await call(client, guest, "POST", f"/meetings/{mid}/join")
    assert joined["user_id"] == guest.id and joined["present"] is True
    await call(client, member, "POST", f"/meetings/{mid}/join")
    attendance = (await call(client, guest, "GET", f"/meetings/{mid}/attendance"))["items"]
    assert [(a["user_id"], a["present"]) for a in attendance] == [
        (guest.id, True),
        (member.id, True),
    ]
    assert attendance[1]["organization"]["id"] == org["id"]
    events = [e for e in await events_of(client, owner, gid) if e["actor_id"] == guest.id]
    assert [e["type"] for e in events] == ["meeting.attendee_joined"]

    # Attending is not writing: the floor, RSVPs and the record stay with members.
    await call(client, guest, "POST", f"/meetings/{mid}/hands", 403)
    await call(client, guest, "PUT", f"/meetings/{mid}/rsvp", 403, json={"response": "yes"})
    await call(client, guest, "POST", f"/meetings/{mid}/decisions", 403, json={"text": "No"})
    # A public group is readable by anyone signed in, but only its members attend.
    await call(client, passer_by, "GET", f"/meetings/{mid}/attendance")
    await call(client, passer_by, "POST", f"/meetings/{mid}/join", 403)
    await call(client, passer_by, "POST", f"/meetings/{mid}/leave", 403)

    left = await call(client, guest, "POST", f"/meetings/{mid}/leave")
    assert left["present"] is False and len(left["stays"]) == 1
    # Joining a meeting that is not live is still a 409, for observers too.
    scheduled = await create_meeting(client, owner, gid)
    await call(client, guest, "POST", f"/meetings/{scheduled['id']}/join", 409)
