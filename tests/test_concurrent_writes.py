"""Concurrent writers of one object on PostgreSQL (real row locks): each sees what the previous
one committed, and `If-Match` guards against lost updates."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from app.core.events import write_events
from tests.helpers import eventually, make_user
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


async def test_a_write_waiting_on_a_role_change_sees_the_new_role(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A member's PATCH that waits for the group's lock while an owner demotes them to
    observer is judged by the role committed meanwhile (403), not by the one it first read."""
    team = await make_team(client)
    item = await create_item(client, team, by=team.member)
    group_id, member_id = uuid.UUID(team.group_id), uuid.UUID(team.member.id)
    async with app.state.engine.connect() as owner:
        await owner.begin()
        await owner.execute(text("SELECT 1 FROM groups WHERE id = :g FOR UPDATE"), {"g": group_id})
        await owner.execute(
            text("UPDATE memberships SET role = 'observer' WHERE group_id = :g AND user_id = :u"),
            {"g": group_id, "u": member_id},
        )
        await write_events(
            owner,
            group_id=group_id,
            actor_id=uuid.UUID(team.owner.id),
            subject_type="member",
            subject_id=member_id,
            events=[
                ("member.updated", {"changes": {"role": {"old": "member", "new": "observer"}}})
            ],
        )
        patch = asyncio.create_task(patch_item(client, team.member, item["id"], progress=50))
        await eventually(lambda: _waiting_for_a_lock(app))
        await owner.commit()
    r = await patch
    assert r.status_code == 403, r.text
    r = await client.get(f"/action-items/{item['id']}", headers=team.owner.headers)
    assert r.json()["progress"] == 0


async def _waiting_for_a_lock(app: FastAPI) -> bool:
    async with app.state.engine.connect() as conn:
        waiting = await conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
        return bool(waiting.scalar_one())
