"""The diagnosis (issue: from interviews to a diagnosis): findings backed by responses, ranked
per focus area by the breadth of their evidence, the organizations not consulted, snapshots
that later edits never change, and the trace from a finding to the results.

Responses are written as rows (the consultations API has tests of its own): what matters
here is what the diagnosis makes of them."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from app.models import Questionnaire, QuestionnaireResponse, QuestionnaireStatus
from tests.helpers import TestUser as ApiUser
from tests.helpers import make_group, make_user, unique
from tests.test_meetings import call


async def _org(client: httpx.AsyncClient, user: ApiUser, country: str) -> dict[str, Any]:
    body = {"name": unique(f"cluster-{country}"), "kind": "cluster", "country": country}
    org: dict[str, Any] = await call(client, user, "POST", "/organizations", 201, json=body)
    return org


class World:
    def __init__(self) -> None:
        self.gid = ""
        self.owner: ApiUser
        self.member: ApiUser
        self.areas: list[str] = []
        self.orgs: dict[str, dict[str, Any]] = {}  # by country
        self.responses: dict[str, str] = {}  # response id by country


async def _world(client: httpx.AsyncClient, app: FastAPI) -> World:
    """A group with member organizations of AR, CO, CR, EC (interviewed) and MX (not), two
    focus areas and one questionnaire with a response per interviewed organization."""
    w = World()
    w.owner, w.member = await make_user(client, "owner"), await make_user(client, "member")
    group = await make_group(client, w.owner)
    w.gid = group["id"]
    for title in ("Adoption", "Supply"):
        area = await call(
            client, w.owner, "POST", f"/groups/{w.gid}/focus-areas", 201, json={"title": title}
        )
        w.areas.append(area["id"])
    for country in ("AR", "CO", "CR", "EC", "MX"):
        w.orgs[country] = await _org(client, w.owner, country)
        person = await make_user(client, f"focal-{country}")
        body = {"user_id": person.id, "role": "member", "organization_id": w.orgs[country]["id"]}
        await call(client, w.owner, "POST", f"/groups/{w.gid}/members", 201, json=body)
    await call(
        client,
        w.owner,
        "POST",
        f"/groups/{w.gid}/members",
        201,
        json={"user_id": w.member.id, "role": "member"},
    )
    async with app.state.session_factory() as session, session.begin():
        questionnaire = Questionnaire(
            group_id=uuid.UUID(w.gid),
            title="Interviews of June",
            questions=[
                {"id": "q1", "text": "Main barrier?", "kind": "text", "required": True},
                {"id": "q2", "text": "Supply", "kind": "scale", "scale_max": 5, "required": True},
            ],
            status=QuestionnaireStatus.closed,
        )
        session.add(questionnaire)
        await session.flush()
        for country in ("AR", "CO", "CR", "EC"):
            response = QuestionnaireResponse(
                questionnaire_id=questionnaire.id,
                group_id=questionnaire.group_id,
                organization_id=uuid.UUID(w.orgs[country]["id"]),
                answers={"q1": f"Barrier seen in {country}", "q2": 3},
            )
            session.add(response)
            await session.flush()
            w.responses[country] = str(response.id)
    return w


def _evidence(w: World, *countries: str, question: str | None = None) -> list[dict[str, Any]]:
    return [{"response_id": w.responses[c], "question_id": question} for c in countries]


async def _finding(client: httpx.AsyncClient, w: World, **body: Any) -> dict[str, Any]:
    full = {"title": "A finding", "kind": "barrier", **body}
    finding: dict[str, Any] = await call(
        client, w.owner, "POST", f"/groups/{w.gid}/findings", 201, json=full
    )
    return finding


async def test_the_diagnosis_ranks_findings_by_the_breadth_of_their_evidence(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    w = await _world(client, app)
    adoption, supply = w.areas
    # One organization reporting it twice does not outweigh two countries.
    narrow = await _finding(
        client, w, title="Narrow", focus_area_id=adoption,
        evidence=[*_evidence(w, "AR", question="q1"), *_evidence(w, "AR", question="q2")],
    )  # fmt: skip
    broad = await _finding(
        client, w, title="Broad", kind="need", focus_area_id=adoption,
        evidence=_evidence(w, "CO", "CR", "EC", question="q1"),
    )  # fmt: skip
    middle = await _finding(
        client, w, title="Middle", focus_area_id=adoption, evidence=_evidence(w, "AR", "CO")
    )
    strength = await _finding(
        client, w, title="Strength", kind="strength", focus_area_id=supply,
        evidence=_evidence(w, "EC"),
    )  # fmt: skip
    loose = await _finding(client, w, title="No area", kind="opportunity")
    assert {e["organization_id"] for e in middle["evidence"]} == {
        w.orgs["AR"]["id"],
        w.orgs["CO"]["id"],
    }

    got = await call(client, w.member, "GET", f"/groups/{w.gid}/diagnosis")
    areas = [(a["focus_area"] or {}).get("id") for a in got["focus_areas"]]
    assert areas == [adoption, supply, None]
    first = got["focus_areas"][0]["findings"]
    assert [f["id"] for f in first] == [broad["id"], middle["id"], narrow["id"]]
    assert [(f["organizations"], f["countries"]) for f in first] == [(3, 3), (2, 2), (1, 1)]
    assert first[0]["country_codes"] == ["CO", "CR", "EC"]
    assert [f["id"] for f in got["focus_areas"][1]["findings"]] == [strength["id"]]
    assert got["focus_areas"][2]["findings"][0]["id"] == loose["id"]
    assert got["member_organizations"] == 5 and got["consulted_organizations"] == 4
    assert [o["country"] for o in got["not_consulted"]] == ["MX"]


async def test_bad_evidence_and_writers(client: httpx.AsyncClient, app: FastAPI) -> None:
    w = await _world(client, app)
    other = await _world(client, app)  # another group's response is no evidence here
    for evidence, field in (
        (_evidence(other, "AR"), "response_id"),
        ([{"response_id": str(uuid.uuid4())}], "response_id"),
        (_evidence(w, "AR", question="q9"), "question_id"),
    ):
        body = {"title": "t", "kind": "barrier", "evidence": evidence}
        r = await client.post(f"/groups/{w.gid}/findings", json=body, headers=w.owner.headers)
        assert r.status_code == 422, r.text
        assert r.json()["errors"][0]["loc"] == ["body", "evidence", "0", field]
    body = {"title": "t", "kind": "barrier", "focus_area_id": other.areas[0]}
    r = await client.post(f"/groups/{w.gid}/findings", json=body, headers=w.owner.headers)
    assert r.status_code == 422, r.text
    # Members read the diagnosis; only moderators and owners write it.
    r = await client.post(f"/groups/{w.gid}/findings", json={"title": "t", "kind": "need"},
                          headers=w.member.headers)  # fmt: skip
    assert r.status_code == 403
    listed = await call(client, w.owner, "GET", f"/groups/{w.gid}/findings")
    assert listed["items"] == []


async def test_a_snapshot_stays_as_it_was(client: httpx.AsyncClient, app: FastAPI) -> None:
    w = await _world(client, app)
    finding = await _finding(
        client, w, title="Before", focus_area_id=w.areas[0], evidence=_evidence(w, "AR")
    )
    snapshot = await call(
        client, w.owner, "POST", f"/groups/{w.gid}/diagnosis/snapshots", 201,
        json={"label": "June diagnosis"},
    )  # fmt: skip
    before = snapshot["diagnosis"]
    # Later edits: the finding renamed and re-evidenced, another one added.
    await call(
        client, w.owner, "PATCH", f"/findings/{finding['id']}",
        json={"title": "After", "evidence": _evidence(w, "AR", "CO", "CR")},
    )  # fmt: skip
    await _finding(client, w, title="New", focus_area_id=w.areas[0])
    now = await call(client, w.member, "GET", f"/groups/{w.gid}/diagnosis")
    assert now != before
    assert now["focus_areas"][0]["findings"][0]["title"] == "After"
    kept = await call(client, w.member, "GET", f"/diagnosis/snapshots/{snapshot['id']}")
    assert kept["diagnosis"] == before and kept["label"] == "June diagnosis"
    (finding_then,) = kept["diagnosis"]["focus_areas"][0]["findings"]
    assert finding_then["title"] == "Before" and finding_then["organizations"] == 1
    listed = await call(client, w.member, "GET", f"/groups/{w.gid}/diagnosis/snapshots")
    assert [s["id"] for s in listed["items"]] == [snapshot["id"]]


async def test_the_trace_from_finding_to_results(client: httpx.AsyncClient, app: FastAPI) -> None:
    w = await _world(client, app)
    finding = await _finding(
        client, w, title="Low adoption", focus_area_id=w.areas[0],
        evidence=_evidence(w, "CO", "CR"),
    )  # fmt: skip
    proposal = await call(
        client, w.member, "POST", f"/groups/{w.gid}/proposals", 201,
        json={"title": "Training", "body": "For clusters", "finding_ids": [finding["id"]]},
    )  # fmt: skip
    # The proposal's own items count, and an item linked to the finding directly.
    own = await call(
        client, w.owner, "POST", f"/groups/{w.gid}/action-items", 201,
        json={"title": "Design the course", "proposal_id": proposal["id"]},
    )  # fmt: skip
    direct = await call(
        client, w.owner, "POST", f"/groups/{w.gid}/action-items", 201,
        json={"title": "Map the providers", "finding_ids": [finding["id"]]},
    )  # fmt: skip
    dropped = await call(
        client, w.owner, "POST", f"/groups/{w.gid}/action-items", 201,
        json={"title": "Dropped", "finding_ids": [finding["id"]]},
    )  # fmt: skip
    await call(client, w.owner, "PATCH", f"/action-items/{own['id']}", json={"progress": 60})
    await call(client, w.owner, "PATCH", f"/action-items/{direct['id']}", json={"status": "done"})
    await call(
        client, w.owner, "PATCH", f"/action-items/{dropped['id']}", json={"status": "cancelled"}
    )
    got = await call(client, w.member, "GET", f"/findings/{finding['id']}/trace")
    assert got["finding"]["id"] == finding["id"]
    assert got["countries"] == ["CO", "CR"] and len(got["organizations"]) == 2
    (p,) = got["proposals"]
    assert p["id"] == proposal["id"] and p["state"] == "draft"
    assert [i["id"] for i in p["action_items"]] == [own["id"]]
    assert {i["id"] for i in got["action_items"]} == {direct["id"], dropped["id"]}
    assert got["progress"] == 80.0  # (60 + 100) / 2: the cancelled item does not count

    # Links must name findings of the same group.
    other = await _world(client, app)
    elsewhere = await _finding(client, other, title="Elsewhere")
    r = await client.post(
        f"/groups/{w.gid}/action-items",
        json={"title": "x", "finding_ids": [elsewhere["id"]]},
        headers=w.owner.headers,
    )
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "finding_ids"]


async def test_a_finding_edit_honours_if_match(client: httpx.AsyncClient, app: FastAPI) -> None:
    """Like every PATCH (API.md): two moderators editing the same finding cannot overwrite
    each other unseen."""
    w = await _world(client, app)
    finding = await _finding(client, w, title="Before")
    url = f"/findings/{finding['id']}"
    etag = (await client.get(url, headers=w.owner.headers)).headers["ETag"]
    mine = await client.patch(
        url, json={"title": "Mine"}, headers={**w.owner.headers, "If-Match": etag}
    )
    assert mine.status_code == 200 and mine.headers["ETag"] != etag, mine.text
    stale = await client.patch(
        url, json={"title": "Theirs"}, headers={**w.owner.headers, "If-Match": etag}
    )
    assert stale.status_code == 412, stale.text
    assert (await client.get(url, headers=w.owner.headers)).json()["title"] == "Mine"
