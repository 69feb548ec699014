"""A small working group for the proposal, action-item and roadmap tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx

from tests.helpers import TestUser as ApiUser
from tests.helpers import add_member, make_group, make_user


@dataclass
class Team:
    owner: ApiUser
    moderator: ApiUser
    member: ApiUser
    member2: ApiUser
    observer: ApiUser
    outsider: ApiUser
    group_id: str
    areas: list[str]  # focus area ids, in position order


async def make_team(client: httpx.AsyncClient, areas: int = 2) -> Team:
    names = ("owner", "moderator", "member", "member2", "observer", "outsider")
    users = dict(
        zip(names, await asyncio.gather(*(make_user(client, n) for n in names)), strict=True)
    )
    gid = (await make_group(client, users["owner"], "private"))["id"]
    for name, role in (
        ("moderator", "moderator"),
        ("member", "member"),
        ("member2", "member"),
        ("observer", "observer"),
    ):
        await add_member(client, users["owner"], gid, users[name], role)
    area_ids = []
    for i in range(areas):
        r = await client.post(
            f"/groups/{gid}/focus-areas",
            json={"title": f"Area {i + 1}"},
            headers=users["owner"].headers,
        )
        assert r.status_code == 201, r.text
        area_ids.append(r.json()["id"])
    return Team(**users, group_id=gid, areas=area_ids)


async def create_item(
    client: httpx.AsyncClient, team: Team, by: ApiUser | None = None, **body: Any
) -> dict[str, Any]:
    body.setdefault("title", "An action item")
    r = await client.post(
        f"/groups/{team.group_id}/action-items",
        json=body,
        headers=(by or team.moderator).headers,
    )
    assert r.status_code == 201, r.text
    item: dict[str, Any] = r.json()
    return item


async def patch_item(
    client: httpx.AsyncClient, user: ApiUser, item_id: str, **body: Any
) -> httpx.Response:
    return await client.patch(f"/action-items/{item_id}", json=body, headers=user.headers)


async def create_proposal(
    client: httpx.AsyncClient, team: Team, author: ApiUser | None = None, **body: Any
) -> dict[str, Any]:
    body = {"title": "A proposal", "body": "Why and how", **body}
    r = await client.post(
        f"/groups/{team.group_id}/proposals", json=body, headers=(author or team.member).headers
    )
    assert r.status_code == 201, r.text
    proposal: dict[str, Any] = r.json()
    return proposal


async def move(
    client: httpx.AsyncClient, user: ApiUser, proposal_id: str, to: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"/proposals/{proposal_id}/transitions", json={"to": to, **body}, headers=user.headers
    )


# The path to every state through allowed moves: (state, who moves: "author" | "moderator").
PATHS: dict[str, list[tuple[str, str]]] = {
    "draft": [],
    "submitted": [("submitted", "author")],
    "under_review": [("submitted", "author"), ("under_review", "moderator")],
    "accepted": [("submitted", "author"), ("under_review", "moderator"), ("accepted", "moderator")],
    "rejected": [("submitted", "author"), ("under_review", "moderator"), ("rejected", "moderator")],
    "withdrawn": [("withdrawn", "author")],
}


async def proposal_in(
    client: httpx.AsyncClient, team: Team, state: str, author: ApiUser | None = None
) -> dict[str, Any]:
    """A new proposal by `author` (default: team.member) brought to `state`."""
    author = author or team.member
    proposal = await create_proposal(client, team, author)
    for to, who in PATHS[state]:
        r = await move(client, author if who == "author" else team.moderator, proposal["id"], to)
        assert r.status_code == 200, r.text
        proposal = r.json()
    assert proposal["state"] == state
    return proposal
