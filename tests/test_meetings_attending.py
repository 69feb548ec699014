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


async def test_rsvp_list_includes_those_who_have_not_answered(client: httpx.AsyncClient) -> None:
    owner = await make_user(client, "owner")
    chair = await make_user(client, "chair")
    watcher = await make_user(client, "watcher")
    stranger = await make_user(client, "stranger")
    group = await make_group(client, owner)
    gid = group["id"]
    await add_member(client, owner, gid, chair, "moderator")
    await add_member(client, owner, gid, watcher, "observer")
    ar, _ = await member_with_org(client, owner, gid, "promoter-AR", "AR")
    co, _ = await member_with_org(client, owner, gid, "promoter-CO", "CO")
    mx, _ = await member_with_org(client, owner, gid, "promoter-MX", "MX")
    meeting = await create_meeting(client, chair, gid)
    mid = meeting["id"]
    rsvp = f"/meetings/{mid}/rsvp"
    await call(client, ar, "PUT", rsvp, json={"response": "yes"})
    await call(client, co, "PUT", rsvp, json={"response": "maybe"})
    await call(client, co, "PUT", rsvp, json={"response": "no"})  # the last answer counts

    # Those who may answer, in the member list's order; observers cannot answer, so they are
    # neither listed nor counted as missing.
    listed = await call(client, chair, "GET", f"/meetings/{mid}/rsvps")
    assert listed["next_cursor"] is None
    assert [(i["user_id"], i["role"], i["response"]) for i in listed["items"]] == [
        (owner.id, "owner", None),
        (chair.id, "moderator", None),
        (ar.id, "member", "yes"),
        (co.id, "member", "no"),
        (mx.id, "member", None),
    ]
    assert listed["items"][2]["name"] == "promoter-AR"
    assert listed["items"][2]["responded_at"] is not None
    assert listed["items"][4]["responded_at"] is None
    counts = {"yes": 1, "no": 1, "maybe": 0, "none": 3}
    for reader in (watcher, ar):  # every reader sees the counts
        assert (await call(client, reader, "GET", f"/meetings/{mid}"))["rsvp_counts"] == counts

    # Paginated like every list: two pages of two and one of one, nobody repeated or missed.
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await call(client, owner, "GET", f"/meetings/{mid}/rsvps", params=params)
        assert len(page["items"]) <= 2
        seen += [i["user_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [i["user_id"] for i in listed["items"]]

    # Only those who run the meeting see who answered what.
    for user in (ar, watcher):
        await call(client, user, "GET", f"/meetings/{mid}/rsvps", 403)
    await call(client, stranger, "GET", f"/meetings/{mid}/rsvps", 404)
    await call(client, owner, "GET", f"/meetings/{mid}/rsvps", 400, params={"cursor": "x"})
    # Another meeting of the group counts its own answers only.
    other = await create_meeting(client, chair, gid)
    assert (await call(client, co, "GET", f"/meetings/{other['id']}"))["rsvp_counts"] == {
        "yes": 0,
        "no": 0,
        "maybe": 0,
        "none": 5,
    }
