"""Consultations: questionnaire lifecycle and frozen questions, one response per organization
(who may answer for which), answer validation per kind, the summary and response rates on a
known set, the moderators' list and CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

import httpx

from tests.helpers import TestUser as ApiUser
from tests.helpers import events_of, make_group, make_user, unique


@dataclass
class Network:
    gid: str
    owner: ApiUser
    moderator: ApiUser
    ar1: ApiUser  # member for the first Argentinian cluster
    ar2: ApiUser
    co: ApiUser
    cr: ApiUser  # an observer for the Costa Rican cluster
    orgs: dict[str, str]  # AR1, AR2, CO, CR, OUT (registered, not a member organization)
    areas: dict[str, str]  # adoption, supply


async def _org(client: httpx.AsyncClient, owner: ApiUser, country: str) -> str:
    body = {"name": unique(f"cluster-{country}"), "kind": "cluster", "country": country}
    r = await client.post("/organizations", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    org_id: str = r.json()["id"]
    return org_id


async def _member(
    client: httpx.AsyncClient, owner: ApiUser, gid: str, role: str, org: str | None
) -> ApiUser:
    user = await make_user(client, role)
    body = {"user_id": user.id, "role": role, "organization_id": org}
    r = await client.post(f"/groups/{gid}/members", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    return user


async def network(client: httpx.AsyncClient) -> Network:
    """Member organizations AR1, AR2 (AR), CO (CO) and CR (CR): four, in three countries."""
    owner = await make_user(client, "owner")
    gid = (await make_group(client, owner))["id"]
    countries = {"AR1": "AR", "AR2": "AR", "CO": "CO", "CR": "CR", "OUT": "MX"}
    orgs = {name: await _org(client, owner, country) for name, country in countries.items()}
    moderator = await _member(client, owner, gid, "moderator", None)
    people = [
        await _member(client, owner, gid, role, orgs[name])
        for role, name in (
            ("member", "AR1"),
            ("member", "AR2"),
            ("member", "CO"),
            ("observer", "CR"),
        )
    ]
    areas = {}
    for title in ("adoption", "supply"):
        r = await client.post(
            f"/groups/{gid}/focus-areas", json={"title": title}, headers=owner.headers
        )
        areas[title] = r.json()["id"]
    return Network(gid, owner, moderator, *people, orgs=orgs, areas=areas)


def questions(net: Network) -> list[dict[str, Any]]:
    return [
        {
            "text": "Main barrier to adopting digital technologies?",
            "kind": "single",
            "options": ["Cost", "Skills", "Connectivity"],
            "focus_area_id": net.areas["adoption"],
            "required": True,
        },
        {
            "text": "What do your companies offer?",
            "kind": "multiple",
            "options": ["Cloud", "AI", "ERP"],
            "focus_area_id": net.areas["supply"],
        },
        {"text": "How visible is your cluster?", "kind": "scale", "required": True},
        {"text": "Anything else?"},
    ]


async def questionnaire(client: httpx.AsyncClient, net: Network, *, open_it: bool = True) -> str:
    body = {"title": "Interviews", "intro": "June round", "questions": questions(net)}
    r = await client.post(
        f"/groups/{net.gid}/questionnaires", json=body, headers=net.moderator.headers
    )
    assert r.status_code == 201, r.text
    qid: str = r.json()["id"]
    if open_it:
        r = await client.post(f"/questionnaires/{qid}/open", headers=net.moderator.headers)
        assert r.status_code == 200, r.text
    return qid


async def answer(
    client: httpx.AsyncClient, qid: str, who: ApiUser, org: str, answers: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        f"/questionnaires/{qid}/responses",
        json={"organization_id": org, "answers": answers},
        headers=who.headers,
    )


async def _events(client: httpx.AsyncClient, net: Network, type: str) -> list[dict[str, Any]]:
    return [e for e in await events_of(client, net.owner, net.gid) if e["type"] == type]


# --- lifecycle ---------------------------------------------------------------------------


async def test_lifecycle_transitions_and_frozen_questions(client: httpx.AsyncClient) -> None:
    net = await network(client)
    mod = net.moderator.headers
    qid = await questionnaire(client, net, open_it=False)
    r = await client.get(f"/questionnaires/{qid}", headers=net.cr.headers)  # observers read
    assert r.status_code == 200
    draft = r.json()
    assert draft["status"] == "draft" and draft["response_count"] == 0
    assert [q["id"] for q in draft["questions"]] == ["q1", "q2", "q3", "q4"]
    assert draft["questions"][2]["scale_max"] == 5  # the default
    assert draft["questions"][3]["kind"] == "text" and draft["questions"][3]["required"] is False

    # A draft takes no answers; close needs it open.
    r = await answer(client, qid, net.ar1, net.orgs["AR1"], {"q1": "Cost", "q3": 3})
    assert r.status_code == 409, r.text
    assert (await client.post(f"/questionnaires/{qid}/close", headers=mod)).status_code == 409
    r = await client.post(f"/questionnaires/{qid}/open", headers=net.ar1.headers)
    assert r.status_code == 403
    r = await client.post(f"/questionnaires/{qid}/open", headers=mod)
    assert r.status_code == 200 and r.json()["status"] == "open" and r.json()["opened_at"]
    assert (await client.post(f"/questionnaires/{qid}/open", headers=mod)).status_code == 409

    # Before any response, questions change (ids given again in order).
    fewer = questions(net)[1:]
    r = await client.patch(f"/questionnaires/{qid}", json={"questions": fewer}, headers=mod)
    assert r.status_code == 200, r.text
    assert [(q["id"], q["kind"]) for q in r.json()["questions"]] == [
        ("q1", "multiple"),
        ("q2", "scale"),
        ("q3", "text"),
    ]
    r = await answer(client, qid, net.ar1, net.orgs["AR1"], {"q2": 4})
    assert r.status_code == 201, r.text

    # Frozen from the first response: 409, and nothing changes; the same questions, a title
    # and an intro are fine.
    r = await client.patch(
        f"/questionnaires/{qid}", json={"questions": questions(net)}, headers=mod
    )
    assert r.status_code == 409, r.text
    r = await client.get(f"/questionnaires/{qid}", headers=mod)
    assert len(r.json()["questions"]) == 3 and r.json()["response_count"] == 1
    etag = r.headers["etag"]
    r = await client.patch(
        f"/questionnaires/{qid}",
        json={"questions": fewer, "title": "June interviews"},
        headers={**mod, "If-Match": etag},
    )
    assert r.status_code == 200 and r.json()["title"] == "June interviews"
    r = await client.patch(
        f"/questionnaires/{qid}", json={"intro": "x"}, headers={**mod, "If-Match": etag}
    )
    assert r.status_code == 412

    r = await client.post(f"/questionnaires/{qid}/close", headers=mod)
    assert r.status_code == 200 and r.json()["status"] == "closed" and r.json()["closed_at"]
    for move in ("open", "close"):
        assert (await client.post(f"/questionnaires/{qid}/{move}", headers=mod)).status_code == 409
    r = await answer(client, qid, net.ar1, net.orgs["AR1"], {"q2": 5})
    assert r.status_code == 409, r.text

    types = [e["type"] for e in await events_of(client, net.owner, net.gid)]
    consultation = [t for t in types if t.startswith(("questionnaire.", "response."))]
    assert consultation == [
        "questionnaire.created",
        "questionnaire.opened",
        "questionnaire.updated",
        "response.submitted",
        "questionnaire.updated",
        "questionnaire.closed",
    ]


async def test_creation_is_for_moderators_and_checked(client: httpx.AsyncClient) -> None:
    net = await network(client)
    other = await make_group(client, net.owner)
    r = await client.post(
        f"/groups/{other['id']}/focus-areas", json={"title": "Elsewhere"}, headers=net.owner.headers
    )
    foreign_area = r.json()["id"]
    path = f"/groups/{net.gid}/questionnaires"
    body = {"title": "Round", "questions": questions(net)}
    assert (await client.post(path, json=body, headers=net.ar1.headers)).status_code == 403

    bad: list[tuple[dict[str, Any], list[str]]] = [
        ({"text": "Pick", "kind": "single", "options": ["Only"]}, ["questions", "1"]),
        ({"text": "Pick", "kind": "multiple", "options": ["A", "A"]}, ["questions", "1"]),
        ({"text": "Say", "options": ["A", "B"]}, ["questions", "1"]),
        ({"text": "Rate", "kind": "scale", "scale_max": 11}, ["questions", "1", "scale_max"]),
        ({"text": "Say", "scale_max": 5}, ["questions", "1"]),
        ({"text": "   "}, ["questions", "1"]),
        ({"text": "Where", "focus_area_id": foreign_area}, ["questions", "1", "focus_area_id"]),
    ]
    for question, loc in bad:
        body = {"title": "Round", "questions": [{"text": "Fine"}, question]}
        r = await client.post(path, json=body, headers=net.moderator.headers)
        assert r.status_code == 422, (question, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert any(e["loc"][1:4] == loc for e in r.json()["errors"]), (question, r.text)
    r = await client.get(path, headers=net.owner.headers)
    assert r.json()["items"] == []  # nothing was written

    first = await questionnaire(client, net, open_it=False)
    second = await questionnaire(client, net)
    r = await client.get(path, headers=net.cr.headers)
    assert [q["id"] for q in r.json()["items"]] == [second, first]  # newest first
    r = await client.get(path, params={"status": "draft"}, headers=net.cr.headers)
    assert [q["id"] for q in r.json()["items"]] == [first]


# --- responses ---------------------------------------------------------------------------


async def test_one_response_per_organization_and_who_answers(client: httpx.AsyncClient) -> None:
    net = await network(client)
    qid = await questionnaire(client, net)
    r = await answer(client, qid, net.ar1, net.orgs["AR1"], {"q1": "Cost", "q3": 2})
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["submitted_by"] == net.ar1.id and first["interviewed_by"] is None

    # A later submission for the same organization replaces its answers: same response.
    r = await answer(client, qid, net.ar1, net.orgs["AR1"], {"q1": "Skills", "q3": 4})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == first["id"] and r.json()["answers"] == {"q1": "Skills", "q3": 4}

    # A member answers for their own organization only; observers do not answer.
    r = await answer(client, qid, net.ar1, net.orgs["CO"], {"q1": "Cost", "q3": 2})
    assert r.status_code == 403, r.text
    r = await answer(client, qid, net.cr, net.orgs["CR"], {"q1": "Cost", "q3": 2})
    assert r.status_code == 403, r.text

    # A moderator records an interview for a member organization, not for any other.
    r = await answer(client, qid, net.moderator, net.orgs["OUT"], {"q1": "Cost", "q3": 2})
    assert r.status_code == 422, r.text
    assert [e["loc"] for e in r.json()["errors"]] == [["body", "organization_id"]]
    r = await answer(client, qid, net.moderator, net.orgs["CO"], {"q1": "Cost", "q3": 5})
    assert r.status_code == 201, r.text
    interview = r.json()
    assert interview["interviewed_by"] == net.moderator.id
    assert interview["submitted_by"] == net.moderator.id
    # The organization's member takes the answers over: no longer an interview.
    r = await answer(client, qid, net.co, net.orgs["CO"], {"q1": "Connectivity", "q3": 5})
    assert r.status_code == 200 and r.json()["id"] == interview["id"]
    assert r.json()["interviewed_by"] is None and r.json()["submitted_by"] == net.co.id

    r = await client.get(f"/questionnaires/{qid}/responses", headers=net.moderator.headers)
    assert [x["organization_id"] for x in r.json()["items"]] == [net.orgs["AR1"], net.orgs["CO"]]

    submitted = await _events(client, net, "response.submitted")
    assert [e["data"]["created"] for e in submitted] == [True, False, True, False]
    interview_event = submitted[2]
    assert interview_event["subject"] == {"type": "response", "id": interview["id"]}
    assert interview_event["data"] == {
        "questionnaire_id": qid,
        "response_id": interview["id"],
        "organization_id": net.orgs["CO"],
        "interviewed_by": net.moderator.id,
        "created": True,
    }  # ids only: never the answers


async def test_answers_are_checked_per_kind(client: httpx.AsyncClient) -> None:
    net = await network(client)
    qid = await questionnaire(client, net)
    wrong = {
        "q1": "Money",  # not an option
        "q2": ["Cloud", "Cloud"],  # chosen twice
        "q3": 6,  # beyond scale_max
        "q4": 7,  # a text question takes a string
        "q9": "?",  # no such question
    }
    r = await answer(client, qid, net.ar1, net.orgs["AR1"], wrong)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    by_question = {e["loc"][-1]: e["msg"] for e in r.json()["errors"]}
    assert set(by_question) == {"q1", "q2", "q3", "q4", "q9"}
    assert "Money" in by_question["q1"] and "1 to 5" in by_question["q3"]

    cases: list[tuple[dict[str, Any], str]] = [
        ({"q3": 3}, "q1"),  # a required question unanswered
        ({"q1": "Cost", "q3": 3, "q2": "Cloud"}, "q2"),  # multiple takes a list
        ({"q1": "Cost", "q3": 3, "q2": ["Quantum"]}, "q2"),
        ({"q1": "Cost", "q3": 0}, "q3"),
        ({"q1": "Cost", "q3": "3"}, "q3"),
        ({"q1": ["Cost"], "q3": 3}, "q1"),  # single takes one option
        ({"q1": "Cost", "q3": 3, "q4": ["a"]}, "q4"),
        ({"q1": "", "q3": 3}, "q1"),  # blank is no answer, and q1 is required
    ]
    for answers, question in cases:
        r = await answer(client, qid, net.ar1, net.orgs["AR1"], answers)
        assert r.status_code == 422, (answers, r.text)
        assert [e["loc"] for e in r.json()["errors"]] == [["body", "answers", question]], r.text
    r = await client.get(f"/questionnaires/{qid}", headers=net.moderator.headers)
    assert r.json()["response_count"] == 0  # nothing was written

    # Blank texts and empty lists are no answers; multiple answers keep the options' order.
    ok = {"q1": "Cost", "q2": ["ERP", "Cloud"], "q3": 5, "q4": "  "}
    r = await answer(client, qid, net.ar1, net.orgs["AR1"], ok)
    assert r.status_code == 201, r.text
    assert r.json()["answers"] == {"q1": "Cost", "q2": ["Cloud", "ERP"], "q3": 5}


# --- summary, list, CSV ------------------------------------------------------------------


async def _known_set(client: httpx.AsyncClient) -> tuple[Network, str]:
    """AR1 and AR2 answer themselves, CO is interviewed, CR does not respond."""
    net = await network(client)
    qid = await questionnaire(client, net)
    given = [
        (net.ar1, "AR1", {"q1": "Cost", "q2": ["Cloud", "AI"], "q3": 4, "q4": "=1+1"}),
        (net.ar2, "AR2", {"q1": "Skills", "q2": ["AI"], "q3": 2}),
        (net.moderator, "CO", {"q1": "Cost", "q3": 5, "q4": "Needs a bigger network"}),
    ]
    for who, org, answers in given:
        r = await answer(client, qid, who, net.orgs[org], answers)
        assert r.status_code == 201, r.text
    return net, qid


def _options(question: dict[str, Any]) -> dict[str, int]:
    return {o["option"]: o["count"] for o in question["options"]}


async def test_summary_and_response_rates(client: httpx.AsyncClient) -> None:
    net, qid = await _known_set(client)
    path = f"/questionnaires/{qid}/summary"
    r = await client.get(path, headers=net.cr.headers)  # every reader of the group
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["responses"] == 3
    assert s["response_rate"] == {"country": None, "responding": 3, "members": 4, "rate": 0.75}
    assert s["by_country"] == [
        {"country": "AR", "responding": 2, "members": 2, "rate": 1.0},
        {"country": "CO", "responding": 1, "members": 1, "rate": 1.0},
        {"country": "CR", "responding": 0, "members": 1, "rate": 0.0},
    ]
    q1, q2, q3, q4 = s["questions"]
    assert q1["answered"] == 3 and _options(q1) == {"Cost": 2, "Skills": 1, "Connectivity": 0}
    assert q2["answered"] == 2 and _options(q2) == {"Cloud": 1, "AI": 2, "ERP": 0}
    assert q3["answered"] == 3 and q3["mean"] == 3.67
    assert [h["count"] for h in q3["histogram"]] == [0, 1, 0, 1, 1]
    assert q4 == {
        "id": "q4",
        "text": "Anything else?",
        "kind": "text",
        "focus_area_id": None,
        "answered": 2,
        "options": None,
        "mean": None,
        "histogram": None,
    }  # never the texts

    r = await client.get(path, params={"country": "ar"}, headers=net.cr.headers)
    s = r.json()
    assert s["country"] == "AR" and s["responses"] == 2
    assert s["response_rate"] == {"country": "AR", "responding": 2, "members": 2, "rate": 1.0}
    assert [c["country"] for c in s["by_country"]] == ["AR"]
    assert _options(s["questions"][0]) == {"Cost": 1, "Skills": 1, "Connectivity": 0}
    assert s["questions"][2]["mean"] == 3.0

    r = await client.get(path, params={"country": "CR"}, headers=net.cr.headers)
    assert r.json()["responses"] == 0 and r.json()["response_rate"]["rate"] == 0.0
    assert r.json()["questions"][2]["mean"] is None

    supply = {"focus_area_id": net.areas["supply"]}
    r = await client.get(path, params=supply, headers=net.cr.headers)
    assert [q["id"] for q in r.json()["questions"]] == ["q2"]
    assert r.json()["response_rate"]["rate"] == 0.75  # the rate is about organizations
    r = await client.get(
        path,
        params={"focus_area_id": net.areas["adoption"], "country": "CO"},
        headers=net.cr.headers,
    )
    (only,) = r.json()["questions"]
    assert only["id"] == "q1" and _options(only) == {"Cost": 1, "Skills": 0, "Connectivity": 0}


async def test_responses_list_and_csv_are_for_moderators(client: httpx.AsyncClient) -> None:
    net, qid = await _known_set(client)
    for user in (net.ar1, net.cr):
        for tail in ("responses", "responses.csv"):
            r = await client.get(f"/questionnaires/{qid}/{tail}", headers=user.headers)
            assert r.status_code == 403, (tail, r.text)

    path = f"/questionnaires/{qid}/responses"
    r = await client.get(path, params={"limit": 2}, headers=net.moderator.headers)
    page = r.json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    r = await client.get(
        path, params={"limit": 2, "cursor": page["next_cursor"]}, headers=net.moderator.headers
    )
    rest = r.json()
    assert rest["next_cursor"] is None
    orgs = [x["organization_id"] for x in page["items"] + rest["items"]]
    assert orgs == [net.orgs["AR1"], net.orgs["AR2"], net.orgs["CO"]]

    r = await client.get(f"{path}.csv", headers=net.owner.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    header, *lines = rows
    assert header[:7] == [
        "response_id",
        "organization_id",
        "organization",
        "country",
        "submitted_by",
        "interviewed_by",
        "updated_at",
    ]
    assert header[7:] == [
        "q1: Main barrier to adopting digital technologies?",
        "q2: What do your companies offer?",
        "q3: How visible is your cluster?",
        "q4: Anything else?",
    ]
    assert [line[3] for line in lines] == ["AR", "AR", "CO"]
    ar1, ar2, co = lines
    assert ar1[7:] == ["Cost", "Cloud; AI", "4", "'=1+1"]  # a formula stays text
    assert ar2[7:] == ["Skills", "AI", "2", ""]
    assert co[5] == net.moderator.id and ar1[5] == ""  # the interview
