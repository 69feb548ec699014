"""The demo proposals and roadmap: seeded through the services, idempotent."""

from __future__ import annotations

import httpx

from app.core.config import Settings
from app.core.db import create_engine, create_session_factory
from app.demo import DEMO_PASSWORD, seed_founding
from app.meetings.demo import seed_founding_meeting
from app.proposals.demo import seed_proposals


async def _seed(settings: Settings) -> str:
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            group = await seed_founding(session, settings)
            await seed_proposals(session, group)
            return str(group.id)
    finally:
        await engine.dispose()


async def test_demo_proposals_and_roadmap(client: httpx.AsyncClient, settings: Settings) -> None:
    group_id = await _seed(settings)
    r = await client.post(
        "/auth/token", data={"username": "moderator@demo.wghub.dev", "password": DEMO_PASSWORD}
    )
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    last_seq = (await client.get(f"/groups/{group_id}", headers=headers)).json()["last_seq"]

    assert await _seed(settings) == group_id  # again: nothing new
    r = await client.get(f"/groups/{group_id}", headers=headers)
    assert r.json()["last_seq"] == last_seq

    r = await client.get(f"/groups/{group_id}/proposals", headers=headers)
    states = {p["title"]: p["state"] for p in r.json()["items"]}
    assert states == {
        "Training programme for the network of digital clusters": "accepted",
        "Regional catalogue of digital solutions offered by the clusters": "under_review",
        "Joint visibility of cluster initiatives on the platform's map": "submitted",
        "Exchange missions between clusters": "draft",
    }
    training = next(p for p in r.json()["items"] if p["state"] == "accepted")
    assert training["endorsement_count"] == 2
    r = await client.get(f"/proposals/{training['id']}/votes", headers=headers)
    assert r.json() == {"yes": 3, "no": 0, "abstain": 1}

    r = await client.get(
        f"/groups/{group_id}/action-items",
        params={"proposal_id": training["id"]},
        headers=headers,
    )
    items = r.json()["items"]
    assert len(items) == 5
    assert all(i["owner_id"] and i["due_date"] for i in items)
    assert [i["progress"] for i in items] == [100, 60, 25, 10, 0]
    assert items[0]["status"] == "done" and items[0]["completed_at"]
    assert {i["focus_area_id"] for i in items} == {training["focus_area_id"]}

    r = await client.get(f"/groups/{group_id}/roadmap", headers=headers)
    area = next(
        a
        for a in r.json()["areas"]
        if a["focus_area"] and a["focus_area"]["id"] == training["focus_area_id"]
    )
    training_items = [i for i in area["items"] if i["proposal_id"] == training["id"]]
    assert len(training_items) == 5


async def test_demo_founding_meeting_polls(client: httpx.AsyncClient, settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            group = await seed_founding(session, settings)
            meeting = await seed_founding_meeting(session, group)
            group_id, meeting_id = str(group.id), str(meeting.id)
    finally:
        await engine.dispose()
    r = await client.post(
        "/auth/token", data={"username": "moderator@demo.wghub.dev", "password": DEMO_PASSWORD}
    )
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    r = await client.get(f"/groups/{group_id}/polls", headers=headers)
    polls = {p["kind"]: p for p in r.json()["items"]}
    assert set(polls) == {"ranked", "time"}
    ranked, when = polls["ranked"], polls["time"]
    # The ranked poll on the three focus areas closed with the meeting, with Borda points.
    assert ranked["meeting_id"] == meeting_id and ranked["status"] == "closed"
    assert len(ranked["options"]) == 3 and ranked["results"]["voters"] >= 1
    assert sum(o["points"] for o in ranked["results"]["options"]) > 0
    # The time poll scheduled the second meeting in its best slot.
    assert when["status"] == "closed" and when["scheduled_meeting_id"]
    r = await client.get(f"/meetings/{when['scheduled_meeting_id']}", headers=headers)
    assert r.json()["title"] == "Second meeting of the working group"
    assert r.json()["status"] == "scheduled"
