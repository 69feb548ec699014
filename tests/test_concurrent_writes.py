"""Concurrent writers of one object on PostgreSQL (real row locks): each sees what the previous
one committed, and `If-Match` guards against lost updates."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.helpers import make_user
from tests.roadmap_helpers import create_item, make_team, patch_item

pytestmark = pytest.mark.postgres_only


@pytest.fixture(autouse=True)
def _needs_postgres(is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip("row locks and real concurrency need PostgreSQL")


async def test_concurrent_patches_of_one_item_each_see_the_last(
    client: httpx.AsyncClient,
) -> None:
    """Writers of one item queue on its group's lock; each reads the item as the previous one
    left it (in the same statement that took the lock), so none fails on a stale version and
    the history's `changes` follow one another."""
    team = await make_team(client)
    item = await create_item(client, team, owner_id=team.member.id)
    answers = await asyncio.gather(
        *(patch_item(client, team.moderator, item["id"], progress=p) for p in range(1, 11))
    )
    assert [a.status_code for a in answers] == [200] * 10
    assert sorted(int(a.headers["etag"].strip('"')) for a in answers) == list(range(2, 12))
    r = await client.get(f"/groups/{team.group_id}/events", headers=team.owner.headers)
    updates = [e for e in r.json()["items"] if e["type"] == "action_item.updated"]
    progress = [(e["data"]["changes"]["progress"]["old"], e["data"]["changes"]["progress"]["new"])
                for e in updates]  # fmt: skip
    assert len(progress) == 10
    assert progress[0][0] == 0
    assert all(progress[i][1] == progress[i + 1][0] for i in range(9))


async def test_two_profile_edits_with_one_etag_one_wins(client: httpx.AsyncClient) -> None:
    """Both hold the same ETag: one edit is applied, the other is refused with 412."""
    user = await make_user(client, "profile")
    r = await client.get("/users/me", headers=user.headers)
    etag = r.headers["etag"]
    answers = await asyncio.gather(
        *(
            client.patch(
                "/users/me", json={"name": name}, headers={**user.headers, "If-Match": etag}
            )
            for name in ("first", "second")
        )
    )
    assert sorted(a.status_code for a in answers) == [200, 412]
    winner = next(a for a in answers if a.status_code == 200).json()["name"]
    r = await client.get("/users/me", headers=user.headers)
    assert r.json()["name"] == winner
