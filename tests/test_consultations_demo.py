"""The demo consultation: the June 2026 interviews, seeded through the services, idempotent."""

from __future__ import annotations

import httpx

from app.consultations.demo import INTERVIEWS, TITLE, seed_interviews
from app.core.config import Settings
from app.core.db import create_engine, create_session_factory
from app.demo import DEMO_PASSWORD, seed_founding
from app.diagnosis.demo import SNAPSHOT_LABEL, seed_diagnosis
from app.proposals.demo import seed_proposals


async def _seed(settings: Settings) -> tuple[str, str]:
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            group = await seed_founding(session, settings)
            questionnaire = await seed_interviews(session, group)
            return str(group.id), str(questionnaire.id)
    finally:
        await engine.dispose()


async def test_demo_interviews(client: httpx.AsyncClient, settings: Settings) -> None:
    group_id, qid = await _seed(settings)
    r = await client.post(
        "/auth/token", data={"username": "moderator@demo.wghub.dev", "password": DEMO_PASSWORD}
    )
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    last_seq = (await client.get(f"/groups/{group_id}", headers=headers)).json()["last_seq"]

    assert await _seed(settings) == (group_id, qid)  # again: nothing new
    r = await client.get(f"/groups/{group_id}", headers=headers)
    assert r.json()["last_seq"] == last_seq

    r = await client.get(f"/questionnaires/{qid}", headers=headers)
    questionnaire = r.json()
    assert questionnaire["title"] == TITLE and questionnaire["status"] == "closed"
    assert questionnaire["response_count"] == len(INTERVIEWS) == 4
    r = await client.get(f"/groups/{group_id}/focus-areas", headers=headers)
    areas = [a["id"] for a in r.json()["items"]]
    tied = {q["focus_area_id"] for q in questionnaire["questions"]} - {None}
    assert tied == set(areas)  # every focus area has its questions

    r = await client.get(f"/questionnaires/{qid}/responses", headers=headers)
    responses = r.json()["items"]
    moderator_id = (await client.get("/users/me", headers=headers)).json()["id"]
    assert {x["interviewed_by"] for x in responses} == {moderator_id}

    r = await client.get(f"/questionnaires/{qid}/summary", headers=headers)
    summary = r.json()
    # Seven member organizations (the convener and six clusters); AR, CO, CR and EC answered.
    assert summary["response_rate"]["responding"] == 4
    assert summary["response_rate"]["members"] == 7
    answered = {c["country"] for c in summary["by_country"] if c["responding"]}
    assert answered == {"AR", "CO", "CR", "EC"}
    assert all(q["answered"] == 4 for q in summary["questions"])


async def test_demo_diagnosis_from_the_interviews_to_the_roadmap(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    engine = create_engine(settings)
    try:
        for _ in range(2):  # a second seed adds nothing
            async with create_session_factory(engine)() as session, session.begin():
                group = await seed_founding(session, settings)
                questionnaire = await seed_interviews(session, group)
                await seed_proposals(session, group)
                await seed_diagnosis(session, group, questionnaire)
    finally:
        await engine.dispose()
    r = await client.post(
        "/auth/token", data={"username": "promoter.co@demo.wghub.dev", "password": DEMO_PASSWORD}
    )
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    gid = str(group.id)
    diagnosis = (await client.get(f"/groups/{gid}/diagnosis", headers=headers)).json()
    per_area = [a["findings"] for a in diagnosis["focus_areas"]]
    assert [len(f) for f in per_area] == [2, 1, 2]  # findings behind the three focus areas
    assert per_area[1][0]["countries"] == 4  # the supply seen in every interview
    assert diagnosis["consulted_organizations"] == 4
    snapshots = (await client.get(f"/groups/{gid}/diagnosis/snapshots", headers=headers)).json()
    assert [s["label"] for s in snapshots["items"]] == [SNAPSHOT_LABEL]
    training_need = per_area[0][1]
    trace = (await client.get(f"/findings/{training_need['id']}/trace", headers=headers)).json()
    (proposal,) = trace["proposals"]
    assert proposal["state"] == "accepted" and len(proposal["action_items"]) == 5
    assert trace["progress"] is not None and trace["countries"] == ["CO", "EC"]
