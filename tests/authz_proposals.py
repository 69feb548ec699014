"""Authorization matrix rows for proposals, endorsements, votes and proposal comments.

The world's proposal was written by a plain member ("extra") and is under review, so every
route can succeed for someone: the author is none of the callers, so members may not edit or
move it, while moderators and owners may.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.authz_base import (
    API,
    Case,
    World,
    group_read,
    json_body,
    member_write,
    moderator_write,
)

P = f"{API}/proposals/{{proposal_id}}"
WRITERS = ("member", "moderator", "owner")


async def _proposal(client: httpx.AsyncClient, world: World, *, review: bool) -> str:
    """A proposal by "extra", submitted, and under review when `review`."""
    author = world.extra.headers
    r = await client.post(
        f"/groups/{world.group_id}/proposals",
        json={"title": "Training programme", "body": "For the network of clusters"},
        headers=author,
    )
    assert r.status_code == 201, r.text
    pid: str = r.json()["id"]
    r = await client.post(f"/proposals/{pid}/transitions", json={"to": "submitted"}, headers=author)
    assert r.status_code == 200, r.text
    if review:
        moderator = world.users["moderator"].headers
        r = await client.post(
            f"/proposals/{pid}/transitions", json={"to": "under_review"}, headers=moderator
        )
        assert r.status_code == 200, r.text
    return pid


async def build(client: httpx.AsyncClient, world: World) -> None:
    world.ids["proposal_id"] = await _proposal(client, world, review=True)


async def fresh_submitted(client: httpx.AsyncClient, world: World, caller: str) -> None:
    """Each caller tries to start the review of its own submitted proposal (2 events)."""
    world.ids["proposal_id"] = await _proposal(client, world, review=False)


async def endorsed_by_caller(client: httpx.AsyncClient, world: World, caller: str) -> None:
    """Callers who may endorse have endorsed (1 event each) before taking it back."""
    if caller in WRITERS:
        r = await client.put(
            f"/proposals/{world.ids['proposal_id']}/endorsement",
            headers=world.users[caller].headers,
        )
        assert r.status_code == 200, r.text


def rename(world: World, caller: str) -> dict[str, Any]:
    return {"json": {"title": f"Edited by the {caller}"}}


MATRIX: dict[tuple[str, str], Case] = {
    ("POST", f"{API}/groups/{{group_id}}/proposals"): Case(
        member_write(201),
        json_body({"title": "Catalogue", "body": "Of digital solutions"}),
        events=3,
    ),
    ("GET", f"{API}/groups/{{group_id}}/proposals"): Case(group_read()),
    ("GET", P): Case(group_read()),
    ("PATCH", P): Case(moderator_write(200), rename, events=2),
    ("POST", f"{P}/transitions"): Case(
        moderator_write(200),
        json_body({"to": "under_review"}),
        events=6 * 2 + 2,
        fresh=fresh_submitted,
    ),
    ("PUT", f"{P}/endorsement"): Case(member_write(200), events=3),
    ("DELETE", f"{P}/endorsement"): Case(member_write(204), events=3 + 3, fresh=endorsed_by_caller),
    ("PUT", f"{P}/vote"): Case(member_write(200), json_body({"choice": "yes"}), events=3),
    ("GET", f"{P}/votes"): Case(group_read()),
    ("GET", f"{P}/comments"): Case(group_read()),
    ("POST", f"{P}/comments"): Case(member_write(201), json_body({"body": "Agreed"}), events=3),
}
