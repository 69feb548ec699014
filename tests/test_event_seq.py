"""The per-group event sequence: 1, 2, 3 … in commit order, with no gaps and no duplicates.

EVENTS.md §1: every write bumps the group's `last_seq` under its row lock in the writing
transaction, so concurrent writers queue, and a rolled-back transaction gives its number back.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlmodel import col

from app.core.config import Settings
from app.core.db import SessionDep
from app.core.errors import Conflict
from app.core.events import record_event
from app.main import create_app
from app.models import Event, FocusArea, Group
from tests.helpers import events_of, make_group, make_user

CONCURRENT_WRITES = 50


def seqs(events: list[dict[str, Any]]) -> list[int]:
    return [e["seq"] for e in events]


async def last_seq(client: httpx.AsyncClient, user: Any, group_id: str) -> int:
    r = await client.get(f"/groups/{group_id}", headers=user.headers)
    assert r.status_code == 200, r.text
    value: int = r.json()["last_seq"]
    return value


async def test_concurrent_writes_get_consecutive_seq(client: httpx.AsyncClient) -> None:
    owner = await make_user(client, "owner")
    group = await make_group(client, owner)
    gid = group["id"]

    responses = await asyncio.gather(
        *(
            client.post(
                f"/groups/{gid}/focus-areas", json={"title": f"area {i}"}, headers=owner.headers
            )
            for i in range(CONCURRENT_WRITES)
        )
    )

    assert [r.status_code for r in responses] == [201] * CONCURRENT_WRITES, [
        r.text for r in responses if r.status_code != 201
    ]
    created_ids = {r.json()["id"] for r in responses}
    assert len(created_ids) == CONCURRENT_WRITES

    events = await events_of(client, owner, gid)
    total = 2 + CONCURRENT_WRITES  # group.created, member.added, then one per write
    assert seqs(events) == list(range(1, total + 1))
    created = [e for e in events if e["type"] == "focus_area.created"]
    assert len(created) == CONCURRENT_WRITES
    assert {e["subject"]["id"] for e in created} == created_ids
    assert await last_seq(client, owner, gid) == total

    # The writers also saw each other's rows: positions are 1..n, none shared.
    r = await client.get(f"/groups/{gid}/focus-areas", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert [a["position"] for a in r.json()["items"]] == list(range(1, CONCURRENT_WRITES + 1))


async def test_rolled_back_transaction_gives_its_seq_back(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    owner = await make_user(client, "owner")
    group = await make_group(client, owner)
    gid = uuid.UUID(group["id"])
    assert group["last_seq"] == 2

    async with app.state.session_factory() as session:
        ev = await record_event(
            session=session,
            group_id=gid,
            type="test.rolled_back",
            actor_id=uuid.UUID(owner.id),
            subject_type="group",
            subject_id=gid,
            data={},
        )
        assert ev.seq == 3  # taken inside the transaction …
        await session.rollback()  # … and given back

    r = await client.post(
        f"/groups/{gid}/focus-areas", json={"title": "after rollback"}, headers=owner.headers
    )
    assert r.status_code == 201, r.text

    events = await events_of(client, owner, str(gid))
    assert [(e["seq"], e["type"]) for e in events] == [
        (1, "group.created"),
        (2, "member.added"),
        (3, "focus_area.created"),
    ]
    assert await last_seq(client, owner, str(gid)) == 3


async def test_writer_waiting_on_a_rolled_back_transaction_takes_its_number(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """A request that runs while another transaction holds seq 3 ends up with seq 3 itself.

    Whether the request reaches the group lock before or after the rollback, the outcome is
    the same: the number is free again and the history stays gapless.
    """
    owner = await make_user(client, "owner")
    group = await make_group(client, owner)
    gid = uuid.UUID(group["id"])

    async with app.state.session_factory() as session:
        ev = await record_event(
            session=session,
            group_id=gid,
            type="test.rolled_back",
            actor_id=None,
            subject_type="group",
            subject_id=gid,
            data={},
        )
        assert ev.seq == 3
        request = asyncio.create_task(
            client.post(
                f"/groups/{gid}/focus-areas", json={"title": "concurrent"}, headers=owner.headers
            )
        )
        await session.rollback()
    r = await request
    assert r.status_code == 201, r.text

    events = await events_of(client, owner, str(gid))
    assert seqs(events) == [1, 2, 3]
    assert events[2]["type"] == "focus_area.created"
    assert events[2]["subject"]["id"] == r.json()["id"]


async def test_failed_request_leaves_no_event(client: httpx.AsyncClient) -> None:
    """A service that refuses a change (409) after touching rows writes nothing."""
    owner = await make_user(client, "owner")
    group = await make_group(client, owner)
    gid = group["id"]

    # Demoting the last owner: the service sets the new role, then finds no owner would remain.
    r = await client.patch(
        f"/groups/{gid}/members/{owner.id}", json={"role": "member"}, headers=owner.headers
    )
    assert r.status_code == 409, r.text
    r = await client.delete(f"/groups/{gid}/members/{owner.id}", headers=owner.headers)
    assert r.status_code == 409, r.text

    r = await client.get(f"/groups/{gid}/members/{owner.id}", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "owner"
    assert seqs(await events_of(client, owner, gid)) == [1, 2]

    r = await client.post(f"/groups/{gid}/focus-areas", json={"title": "x"}, headers=owner.headers)
    assert r.status_code == 201, r.text
    assert seqs(await events_of(client, owner, gid)) == [1, 2, 3]


async def test_error_after_event_written_rolls_the_event_back(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """The request transaction discards an event (and its row changes) when the route fails.

    A second app instance on the same database gets one extra route that writes a focus area and
    its event, then raises a domain error, exactly as a service failing half-way would.
    """
    owner = await make_user(client, "owner")
    group = await make_group(client, owner)
    gid = uuid.UUID(group["id"])

    failing_app = create_app(settings)

    @failing_app.post("/fail-after-write/{group_id}")
    async def fail_after_write(group_id: uuid.UUID, session: SessionDep) -> None:
        area = FocusArea(group_id=group_id, title="never committed")
        session.add(area)
        await session.flush()
        ev = await record_event(
            session=session,
            group_id=group_id,
            type="focus_area.created",
            actor_id=None,
            subject_type="focus_area",
            subject_id=area.id,
            data={},
        )
        assert ev.seq == 3
        raise Conflict("refused after writing")

    try:
        transport = httpx.ASGITransport(app=failing_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as other:
            r = await other.post(f"/fail-after-write/{gid}")
        assert r.status_code == 409, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
    finally:
        await failing_app.state.engine.dispose()

    assert seqs(await events_of(client, owner, str(gid))) == [1, 2]
    assert await last_seq(client, owner, str(gid)) == 2
    r = await client.get(f"/groups/{gid}/focus-areas", headers=owner.headers)
    assert r.json()["items"] == []

    r = await client.post(f"/groups/{gid}/focus-areas", json={"title": "x"}, headers=owner.headers)
    assert r.status_code == 201, r.text
    assert seqs(await events_of(client, owner, str(gid))) == [1, 2, 3]


async def test_seq_is_unique_per_group_in_the_table(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Every group's stored events are exactly 1..last_seq (checked in the database itself)."""
    owner = await make_user(client, "owner")
    groups = [await make_group(client, owner) for _ in range(3)]
    for g in groups:
        for i in range(3):
            r = await client.post(
                f"/groups/{g['id']}/focus-areas", json={"title": f"a{i}"}, headers=owner.headers
            )
            assert r.status_code == 201, r.text

    ids = [uuid.UUID(g["id"]) for g in groups]
    async with app.state.session_factory() as session:
        rows = await session.execute(
            select(col(Event.group_id), func.count(), func.min(Event.seq), func.max(Event.seq))
            .where(col(Event.group_id).in_(ids))
            .group_by(col(Event.group_id))
        )
        stats = {gid: (n, lo, hi) for gid, n, lo, hi in rows.all()}
        last = dict(
            (
                await session.execute(
                    select(col(Group.id), col(Group.last_seq)).where(col(Group.id).in_(ids))
                )
            ).all()
        )
    assert stats == {gid: (5, 1, 5) for gid in ids}
    assert last == {gid: 5 for gid in ids}
