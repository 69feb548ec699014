"""Meetings through the HTTP API: a whole founding meeting, bad input and wrong states.

The helpers at the top are shared with the other tests/test_meetings_*.py modules.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from tests.helpers import TestUser as ApiUser
from tests.helpers import add_member, events_of, make_group, make_user, unique

SANTIAGO = "America/Santiago"
JOIN_URL = "https://meet.example.org/wg-founding"


def meeting_body(**overrides: Any) -> dict[str, Any]:
    """A Thursday in September, 15:00 to 17:00 in Santiago (UTC-3 then)."""
    return {
        "title": "Founding meeting",
        "starts_at": "2026-09-17T15:00:00-03:00",
        "ends_at": "2026-09-17T17:00:00-03:00",
        "timezone": SANTIAGO,
        "mode": "virtual",
        "join_url": JOIN_URL,
        **overrides,
    }


async def call(
    client: httpx.AsyncClient,
    user: ApiUser | None,
    method: str,
    path: str,
    expect: int = 200,
    **kwargs: Any,
) -> Any:
    """Make a request, assert its status, return its JSON body (None when there is none)."""
    headers = {**(user.headers if user else {}), **kwargs.pop("headers", {})}
    r = await client.request(method, path, headers=headers, **kwargs)
    assert r.status_code == expect, f"{method} {path}: {r.status_code} {r.text}"
    return r.json() if r.content and "json" in r.headers.get("content-type", "") else None


async def create_meeting(
    client: httpx.AsyncClient, user: ApiUser, group_id: str, **overrides: Any
) -> dict[str, Any]:
    meeting: dict[str, Any] = await call(
        client, user, "POST", f"/groups/{group_id}/meetings", 201, json=meeting_body(**overrides)
    )
    return meeting


async def live_meeting(
    client: httpx.AsyncClient, user: ApiUser, group_id: str, **overrides: Any
) -> dict[str, Any]:
    meeting = await create_meeting(client, user, group_id, **overrides)
    live: dict[str, Any] = await call(client, user, "POST", f"/meetings/{meeting['id']}/start")
    return live


async def member_with_org(
    client: httpx.AsyncClient, owner: ApiUser, group_id: str, name: str, country: str
) -> tuple[ApiUser, dict[str, Any]]:
    """A member of the group representing a new cluster organization of `country`."""
    user = await make_user(client, name)
    org = await call(
        client,
        user,
        "POST",
        "/organizations",
        201,
        json={"name": unique(f"{country} cluster"), "kind": "cluster", "country": country},
    )
    await call(
        client,
        owner,
        "POST",
        f"/groups/{group_id}/members",
        201,
        json={"user_id": user.id, "role": "member", "organization_id": org["id"]},
    )
    return user, org


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def new_events(
    client: httpx.AsyncClient, user: ApiUser, group_id: str, after: int
) -> list[dict[str, Any]]:
    return [e for e in await events_of(client, user, group_id) if e["seq"] > after]


async def last_seq(client: httpx.AsyncClient, user: ApiUser, group_id: str) -> int:
    seq: int = (await call(client, user, "GET", f"/groups/{group_id}"))["last_seq"]
    return seq


# --- the founding meeting, start to end ----------------------------------------------------

COUNTRIES = ("AR", "CO", "CR", "CU", "MX")
FOCUS_AREAS = ("Adoption", "Supply", "Visibility")


async def test_founding_meeting_runs_start_to_end(client: httpx.AsyncClient) -> None:
    director = await make_user(client, "director")
    officer = await make_user(client, "officer")
    observer = await make_user(client, "observer")
    group = await make_group(client, director)
    gid = group["id"]
    await add_member(client, director, gid, officer, "moderator")
    await add_member(client, director, gid, observer, "observer")
    promoters: dict[str, ApiUser] = {}
    orgs: dict[str, dict[str, Any]] = {}
    for country in COUNTRIES:
        promoters[country], orgs[country] = await member_with_org(
            client, director, gid, f"promoter-{country}", country
        )
    areas = [
        await call(client, director, "POST", f"/groups/{gid}/focus-areas", 201, json={"title": t})
        for t in FOCUS_AREAS
    ]
    ar, co, cr, cu, mx = (promoters[c] for c in COUNTRIES)
    seq0 = await last_seq(client, director, gid)
    expected: list[str] = []  # event types, appended as each step should record them

    # Scheduling: times in UTC with Z, the moderator is the officer.
    meeting = await create_meeting(client, officer, gid, moderator_id=officer.id)
    expected.append("meeting.scheduled")
    mid = meeting["id"]
    assert meeting["status"] == "scheduled"
    assert meeting["starts_at"] == "2026-09-17T18:00:00Z"
    assert meeting["ends_at"] == "2026-09-17T20:00:00Z"
    assert meeting["timezone"] == SANTIAGO
    assert meeting["moderator_id"] == officer.id
    assert meeting["allowed_actions"] == ["start", "cancel"]
    listed = await call(client, observer, "GET", f"/groups/{gid}/meetings")
    assert [m["id"] for m in listed["items"]] == [mid]

    # The agenda: created out of order, then "Closing" moved to the end.
    agenda_path = f"/meetings/{mid}/agenda-items"
    closing = await call(
        client,
        officer,
        "POST",
        agenda_path,
        201,
        json={"title": "Closing", "speaker_id": director.id},
    )
    welcome = await call(
        client,
        officer,
        "POST",
        agenda_path,
        201,
        json={
            "title": "Welcoming remarks: three traps; the digital adoption gap",
            "speaker_id": director.id,
            "duration_minutes": 15,
            "position": 1,
        },
    )
    diagnosis = await call(
        client,
        officer,
        "POST",
        agenda_path,
        201,
        json={"title": "Preliminary diagnosis", "speaker_id": officer.id, "position": 2},
    )
    debates = [
        await call(
            client,
            officer,
            "POST",
            agenda_path,
            201,
            json={"title": f"Debate: {a['title']}", "focus_area_id": a["id"]},
        )
        for a in areas
    ]
    expected += ["meeting.agenda_updated"] * 6
    await call(client, officer, "PATCH", f"/agenda-items/{closing['id']}", json={"position": 99})
    expected.append("meeting.agenda_updated")
    items = (await call(client, observer, "GET", agenda_path))["items"]
    order = [welcome, diagnosis, *debates, closing]
    assert [i["id"] for i in items] == [i["id"] for i in order]
    assert [i["position"] for i in items] == [1, 2, 3, 4, 5, 6]

    # RSVPs before the meeting; answering the same again records nothing.
    for user in promoters.values():
        rsvp = await call(client, user, "PUT", f"/meetings/{mid}/rsvp", json={"response": "yes"})
        assert rsvp["response"] == "yes"
    await call(client, cu, "PUT", f"/meetings/{mid}/rsvp", json={"response": "maybe"})
    await call(client, cu, "PUT", f"/meetings/{mid}/rsvp", json={"response": "maybe"})
    expected += ["meeting.rsvp"] * 6
    await call(client, ar, "POST", f"/meetings/{mid}/join", 409)
    await call(client, observer, "PUT", f"/meetings/{mid}/rsvp", 403, json={"response": "yes"})

    # Live.
    meeting = await call(client, officer, "POST", f"/meetings/{mid}/start")
    expected.append("meeting.started")
    assert meeting["status"] == "live"
    assert meeting["allowed_actions"] == ["end", "cancel"]
    for user in promoters.values():
        attendee = await call(client, user, "POST", f"/meetings/{mid}/join")
        assert attendee["present"] is True
    await call(client, ar, "POST", f"/meetings/{mid}/join")  # already present: nothing new
    expected += ["meeting.attendee_joined"] * 5
    await call(client, cr, "POST", f"/meetings/{mid}/leave")
    await call(client, cr, "POST", f"/meetings/{mid}/join")
    expected += ["meeting.attendee_left", "meeting.attendee_joined"]

    # The welcoming remarks give the floor to the director.
    meeting = await call(client, officer, "POST", f"/meetings/{mid}/agenda/advance")
    expected += ["meeting.agenda_advanced", "meeting.speaker_changed"]
    assert meeting["current_agenda_item_id"] == welcome["id"]
    assert meeting["current_speaker_id"] == director.id
    meeting = await call(client, officer, "POST", f"/meetings/{mid}/agenda/advance")
    expected += ["meeting.agenda_advanced", "meeting.speaker_changed"]
    assert meeting["current_agenda_item_id"] == diagnosis["id"]
    meeting = await call(client, officer, "POST", f"/meetings/{mid}/agenda/advance")
    expected.append("meeting.agenda_advanced")  # a debate has no set speaker
    assert meeting["current_agenda_item_id"] == debates[0]["id"]
    assert meeting["current_speaker_id"] == officer.id

    # The floor: FIFO, one entry per user, lowering leaves the queue.
    hands_path = f"/meetings/{mid}/hands"
    for position, user in enumerate((ar, co, mx), start=1):
        hand = await call(client, user, "POST", hands_path, 201)
        assert (hand["user_id"], hand["position"]) == (user.id, position)
    again = await call(client, ar, "POST", hands_path, 200)
    assert again["position"] == 1
    await call(client, co, "DELETE", f"{hands_path}/me", 204)
    await call(client, co, "DELETE", f"{hands_path}/me", 204)  # not raised: nothing
    await call(client, cu, "POST", hands_path, 201)
    expected += ["meeting.hand_raised"] * 3 + ["meeting.hand_lowered", "meeting.hand_raised"]
    queue = (await call(client, observer, "GET", hands_path))["items"]
    assert [(h["user_id"], h["position"]) for h in queue] == [(ar.id, 1), (mx.id, 2), (cu.id, 3)]
    await call(client, observer, "POST", hands_path, 403)
    await call(client, mx, "POST", f"{hands_path}/next", 403)
    meeting = await call(client, officer, "POST", f"{hands_path}/next")
    assert meeting["current_speaker_id"] == ar.id
    meeting = await call(client, director, "POST", f"{hands_path}/next")
    assert meeting["current_speaker_id"] == mx.id
    expected += ["meeting.speaker_changed"] * 2
    queue = (await call(client, observer, "GET", hands_path))["items"]
    assert [h["user_id"] for h in queue] == [cu.id]

    for _ in range(3):  # the two other debates, then the closing
        await call(client, officer, "POST", f"/meetings/{mid}/agenda/advance")
        expected.append("meeting.agenda_advanced")
    expected.append("meeting.speaker_changed")  # the director closes
    await call(client, officer, "POST", f"/meetings/{mid}/agenda/advance", 409)

    # Decisions with their action items; a bad owner writes nothing at all.
    outsider = await make_user(client, "outsider")
    seq_before_bad = await last_seq(client, director, gid)
    bad = await call(
        client,
        officer,
        "POST",
        f"/meetings/{mid}/decisions",
        422,
        json={
            "text": "Should not exist",
            "action_items": [
                {"title": "Fine", "owner_id": ar.id},
                {"title": "Owner outside the group", "owner_id": outsider.id},
            ],
        },
    )
    assert bad["errors"][0]["loc"] == ["body", "action_items.1.owner_id"]
    assert await last_seq(client, director, gid) == seq_before_bad
    assert (await call(client, observer, "GET", f"/meetings/{mid}/decisions"))["items"] == []

    form = await call(
        client,
        officer,
        "POST",
        f"/meetings/{mid}/decisions",
        201,
        json={
            "text": "Form the working group",
            "action_items": [
                {"title": "Name each cluster's focal point", "owner_id": ar.id,
                 "due_date": "2026-10-01"},
                {"title": "Circulate the terms of reference", "owner_id": officer.id,
                 "due_date": "2026-10-15"},
            ],
        },
    )  # fmt: skip
    expected += ["action_item.created", "action_item.assigned"] * 2
    expected.append("meeting.decision_recorded")
    roadmap = await call(
        client,
        director,
        "POST",
        f"/meetings/{mid}/decisions",
        201,
        json={
            "text": "Define a roadmap",
            "action_items": [
                {"title": f"Roadmap: {a['title']}", "owner_id": owner.id,
                 "due_date": "2026-11-30", "focus_area_id": a["id"]}
                for a, owner in zip(areas, (co, cr, mx), strict=True)
            ],
        },
    )  # fmt: skip
    expected += ["action_item.created", "action_item.assigned"] * 3
    expected.append("meeting.decision_recorded")
    assert [(i["title"], i["owner_id"], i["due_date"]) for i in form["action_items"]] == [
        ("Name each cluster's focal point", ar.id, "2026-10-01"),
        ("Circulate the terms of reference", officer.id, "2026-10-15"),
    ]
    for item in form["action_items"] + roadmap["action_items"]:
        assert (item["decision_id"], item["meeting_id"], item["status"]) in {
            (form["id"], mid, "todo"),
            (roadmap["id"], mid, "todo"),
        }
    assert [i["focus_area_id"] for i in roadmap["action_items"]] == [a["id"] for a in areas]
    decisions = (await call(client, mx, "GET", f"/meetings/{mid}/decisions"))["items"]
    assert [d["text"] for d in decisions] == ["Form the working group", "Define a roadmap"]
    assert [len(d["action_items"]) for d in decisions] == [2, 3]

    # Cuba leaves early; ending closes the others' stays and clears the floor.
    await call(client, cu, "POST", f"/meetings/{mid}/leave")
    expected.append("meeting.attendee_left")
    meeting = await call(client, officer, "POST", f"/meetings/{mid}/end")
    expected.append("meeting.ended")
    assert meeting["status"] == "ended"
    assert meeting["allowed_actions"] == []
    assert meeting["current_speaker_id"] is None
    assert meeting["current_agenda_item_id"] == closing["id"]
    assert (await call(client, observer, "GET", hands_path))["items"] == []
    await call(client, ar, "POST", f"/meetings/{mid}/join", 409)
    await call(client, ar, "POST", hands_path, 409)

    finished = parse_time(meeting["finished_at"])
    attendance = (await call(client, observer, "GET", f"/meetings/{mid}/attendance"))["items"]
    assert [a["user_id"] for a in attendance] == [promoters[c].id for c in COUNTRIES]
    for country, attendee in zip(COUNTRIES, attendance, strict=True):
        assert attendee["organization"]["id"] == orgs[country]["id"]
        assert attendee["organization"]["country"] == country
        assert attendee["present"] is False
        stays = attendee["stays"]
        assert len(stays) == (2 if country == "CR" else 1)
        spans = [parse_time(s["left_at"]) - parse_time(s["joined_at"]) for s in stays]
        assert all(span.total_seconds() >= 0 for span in spans)
        assert abs(attendee["total_seconds"] - sum(s.total_seconds() for s in spans)) < 1e-5
        last_left = parse_time(stays[-1]["left_at"])
        assert (last_left < finished) if country == "CU" else (last_left == finished)

    # Minutes: a draft only the moderators see, then published.
    minutes_path = f"/meetings/{mid}/minutes"
    draft = await call(
        client, officer, "PUT", minutes_path, json={"body": "# Minutes (draft)", "published": False}
    )
    assert draft["published_at"] is None
    await call(client, mx, "GET", minutes_path, 404)
    assert (await call(client, director, "GET", minutes_path))["body"] == "# Minutes (draft)"
    published = await call(
        client, officer, "PUT", minutes_path, json={"body": "# Minutes", "published": True}
    )
    await call(client, officer, "PUT", minutes_path, json={"body": "# Minutes", "published": True})
    expected += ["meeting.minutes_updated", "meeting.minutes_published"]
    assert published["published"] is True
    assert parse_time(published["published_at"]) >= finished
    assert (await call(client, mx, "GET", minutes_path))["body"] == "# Minutes"

    # The history: every step's events, in order, with consecutive seq.
    events = await new_events(client, observer, gid, seq0)
    assert [e["type"] for e in events] == expected
    assert [e["seq"] for e in events] == list(range(seq0 + 1, seq0 + 1 + len(expected)))
    for event in events:
        if event["type"].startswith("meeting."):
            assert event["subject"] == {"type": "meeting", "id": mid}
            assert event["data"]["meeting"]["id"] == mid
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_type.setdefault(event["type"], []).append(event["data"])
    raised = by_type["meeting.hand_raised"]
    assert [(d["hand"]["user_id"], d["hand"]["position"]) for d in raised] == [
        (ar.id, 1), (co.id, 2), (mx.id, 3), (cu.id, 3),
    ]  # fmt: skip
    speakers = [(d["speaker"]["id"], d["source"]) for d in by_type["meeting.speaker_changed"]]
    assert speakers == [
        (director.id, "agenda"), (officer.id, "agenda"), (ar.id, "queue"), (mx.id, "queue"),
        (director.id, "agenda"),
    ]  # fmt: skip
    ended = by_type["meeting.ended"][0]
    assert sorted(ended["attendees_left"]) == sorted(
        promoters[c].id for c in ("AR", "CO", "CR", "MX")
    )
    assert ended["hands_cleared"] == [cu.id]
    assert ended["previous_speaker_id"] == director.id
    assert by_type["meeting.rsvp"][-1]["counts"] == {"yes": 4, "no": 0, "maybe": 1}
    recorded = by_type["meeting.decision_recorded"]
    assert [len(d["decision"]["action_items"]) for d in recorded] == [2, 3]
    assert by_type["meeting.minutes_published"][0]["minutes"]["body"] == "# Minutes"


async def test_designated_moderator_runs_their_meeting(client: httpx.AsyncClient) -> None:
    owner, chair, other, watcher = [await make_user(client, n) for n in ("o", "c", "m", "w")]
    gid = (await make_group(client, owner))["id"]
    for user in (chair, other):
        await add_member(client, owner, gid, user, "member")
    await add_member(client, owner, gid, watcher, "observer")
    await call(client, owner, "POST", f"/groups/{gid}/meetings", 422,
               json=meeting_body(moderator_id=watcher.id))  # fmt: skip
    await call(client, chair, "POST", f"/groups/{gid}/meetings", 403, json=meeting_body())
    meeting = await create_meeting(client, owner, gid, moderator_id=chair.id)
    mid = meeting["id"]
    await call(client, other, "POST", f"/meetings/{mid}/start", 403)
    assert (await call(client, chair, "POST", f"/meetings/{mid}/start"))["status"] == "live"
    await call(client, other, "POST", f"/meetings/{mid}/hands", 201)
    await call(client, other, "POST", f"/meetings/{mid}/hands/next", 403)
    assert (await call(client, chair, "POST", f"/meetings/{mid}/hands/next"))[
        "current_speaker_id"
    ] == other.id
    # Demoted to observer, the chair no longer runs it.
    await call(
        client, owner, "PATCH", f"/groups/{gid}/members/{chair.id}", json={"role": "observer"}
    )
    await call(client, chair, "POST", f"/meetings/{mid}/end", 403)


# --- bad input and wrong states ------------------------------------------------------------


async def test_bad_times_and_zones_are_422_and_write_nothing(client: httpx.AsyncClient) -> None:
    owner = await make_user(client, "owner")
    gid = (await make_group(client, owner))["id"]
    path = f"/groups/{gid}/meetings"
    seq = await last_seq(client, owner, gid)
    same = "2026-09-17T15:00:00-03:00"
    cases = [
        (meeting_body(ends_at=same), "ends_at must be after starts_at"),
        (meeting_body(ends_at="2026-09-17T14:00:00-03:00"), "ends_at must be after starts_at"),
        (meeting_body(timezone="America/Atlantis"), "unknown IANA time zone"),
        (meeting_body(timezone="../../etc/passwd"), "unknown IANA time zone"),
        (meeting_body(starts_at="2026-09-17T15:00:00"), "timezone"),  # naive: ambiguous
        (meeting_body(join_url="javascript:alert(1)"), "pattern"),
        (meeting_body(mode="telepathic"), "virtual"),
    ]
    for body, message in cases:
        problem = await call(client, owner, "POST", path, 422, json=body)
        assert message in str(problem), problem
    assert await last_seq(client, owner, gid) == seq

    meeting = await create_meeting(client, owner, gid)
    mpath = f"/meetings/{meeting['id']}"
    await call(client, owner, "PATCH", mpath, 422, json={"ends_at": "2026-09-17T17:00:00+01:00"})
    await call(client, owner, "PATCH", mpath, 422, json={"timezone": "Mars/Olympus_Mons"})
    await call(client, owner, "PATCH", mpath, 422, json={"title": None})
    stranger = await make_user(client, "stranger")
    await call(client, owner, "PATCH", mpath, 422, json={"moderator_id": stranger.id})
    await call(
        client, owner, "PATCH", mpath, 412, json={"title": "x"}, headers={"If-Match": '"99"'}
    )
    updated = await call(
        client, owner, "PATCH", mpath, json={"timezone": "America/Mexico_City", "title": "Moved"}
    )
    assert (updated["timezone"], updated["ical_sequence"]) == ("America/Mexico_City", 1)
    assert await last_seq(client, owner, gid) == seq + 2  # scheduled, updated


async def test_wrong_states_are_409(client: httpx.AsyncClient) -> None:
    owner, member = await make_user(client, "owner"), await make_user(client, "member")
    gid = (await make_group(client, owner))["id"]
    await add_member(client, owner, gid, member, "member")
    mid = (await create_meeting(client, owner, gid))["id"]
    m = f"/meetings/{mid}"

    problem = await call(client, owner, "POST", f"{m}/end", 409)
    assert problem["allowed"] == ["start", "cancel"]
    assert "allowed: start, cancel" in problem["detail"]
    assert problem["type"].endswith("/invalid-transition")
    for user, action in [
        (member, "join"),
        (member, "leave"),
        (member, "hands"),
        (owner, "hands/next"),
        (owner, "agenda/advance"),
    ]:
        await call(client, user, "POST", f"{m}/{action}", 409)

    await call(client, owner, "POST", f"{m}/start")
    await call(client, owner, "POST", f"{m}/start", 409)
    await call(client, owner, "POST", f"{m}/hands/next", 409)  # nobody raised a hand
    await call(client, owner, "POST", f"{m}/agenda/advance", 409)  # no agenda
    await call(client, member, "POST", f"{m}/join")
    await call(client, member, "POST", f"{m}/hands", 201)
    cancelled = await call(client, owner, "POST", f"{m}/cancel")
    assert cancelled["status"] == "cancelled"
    assert cancelled["ical_sequence"] == 1
    assert (await call(client, owner, "GET", f"{m}/hands"))["items"] == []
    attendance = (await call(client, owner, "GET", f"{m}/attendance"))["items"]
    assert attendance[0]["stays"][0]["left_at"] == cancelled["cancelled_at"]

    for action in ("start", "end", "cancel"):
        problem = await call(client, owner, "POST", f"{m}/{action}", 409)
        assert problem["allowed"] == []
    await call(client, owner, "POST", f"{m}/decisions", 409, json={"text": "Too late"})
    await call(client, owner, "PATCH", m, 409, json={"title": "Too late"})
    await call(client, owner, "POST", f"{m}/agenda-items", 409, json={"title": "Too late"})
    await call(client, member, "PUT", f"{m}/rsvp", 409, json={"response": "yes"})
    await call(client, owner, "PUT", f"{m}/minutes", 409, json={"body": "x", "published": True})
    await call(client, member, "POST", f"{m}/join", 409)


async def test_private_meetings_are_hidden_from_outsiders(client: httpx.AsyncClient) -> None:
    owner, outsider = await make_user(client, "owner"), await make_user(client, "outsider")
    gid = (await make_group(client, owner))["id"]
    mid = (await create_meeting(client, owner, gid))["id"]
    item = await call(client, owner, "POST", f"/meetings/{mid}/agenda-items", 201,
                      json={"title": "Item"})  # fmt: skip
    for method, path in [
        ("GET", f"/meetings/{mid}"),
        ("POST", f"/meetings/{mid}/start"),
        ("PATCH", f"/agenda-items/{item['id']}"),
        ("GET", f"/meetings/{mid}.ics"),
    ]:
        problem = await call(client, outsider, method, path, 404, json={})
        assert "not found" in problem["detail"].lower()
        assert "group" not in problem["detail"].lower()
    await call(client, owner, "GET", "/meetings/00000000-0000-0000-0000-000000000000", 404)


async def test_list_filters_by_status_and_window(client: httpx.AsyncClient) -> None:
    owner = await make_user(client, "owner")
    gid = (await make_group(client, owner))["id"]
    september = await create_meeting(client, owner, gid, title="September")
    october = await create_meeting(
        client,
        owner,
        gid,
        title="October",
        starts_at="2026-10-01T09:00:00Z",
        ends_at="2026-10-01T10:00:00Z",
    )
    await call(client, owner, "POST", f"/meetings/{october['id']}/cancel")

    async def titles(**params: str) -> list[str]:
        page = await call(client, owner, "GET", f"/groups/{gid}/meetings", params=params)
        return [m["title"] for m in page["items"]]

    assert await titles() == ["September", "October"]
    assert await titles(status="cancelled") == ["October"]
    assert await titles(**{"from": "2026-09-30T00:00:00Z"}) == ["October"]
    assert await titles(to="2026-09-17T18:30:00Z") == ["September"]  # overlaps the window
    assert await titles(**{"from": "2026-09-17T19:00:00-03:00", "to": "2026-10-01T00:00Z"}) == []
    first = await call(client, owner, "GET", f"/groups/{gid}/meetings", params={"limit": 1})
    assert [m["id"] for m in first["items"]] == [september["id"]]
    rest = await call(
        client, owner, "GET", f"/groups/{gid}/meetings", params={"cursor": first["next_cursor"]}
    )
    assert [m["id"] for m in rest["items"]] == [october["id"]]
    await call(client, owner, "GET", f"/groups/{gid}/meetings", 422, params={"to": "2026-10-01"})
    await call(client, owner, "GET", f"/groups/{gid}/meetings", 422, params={"status": "over"})


async def test_agenda_edits_and_the_current_item(client: httpx.AsyncClient) -> None:
    owner, outsider = await make_user(client, "owner"), await make_user(client, "outsider")
    gid = (await make_group(client, owner))["id"]
    other_area = await call(
        client,
        outsider,
        "POST",
        f"/groups/{(await make_group(client, outsider))['id']}/focus-areas",
        201,
        json={"title": "Elsewhere"},
    )
    mid = (await create_meeting(client, owner, gid))["id"]
    path = f"/meetings/{mid}/agenda-items"
    await call(client, owner, "POST", path, 422, json={"title": "x", "speaker_id": outsider.id})
    await call(
        client, owner, "POST", path, 422, json={"title": "x", "focus_area_id": other_area["id"]}
    )
    await call(client, owner, "POST", path, 422, json={"title": "x", "duration_minutes": 0})
    a, b, c = [await call(client, owner, "POST", path, 201, json={"title": t}) for t in "abc"]

    async def order() -> list[tuple[str, int]]:
        return [
            (i["title"], i["position"]) for i in (await call(client, owner, "GET", path))["items"]
        ]

    await call(client, owner, "PATCH", f"/agenda-items/{c['id']}", json={"position": 1})
    assert await order() == [("c", 1), ("a", 2), ("b", 3)]
    # The move renumbered "a" too, so its first ETag is stale.
    stale = {"If-Match": '"1"'}
    await call(client, owner, "PATCH", f"/agenda-items/{a['id']}", 412, json={}, headers=stale)
    await call(client, owner, "PATCH", f"/agenda-items/{a['id']}", 422, json={"title": None})

    await call(client, owner, "POST", f"/meetings/{mid}/start")
    meeting = await call(client, owner, "POST", f"/meetings/{mid}/agenda/advance")
    assert meeting["current_agenda_item_id"] == c["id"]
    # Deleting the current item: the next advance goes to the first item not reached yet.
    await call(client, owner, "DELETE", f"/agenda-items/{c['id']}", 204)
    assert await order() == [("a", 1), ("b", 2)]
    assert (await call(client, owner, "GET", f"/meetings/{mid}"))["current_agenda_item_id"] is None
    meeting = await call(client, owner, "POST", f"/meetings/{mid}/agenda/advance")
    assert meeting["current_agenda_item_id"] == a["id"]
    await call(client, owner, "DELETE", f"/agenda-items/{c['id']}", 404)
    events = await new_events(client, owner, gid, 0)
    deleted = [e["data"] for e in events if e["type"] == "meeting.agenda_updated"][-1]
    assert (deleted["change"], deleted["item"]["id"]) == ("deleted", c["id"])
    assert [i["id"] for i in deleted["agenda"]] == [a["id"], b["id"]]
