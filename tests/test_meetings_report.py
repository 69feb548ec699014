"""The meeting report, JSON and Markdown, on a known meeting (issue 14, point 5)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import TestUser as ApiUser
from tests.helpers import add_member, make_group, make_user
from tests.test_meetings import call, create_meeting, member_with_org, parse_time

TRICKY_TITLE = "*Urgent* [click](https://evil.example) <b>now</b> | 1. # x"


async def _renamed(client: httpx.AsyncClient, user: ApiUser, name: str) -> ApiUser:
    await call(client, user, "PATCH", "/users/me", json={"name": name})
    return user


async def test_report_of_a_known_meeting(client: httpx.AsyncClient) -> None:
    director = await make_user(client, "director")
    chair = await _renamed(client, await make_user(client, "chair"), "Ana *the* [chair]")
    watcher = await make_user(client, "watcher")
    free = await make_user(client, "free-agent")
    stranger = await make_user(client, "stranger")
    gid = (await make_group(client, director))["id"]
    await add_member(client, director, gid, chair, "moderator")
    await add_member(client, director, gid, watcher, "observer")
    await add_member(client, director, gid, free, "member")
    ar, ar_org = await member_with_org(client, director, gid, "promoter-AR", "AR")
    co1, co1_org = await member_with_org(client, director, gid, "promoter-CO1", "CO")
    co2, co2_org = await member_with_org(client, director, gid, "promoter-CO2", "CO")
    mid = (await create_meeting(client, chair, gid))["id"]
    report, report_md = f"/meetings/{mid}/report", f"/meetings/{mid}/report.md"
    items = [
        await call(client, chair, "POST", f"/meetings/{mid}/agenda-items", 201, json=body)
        for body in (
            {"title": "Welcome", "speaker_id": chair.id, "duration_minutes": 10},
            {"title": "Dropped"},
            {"title": TRICKY_TITLE},
            {"title": "Never reached"},
        )
    ]
    welcome, dropped, tricky, never = (i["id"] for i in items)

    # Before the meeting there is nothing to report; outsiders of a private group learn nothing.
    for user in (chair, watcher):
        await call(client, user, "GET", report, 409)
        await call(client, user, "GET", report_md, 409)
    await call(client, stranger, "GET", report, 404)

    await call(client, chair, "POST", f"/meetings/{mid}/start")
    for user in (watcher, watcher, ar, co1, co2, free):  # joining twice changes nothing
        await call(client, user, "POST", f"/meetings/{mid}/join")
    advance = f"/meetings/{mid}/agenda/advance"
    await call(client, chair, "POST", advance)  # Welcome
    await call(client, chair, "POST", advance)  # Dropped
    await call(client, chair, "DELETE", f"/agenda-items/{dropped}", 204)  # the current item
    await call(client, chair, "POST", advance)  # the tricky one
    decision = {
        "text": "Form the network\n# not a heading\n- not a list",
        "action_items": [
            {"title": "Map the clusters", "owner_id": chair.id, "due_date": "2026-10-01"},
            {"title": "Write to the commission"},
        ],
    }
    await call(client, chair, "POST", f"/meetings/{mid}/decisions", 201, json=decision)
    minutes = {"body": "# Summary\nWe met. <script>alert(1)</script>", "published": False}
    await call(client, chair, "PUT", f"/meetings/{mid}/minutes", json=minutes)

    # Live: a draft for those who run it, with the current item counting up to now.
    draft = await call(client, chair, "GET", report)
    assert draft["draft"] is True
    assert draft["minutes"]["published"] is False  # the draft minutes, for those who run it
    current = next(i for i in draft["agenda"] if i["id"] == tricky)
    assert current["ended_at"] is None and current["spent_seconds"] >= 0
    await call(client, ar, "GET", report, 409)
    await call(client, watcher, "GET", report_md, 409)

    await call(client, co2, "POST", f"/meetings/{mid}/leave")
    ended = await call(client, chair, "POST", f"/meetings/{mid}/end")
    got = await call(client, watcher, "GET", report)  # an observer reads the final report
    assert got["draft"] is False
    assert got["meeting"]["id"] == mid and got["meeting"]["status"] == "ended"
    assert got["minutes"] is None  # draft minutes stay with those who run the meeting
    assert got["polls"] == []

    # Agenda: time on each item from when the agenda reached it to when it left it. Welcome
    # ended when the agenda moved to the item deleted later, before the tricky one started.
    agenda: dict[str, Any] = {i["id"]: i for i in got["agenda"]}
    assert [i["title"] for i in got["agenda"]] == ["Welcome", TRICKY_TITLE, "Never reached"]
    assert agenda[welcome]["speaker"] == {"id": chair.id, "name": "Ana *the* [chair]"}
    assert agenda[welcome]["duration_minutes"] == 10
    for item in (agenda[welcome], agenda[tricky]):
        span = parse_time(item["ended_at"]) - parse_time(item["started_at"])
        assert abs(item["spent_seconds"] - span.total_seconds()) < 1e-5
    assert parse_time(agenda[welcome]["ended_at"]) < parse_time(agenda[tricky]["started_at"])
    assert agenda[tricky]["ended_at"] == ended["finished_at"]
    assert agenda[never]["started_at"] is None and agenda[never]["spent_seconds"] is None

    # Attendance: by the organization each attendee represents in the group, and its country.
    attendance = got["attendance"]
    assert attendance["total"] == 5
    assert [a["user_id"] for a in attendance["attendees"]] == [
        watcher.id,
        ar.id,
        co1.id,
        co2.id,
        free.id,
    ]
    by_org = {
        (o["organization"] or {}).get("id"): o["attendees"] for o in attendance["by_organization"]
    }
    assert by_org == {ar_org["id"]: 1, co1_org["id"]: 1, co2_org["id"]: 1, None: 2}
    assert attendance["by_country"] == [
        {"country": "CO", "attendees": 2},
        {"country": None, "attendees": 2},
        {"country": "AR", "attendees": 1},
    ]

    # Decisions with their action items, and the people the report names.
    (decided,) = got["decisions"]
    assert decided["text"] == decision["text"]
    assert [a["title"] for a in decided["action_items"]] == [
        "Map the clusters",
        "Write to the commission",
    ]
    assert got["people"] == [{"id": chair.id, "name": "Ana *the* [chair]"}]

    # Published minutes reach every reader.
    minutes["published"] = True
    await call(client, chair, "PUT", f"/meetings/{mid}/minutes", json=minutes)
    assert (await call(client, ar, "GET", report))["minutes"]["body"] == minutes["body"]

    r = await client.get(report_md, headers=ar.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/markdown; charset=utf-8"
    md = r.text
    assert md.startswith("# Founding meeting\n")
    assert "**Draft**" not in md
    # User text stays text: no emphasis, link, HTML, table cell or list made of it.
    assert (
        "2. \\*Urgent\\* \\[click\\](https://evil.example) \\<b\\>now\\</b\\> \\| 1. # x ("
    ) in md
    assert "1. Welcome — Ana \\*the\\* \\[chair\\] (" in md and ", planned 10 min)" in md
    assert "3. Never reached (not reached)" in md  # positions as renumbered after the delete
    assert "1. Form the network  \n   \\# not a heading  \n   \\- not a list" in md
    assert "   - Map the clusters (todo; owner: Ana \\*the\\* \\[chair\\]; due 2026-10-01)" in md
    assert f"| {co1_org['name']} | CO | 1 |" in md
    assert "| CO | 2 |" in md and "| (none) | 2 |" in md
    assert "5 attended." in md
    # Minutes are Markdown by design: kept, but below the report's headings and without HTML.
    assert "### Summary\nWe met. &lt;script>alert(1)&lt;/script>" in md
    assert "<script>" not in md and "<b>" not in md

    # A cancelled meeting has no report.
    cancelled = await create_meeting(client, chair, gid)
    await call(client, chair, "POST", f"/meetings/{cancelled['id']}/cancel")
    await call(client, chair, "GET", f"/meetings/{cancelled['id']}/report", 409)
