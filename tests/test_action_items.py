"""Action items through the HTTP API: rules, who may do what, events, filters, concurrency."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx

from tests.helpers import events_of
from tests.roadmap_helpers import create_item, make_team, patch_item


async def test_create_read_and_validate(client: httpx.AsyncClient) -> None:
    team = await make_team(client)
    item = await create_item(
        client,
        team,
        title="Publish the catalogue",
        description="All clusters' digital solutions",
        owner_id=team.member.id,
        due_date="2031-05-31",
        priority="high",
        focus_area_id=team.areas[0],
    )
    assert item["status"] == "todo" and item["progress"] == 0 and item["completed_at"] is None
    assert item["created_by"] == team.moderator.id and item["overdue"] is False
    r = await client.get(f"/action-items/{item['id']}", headers=team.observer.headers)
    assert r.status_code == 200 and r.json() == item and r.headers["ETag"] == '"1"'
    assert (
        await client.get(f"/action-items/{item['id']}", headers=team.outsider.headers)
    ).status_code == 404

    url = f"/groups/{team.group_id}/action-items"
    for bad in (
        {"owner_id": team.outsider.id},  # not a member
        {"due_date": "31/05/2031"},
        {"due_date": "2031-02-30"},
        {"priority": "urgent"},
        {"title": ""},
        {"focus_area_id": "00000000-0000-0000-0000-000000000000"},
        {"status": "done"},  # not a create field
    ):
        r = await client.post(url, json={"title": "T", **bad}, headers=team.moderator.headers)
        assert r.status_code == 422, (bad, r.text)
    for bad in ({"progress": -1}, {"progress": 101}, {"progress": "half"}, {"due_date": "soon"}):
        r = await patch_item(client, team.moderator, item["id"], **bad)
        assert r.status_code == 422, (bad, r.text)
    r = await patch_item(client, team.moderator, item["id"], owner_id=team.outsider.id)
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "owner_id"]
    r = await patch_item(client, team.moderator, item["id"], status=None)
    assert r.status_code == 422
    r = await client.get(f"/action-items/{item['id']}", headers=team.observer.headers)
    assert r.json() == item  # nothing changed


async def test_done_sets_progress_and_completed_at_and_reopening_clears_it(
    client: httpx.AsyncClient,
) -> None:
    team = await make_team(client)
    item = await create_item(client, team, owner_id=team.member.id)
    r = await patch_item(client, team.member, item["id"], status="in_progress", progress=40)
    assert r.status_code == 200 and r.json()["progress"] == 40
    r = await patch_item(client, team.member, item["id"], status="done")
    done = r.json()
    assert done["status"] == "done" and done["progress"] == 100 and done["completed_at"]
    r = await patch_item(client, team.member, item["id"], progress=50)
    assert r.status_code == 422  # done ⇒ 100
    r = await patch_item(client, team.member, item["id"], status="done", progress=90)
    assert r.status_code == 422
    r = await patch_item(client, team.member, item["id"], status="in_progress", progress=80)
    reopened = r.json()
    assert reopened["completed_at"] is None and reopened["progress"] == 80

    events = [
        e
        for e in await events_of(client, team.owner, team.group_id)
        if e["subject"]["id"] == item["id"]
    ]
    assert [e["type"] for e in events] == [
        "action_item.created",
        "action_item.assigned",
        "action_item.updated",
        "action_item.updated",
        "action_item.completed",
        "action_item.updated",
    ]
    assert events[2]["data"]["changes"] == {
        "status": {"old": "todo", "new": "in_progress"},
        "progress": {"old": 0, "new": 40},
    }
    completed = events[3]["data"]["changes"]
    assert completed["status"] == {"old": "in_progress", "new": "done"}
    assert completed["progress"] == {"old": 40, "new": 100}
    assert completed["completed_at"]["old"] is None and completed["completed_at"]["new"]
    assert events[5]["data"]["changes"]["completed_at"]["new"] is None
    assert events[4]["data"]["action_item"]["status"] == "done"


async def test_assignment_events_and_member_rules(client: httpx.AsyncClient) -> None:
    team = await make_team(client)
    # A member's new item is their own; assigning it to someone else is for moderators.
    mine = await create_item(client, team, by=team.member, title="Mine")
    assert mine["owner_id"] == team.member.id
    r = await client.post(
        f"/groups/{team.group_id}/action-items",
        json={"title": "For someone else", "owner_id": team.member2.id},
        headers=team.member.headers,
    )
    assert r.status_code == 403
    r = await client.post(
        f"/groups/{team.group_id}/action-items", json={"title": "x"}, headers=team.observer.headers
    )
    assert r.status_code == 403
    assert (await patch_item(client, team.member, mine["id"], progress=10)).status_code == 200
    r = await patch_item(client, team.member, mine["id"], owner_id=team.member2.id)
    assert r.status_code == 403
    assert (await patch_item(client, team.member2, mine["id"], progress=20)).status_code == 403
    assert (await patch_item(client, team.observer, mine["id"], progress=20)).status_code == 403

    r = await patch_item(client, team.moderator, mine["id"], owner_id=team.member2.id)
    assert r.status_code == 200
    assert (await patch_item(client, team.member, mine["id"], progress=30)).status_code == 403
    assert (await patch_item(client, team.member2, mine["id"], progress=30)).status_code == 200
    r = await client.delete(f"/action-items/{mine['id']}", headers=team.member.headers)
    assert r.status_code == 403
    assigned = [
        e["data"]
        for e in await events_of(client, team.owner, team.group_id)
        if e["type"] == "action_item.assigned"
    ]
    assert [(a["previous_owner_id"], a["owner_id"]) for a in assigned] == [
        (None, team.member.id),
        (team.member.id, team.member2.id),
    ]
    r = await client.delete(f"/action-items/{mine['id']}", headers=team.member2.headers)
    assert r.status_code == 204
    r = await client.get(f"/action-items/{mine['id']}", headers=team.member2.headers)
    assert r.status_code == 404
    deleted = (await events_of(client, team.owner, team.group_id))[-1]
    assert deleted["type"] == "action_item.deleted"
    assert deleted["data"]["action_item"]["id"] == mine["id"]


async def test_stale_if_match_is_412(client: httpx.AsyncClient) -> None:
    team = await make_team(client)
    item = await create_item(client, team)
    r = await client.get(f"/action-items/{item['id']}", headers=team.moderator.headers)
    etag = r.headers["ETag"]
    headers = {**team.moderator.headers, "If-Match": etag}
    r = await client.patch(f"/action-items/{item['id']}", json={"progress": 10}, headers=headers)
    assert r.status_code == 200 and r.headers["ETag"] != etag
    r = await client.patch(f"/action-items/{item['id']}", json={"progress": 20}, headers=headers)
    assert r.status_code == 412
    r = await client.delete(f"/action-items/{item['id']}", headers=headers)
    assert r.status_code == 412
    r = await client.get(f"/action-items/{item['id']}", headers=team.moderator.headers)
    assert r.json()["progress"] == 10


async def test_two_clients_patching_with_the_same_etag(app: object) -> None:
    """Two independent clients, one ETag: exactly one PATCH wins, the other gets 412."""
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    base = "http://test/api/v1"
    async with (
        httpx.AsyncClient(transport=transport, base_url=base) as a,
        httpx.AsyncClient(transport=transport, base_url=base) as b,
    ):
        team = await make_team(a)
        item = await create_item(a, team, owner_id=team.member.id)
        etag = (await a.get(f"/action-items/{item['id']}", headers=team.member.headers)).headers[
            "ETag"
        ]
        results = await asyncio.gather(
            a.patch(
                f"/action-items/{item['id']}",
                json={"progress": 30},
                headers={**team.member.headers, "If-Match": etag},
            ),
            b.patch(
                f"/action-items/{item['id']}",
                json={"progress": 70, "status": "in_progress"},
                headers={**team.moderator.headers, "If-Match": etag},
            ),
        )
        codes = sorted(r.status_code for r in results)
        assert codes == [200, 412], [r.text for r in results]
        winner = next(r for r in results if r.status_code == 200).json()
        r = await a.get(f"/action-items/{item['id']}", headers=team.member.headers)
        assert r.json()["progress"] == winner["progress"]
        assert r.headers["ETag"] == '"2"'
        updates = [
            e
            for e in await events_of(a, team.owner, team.group_id)
            if e["type"] == "action_item.updated"
        ]
        assert len(updates) == 1


async def test_filters_and_overdue(client: httpx.AsyncClient) -> None:
    team = await make_team(client)
    today = datetime.now(UTC).date()
    past, future = str(today - timedelta(days=3)), str(today + timedelta(days=30))
    late = await create_item(client, team, title="late", due_date=past, owner_id=team.member.id)
    done_late = await create_item(client, team, title="done late", due_date=past)
    await patch_item(client, team.moderator, done_late["id"], status="done")
    cancelled = await create_item(client, team, title="cancelled", due_date=past)
    await patch_item(client, team.moderator, cancelled["id"], status="cancelled")
    await create_item(client, team, title="upcoming", due_date=future, focus_area_id=team.areas[1])
    await create_item(client, team, title="undated", owner_id=team.member.id)

    async def titles(**params: object) -> list[str]:
        r = await client.get(
            f"/groups/{team.group_id}/action-items", params=params, headers=team.observer.headers
        )
        assert r.status_code == 200, r.text
        return [i["title"] for i in r.json()["items"]]

    assert await titles() == ["late", "done late", "cancelled", "upcoming", "undated"]
    assert await titles(overdue="true") == ["late"]
    assert await titles(overdue="false") == ["done late", "cancelled", "upcoming", "undated"]
    assert await titles(status="done") == ["done late"]
    assert await titles(owner_id=team.member.id) == ["late", "undated"]
    assert await titles(focus_area_id=team.areas[1]) == ["upcoming"]
    assert await titles(due_before=str(today)) == ["late", "done late", "cancelled"]
    assert await titles(due_before=str(today), status="todo") == ["late"]
    assert await titles(limit=2) == ["late", "done late"]
    r = await client.get(
        f"/groups/{team.group_id}/action-items",
        params={"due_before": "tomorrow"},
        headers=team.member.headers,
    )
    assert r.status_code == 422
    r = await client.get(f"/action-items/{late['id']}", headers=team.member.headers)
    assert r.json()["overdue"] is True


async def test_my_action_items_across_groups(client: httpx.AsyncClient) -> None:
    team = await make_team(client)
    other = await make_team(client)
    # team.member joins the other group too and owns items in both.
    r = await client.post(
        f"/groups/{other.group_id}/members",
        json={"user_id": team.member.id, "role": "member"},
        headers=other.owner.headers,
    )
    assert r.status_code == 201
    a = await create_item(client, team, owner_id=team.member.id, title="here")
    b = await create_item(client, other, owner_id=team.member.id, title="there")
    await create_item(client, team, owner_id=team.member2.id, title="not mine")
    done = await create_item(client, other, owner_id=team.member.id, title="finished")
    await patch_item(client, other.moderator, done["id"], status="done")

    r = await client.get("/users/me/action-items", headers=team.member.headers)
    assert [i["id"] for i in r.json()["items"]] == [a["id"], b["id"], done["id"]]
    r = await client.get(
        "/users/me/action-items", params={"status": "done"}, headers=team.member.headers
    )
    assert [i["id"] for i in r.json()["items"]] == [done["id"]]

    # Leaving a group takes its items out of the list.
    r = await client.delete(
        f"/groups/{other.group_id}/members/{team.member.id}", headers=team.member.headers
    )
    assert r.status_code == 204
    r = await client.get("/users/me/action-items", headers=team.member.headers)
    assert [i["id"] for i in r.json()["items"]] == [a["id"]]
    assert (await client.get("/users/me/action-items")).status_code == 401


async def test_comments_on_action_items_go_with_the_item(client: httpx.AsyncClient) -> None:
    team = await make_team(client)
    item = await create_item(client, team, owner_id=team.member.id)
    url = f"/action-items/{item['id']}/comments"
    r = await client.post(url, json={"body": "Blocked on the budget"}, headers=team.member2.headers)
    assert r.status_code == 201
    comment = r.json()
    assert comment["subject_type"] == "action_item" and comment["author_id"] == team.member2.id
    r = await client.post(url, json={"body": "x"}, headers=team.observer.headers)
    assert r.status_code == 403
    r = await client.get(url, headers=team.observer.headers)
    assert r.json()["items"] == [comment]
    event = (await events_of(client, team.owner, team.group_id))[-1]
    assert event["type"] == "action_item.commented"
    assert event["subject"] == {"type": "action_item", "id": item["id"]}
    r = await client.delete(f"/action-items/{item['id']}", headers=team.moderator.headers)
    assert r.status_code == 204
    assert (await client.get(url, headers=team.member.headers)).status_code == 404
