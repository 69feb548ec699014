"""Proposals through the HTTP API: the state machine, editing, endorsements, votes, comments."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx
import pytest

from tests.helpers import events_of
from tests.roadmap_helpers import create_proposal, make_team, move, proposal_in

STATES = ("draft", "submitted", "under_review", "accepted", "rejected", "withdrawn")
# API.md: the whole table. Anything not here is a 409.
ALLOWED = {
    ("draft", "submitted"): "author",
    ("submitted", "under_review"): "moderator",
    ("under_review", "accepted"): "moderator",
    ("under_review", "rejected"): "moderator",
    ("draft", "withdrawn"): "author",
    ("submitted", "withdrawn"): "author",
    ("under_review", "withdrawn"): "author",
}
CALLERS = ("author", "moderator", "other_member", "observer")


def expected(source: str, target: str, caller: str) -> int:
    if caller == "observer":
        return 403  # observers read only
    actor = ALLOWED.get((source, target))
    if actor is None:
        return 409
    return 200 if caller == actor else 403


def allowed_for(source: str, caller: str) -> list[str]:
    return [t for (s, t), actor in ALLOWED.items() if s == source and actor == caller]


@pytest.mark.parametrize("source", STATES)
async def test_every_transition_for_every_caller(client: httpx.AsyncClient, source: str) -> None:
    """Table-driven: from `source` to every state, by each kind of caller, on a fresh proposal."""
    team = await make_team(client, areas=0)
    users = {
        "author": team.member,
        "moderator": team.moderator,
        "other_member": team.member2,
        "observer": team.observer,
    }
    got: dict[tuple[str, str], int] = {}
    want: dict[tuple[str, str], int] = {}
    for target, caller in itertools.product(STATES, CALLERS):
        proposal = await proposal_in(client, team, source, author=team.member)
        seq_before = (await events_of(client, team.owner, team.group_id))[-1]["seq"]
        r = await move(client, users[caller], proposal["id"], target, reason="because")
        got[(target, caller)] = r.status_code
        want[(target, caller)] = expected(source, target, caller)
        after = await client.get(f"/proposals/{proposal['id']}", headers=team.owner.headers)
        events = await events_of(client, team.owner, team.group_id)
        if r.status_code == 200:
            body = r.json()
            assert body["state"] == target == after.json()["state"]
            assert body["action_items"] == []
            (event,) = [e for e in events if e["seq"] > seq_before]
            kind = "proposal.submitted" if target == "submitted" else "proposal.state_changed"
            assert event["type"] == kind
            assert event["data"]["from"] == source and event["data"]["to"] == target
            assert event["data"]["reason"] == "because"
            assert event["subject"] == {"type": "proposal", "id": proposal["id"]}
        else:
            assert after.json()["state"] == source  # nothing changed
            assert events[-1]["seq"] == seq_before  # and nothing was recorded
            problem = r.json()
            if r.status_code == 409:
                assert problem["type"].endswith("/invalid-transition")
                assert problem["allowed"] == allowed_for(source, caller)
            elif caller != "observer":  # a move of the table, by the wrong person
                assert problem["allowed"] == allowed_for(source, caller)
    assert got == want


async def test_allowed_transitions_are_listed_for_the_caller(client: httpx.AsyncClient) -> None:
    team = await make_team(client, areas=0)
    p = await proposal_in(client, team, "submitted")
    mine = await client.get(f"/proposals/{p['id']}", headers=team.member.headers)
    assert mine.json()["allowed_transitions"] == ["withdrawn"]
    r = await client.get(f"/proposals/{p['id']}", headers=team.moderator.headers)
    assert r.json()["allowed_transitions"] == ["under_review"]
    r = await client.get(f"/proposals/{p['id']}", headers=team.observer.headers)
    assert r.json()["allowed_transitions"] == []


async def test_create_validates_links_and_starts_as_draft(client: httpx.AsyncClient) -> None:
    team = await make_team(client, areas=1)
    other = await make_team(client, areas=1)
    r = await client.post(
        "/organizations",
        json={"name": "Jalisco Digital Cluster test", "kind": "cluster", "country": "MX"},
        headers=team.member.headers,
    )
    org_id = r.json()["id"]
    p = await create_proposal(
        client, team, title="Training", focus_area_id=team.areas[0], organization_id=org_id
    )
    assert p["state"] == "draft" and p["author_id"] == team.member.id
    assert p["endorsement_count"] == 0 and p["submitted_at"] is None
    url = f"/groups/{team.group_id}/proposals"
    for bad in (
        {"focus_area_id": other.areas[0]},
        {"organization_id": "00000000-0000-0000-0000-000000000000"},
        {"title": ""},
        {"state": "accepted"},
    ):
        r = await client.post(
            url, json={"title": "T", "body": "B", **bad}, headers=team.member.headers
        )
        assert r.status_code == 422, (bad, r.text)
    r = await client.post(url, json={"title": "T", "body": "B"}, headers=team.observer.headers)
    assert r.status_code == 403

    await proposal_in(client, team, "submitted")
    r = await client.get(url, params={"state": "draft"}, headers=team.observer.headers)
    assert [x["id"] for x in r.json()["items"]] == [p["id"]]
    r = await client.get(
        url, params={"focus_area_id": team.areas[0]}, headers=team.observer.headers
    )
    assert [x["id"] for x in r.json()["items"]] == [p["id"]]
    r = await client.get(url, headers=team.outsider.headers)
    assert r.status_code == 404


async def _patch(
    client: httpx.AsyncClient, user: Any, proposal: dict[str, Any], **body: Any
) -> httpx.Response:
    return await client.patch(f"/proposals/{proposal['id']}", json=body, headers=user.headers)


@pytest.mark.parametrize(
    ("state", "author", "moderator"),
    [
        ("draft", 200, 200),
        ("submitted", 200, 200),
        ("under_review", 409, 200),
        ("accepted", 409, 409),
        ("rejected", 409, 409),
        ("withdrawn", 409, 409),
    ],
)
async def test_who_edits_in_which_state(
    client: httpx.AsyncClient, state: str, author: int, moderator: int
) -> None:
    team = await make_team(client, areas=0)
    p = await proposal_in(client, team, state)
    assert (await _patch(client, team.member, p, title="By the author")).status_code == author
    assert (await _patch(client, team.moderator, p, body="By a moderator")).status_code == moderator
    assert (await _patch(client, team.member2, p, title="Not mine")).status_code == 403
    assert (await _patch(client, team.observer, p, title="Observer")).status_code == 403


async def test_patch_honours_if_match_and_records_changes(client: httpx.AsyncClient) -> None:
    team = await make_team(client, areas=1)
    p = await create_proposal(client, team, title="Catalogue")
    r = await client.get(f"/proposals/{p['id']}", headers=team.member.headers)
    etag = r.headers["ETag"]
    r = await client.patch(
        f"/proposals/{p['id']}",
        json={"title": "Regional catalogue", "focus_area_id": team.areas[0]},
        headers={**team.member.headers, "If-Match": etag},
    )
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] != etag
    r = await client.patch(
        f"/proposals/{p['id']}",
        json={"title": "Stale"},
        headers={**team.member.headers, "If-Match": etag},
    )
    assert r.status_code == 412
    r = await _patch(client, team.member, p, title=None)
    assert r.status_code == 422
    events = await events_of(client, team.owner, team.group_id)
    (updated,) = [e for e in events if e["type"] == "proposal.updated"]
    assert updated["data"]["changes"] == {
        "title": {"old": "Catalogue", "new": "Regional catalogue"},
        "focus_area_id": {"old": None, "new": team.areas[0]},
    }


async def test_acceptance_creates_linked_action_items(client: httpx.AsyncClient) -> None:
    team = await make_team(client, areas=2)
    p = await proposal_in(client, team, "under_review")
    await _patch(client, team.moderator, p, focus_area_id=team.areas[1])
    r = await move(
        client,
        team.moderator,
        p["id"],
        "accepted",
        action_items=[
            {
                "title": "Design the curriculum",
                "owner_id": team.member.id,
                "due_date": "2031-03-01",
            },
            {"title": "Find trainers", "focus_area_id": team.areas[0], "priority": "high"},
        ],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == "accepted" and body["decided_at"]
    first, second = body["action_items"]
    assert first["proposal_id"] == second["proposal_id"] == p["id"]
    assert first["owner_id"] == team.member.id and first["focus_area_id"] == team.areas[1]
    assert second["focus_area_id"] == team.areas[0] and second["priority"] == "high"
    r = await client.get(
        f"/groups/{team.group_id}/action-items",
        params={"proposal_id": p["id"]},
        headers=team.observer.headers,
    )
    assert {i["id"] for i in r.json()["items"]} == {first["id"], second["id"]}
    types = [e["type"] for e in await events_of(client, team.owner, team.group_id)][-4:]
    assert types == [
        "proposal.state_changed",
        "action_item.created",
        "action_item.assigned",
        "action_item.created",
    ]


async def test_acceptance_with_a_bad_item_changes_nothing(client: httpx.AsyncClient) -> None:
    team = await make_team(client, areas=0)
    p = await proposal_in(client, team, "under_review")
    seq = (await events_of(client, team.owner, team.group_id))[-1]["seq"]
    r = await move(
        client,
        team.moderator,
        p["id"],
        "accepted",
        action_items=[
            {"title": "Fine", "owner_id": team.member.id},
            {"title": "Owner outside the group", "owner_id": team.outsider.id},
        ],
    )
    assert r.status_code == 422, r.text
    assert r.json()["errors"][0]["loc"] == ["body", "action_items.1.owner_id"]
    r = await client.get(f"/proposals/{p['id']}", headers=team.member.headers)
    assert r.json()["state"] == "under_review"
    r = await client.get(f"/groups/{team.group_id}/action-items", headers=team.member.headers)
    assert r.json()["items"] == []
    assert (await events_of(client, team.owner, team.group_id))[-1]["seq"] == seq

    # Items only come with an acceptance.
    r = await move(client, team.moderator, p["id"], "rejected", action_items=[{"title": "X"}])
    assert r.status_code == 422
    r = await move(client, team.moderator, p["id"], "accepted", action_items=[{"title": ""}])
    assert r.status_code == 422
    r = await client.get(f"/proposals/{p['id']}", headers=team.member.headers)
    assert r.json()["state"] == "under_review"


async def test_endorsements_are_idempotent(client: httpx.AsyncClient) -> None:
    team = await make_team(client, areas=0)
    p = await proposal_in(client, team, "draft")
    url = f"/proposals/{p['id']}/endorsement"
    assert (await client.put(url, headers=team.member2.headers)).status_code == 409  # a draft
    await move(client, team.member, p["id"], "submitted")
    for _ in range(2):
        r = await client.put(url, headers=team.member2.headers)
        assert r.status_code == 200, r.text
        assert r.json()["endorsement_count"] == 1
    r = await client.put(url, headers=team.moderator.headers)
    assert r.json()["endorsement_count"] == 2
    assert (await client.put(url, headers=team.observer.headers)).status_code == 403
    for _ in range(2):
        assert (await client.delete(url, headers=team.member2.headers)).status_code == 204
    r = await client.get(f"/proposals/{p['id']}", headers=team.member.headers)
    assert r.json()["endorsement_count"] == 1
    types = [e["type"] for e in await events_of(client, team.owner, team.group_id)]
    assert types.count("proposal.endorsed") == 2
    assert types.count("proposal.endorsement_withdrawn") == 1

    # Once decided, endorsements are frozen.
    await move(client, team.moderator, p["id"], "under_review")
    await move(client, team.moderator, p["id"], "rejected")
    assert (await client.put(url, headers=team.member2.headers)).status_code == 409
    assert (await client.delete(url, headers=team.moderator.headers)).status_code == 409
    assert (await client.delete(url, headers=team.member2.headers)).status_code == 204  # none


async def test_votes_one_per_member_changeable_while_under_review(
    client: httpx.AsyncClient,
) -> None:
    team = await make_team(client, areas=0)
    p = await proposal_in(client, team, "submitted")
    vote_url, tally_url = f"/proposals/{p['id']}/vote", f"/proposals/{p['id']}/votes"
    r = await client.put(vote_url, json={"choice": "yes"}, headers=team.member2.headers)
    assert r.status_code == 409  # not under review yet
    await move(client, team.moderator, p["id"], "under_review")
    for user, choice in (
        (team.member2, "yes"),
        (team.member2, "yes"),  # the same again: still one vote
        (team.moderator, "no"),
        (team.member, "abstain"),
        (team.member, "yes"),  # changed
    ):
        r = await client.put(vote_url, json={"choice": choice}, headers=user.headers)
        assert r.status_code == 200, r.text
        assert r.json()["choice"] == choice and r.json()["user_id"] == user.id
    r = await client.get(tally_url, headers=team.observer.headers)
    assert r.json() == {"yes": 2, "no": 1, "abstain": 0}
    assert (
        await client.put(vote_url, json={"choice": "maybe"}, headers=team.member.headers)
    ).status_code == 422
    assert (
        await client.put(vote_url, json={"choice": "no"}, headers=team.observer.headers)
    ).status_code == 403
    voted = [
        e["data"]
        for e in await events_of(client, team.owner, team.group_id)
        if e["type"] == "proposal.voted"
    ]
    assert [(v["choice"], v["previous_choice"]) for v in voted] == [
        ("yes", None),
        ("no", None),
        ("abstain", None),
        ("yes", "abstain"),
    ]
    await move(client, team.moderator, p["id"], "accepted")
    r = await client.put(vote_url, json={"choice": "no"}, headers=team.member2.headers)
    assert r.status_code == 409
    assert (await client.get(tally_url, headers=team.member.headers)).json()["yes"] == 2


async def test_comments_on_proposals(client: httpx.AsyncClient) -> None:
    team = await make_team(client, areas=0)
    p = await proposal_in(client, team, "accepted")
    url = f"/proposals/{p['id']}/comments"
    bodies = ["First", "Second", "Third"]
    for body in bodies:
        r = await client.post(url, json={"body": body}, headers=team.member2.headers)
        assert r.status_code == 201, r.text
        assert r.json()["subject_type"] == "proposal" and r.json()["subject_id"] == p["id"]
    assert (
        await client.post(url, json={"body": "x"}, headers=team.observer.headers)
    ).status_code == 403
    assert (
        await client.post(url, json={"body": ""}, headers=team.member.headers)
    ).status_code == 422
    r = await client.get(url, params={"limit": 2}, headers=team.observer.headers)
    page = r.json()
    r = await client.get(url, params={"cursor": page["next_cursor"]}, headers=team.observer.headers)
    assert [c["body"] for c in page["items"] + r.json()["items"]] == bodies
    assert (await client.get(url, headers=team.outsider.headers)).status_code == 404
    missing = "/proposals/00000000-0000-0000-0000-000000000000/comments"
    assert (await client.get(missing, headers=team.member.headers)).status_code == 404
    events = await events_of(client, team.owner, team.group_id)
    commented = [e for e in events if e["type"] == "proposal.commented"]
    assert [e["data"]["comment"]["body"] for e in commented] == bodies


async def test_archived_group_refuses_proposal_writes(client: httpx.AsyncClient) -> None:
    team = await make_team(client, areas=0)
    p = await proposal_in(client, team, "under_review")
    r = await client.post(f"/groups/{team.group_id}/archive", headers=team.owner.headers)
    assert r.status_code == 200
    r = await client.put(
        f"/proposals/{p['id']}/vote", json={"choice": "yes"}, headers=team.member.headers
    )
    assert r.status_code == 409
    r = await client.get(f"/proposals/{p['id']}", headers=team.observer.headers)
    assert r.status_code == 200


async def test_concurrent_endorsements_are_all_counted(client: httpx.AsyncClient) -> None:
    team = await make_team(client, areas=0)
    p = await proposal_in(client, team, "submitted")
    url = f"/proposals/{p['id']}/endorsement"
    users = (team.member, team.member2, team.moderator, team.owner)
    results = await asyncio.gather(
        *(client.put(url, headers=u.headers) for u in users for _ in range(2))
    )
    assert [r.status_code for r in results] == [200] * 8
    r = await client.get(f"/proposals/{p['id']}", headers=team.observer.headers)
    assert r.json()["endorsement_count"] == 4
    types = [e["type"] for e in await events_of(client, team.owner, team.group_id)]
    assert types.count("proposal.endorsed") == 4
