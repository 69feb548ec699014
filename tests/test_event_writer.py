"""The event writer (app/core/events.py): a change and its events in one statement, nothing
written when the change touches no row, and a group's own timestamp left alone."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import bindparam, select, update

from app.core.events import Change, RecordedEvent, write_events
from app.models import Event, FocusArea, Group
from app.models.base import table_of, utcnow
from tests.helpers import make_group, make_user

focus_areas = table_of(FocusArea)
RENAME = (
    update(focus_areas)
    .where(focus_areas.c.id == bindparam("f_id"))
    .values(title=bindparam("f_title"), updated_at=bindparam("f_now"))
    .returning(focus_areas.c.id)
)


async def _history(app: FastAPI, group_id: uuid.UUID) -> tuple[int, list[int]]:
    async with app.state.session_factory() as session:
        last_seq = (
            await session.execute(select(Group.last_seq).where(Group.id == group_id))
        ).scalar_one()
        seqs = (
            await session.execute(
                select(Event.seq).where(Event.group_id == group_id).order_by(Event.seq)
            )
        ).scalars()
        return last_seq, list(seqs)


async def _rename(
    app: FastAPI, group_id: uuid.UUID, area_id: uuid.UUID, title: str, *, events: int
) -> list[RecordedEvent] | None:
    """Rename a focus area and record `events` events about it, in one write."""
    async with app.state.engine.begin() as conn:
        return await write_events(
            conn,
            group_id=group_id,
            actor_id=None,
            subject_type="focus_area",
            subject_id=area_id,
            events=[("focus_area.updated", {"why": "test"})] * events,
            change=Change(RENAME, {"f_id": area_id, "f_title": title, "f_now": utcnow()}),
        )


async def test_a_change_touching_no_row_writes_no_event(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    owner = await make_user(client, "owner")
    group_id = uuid.UUID((await make_group(client, owner))["id"])
    before = await _history(app, group_id)
    recorded = await _rename(app, group_id, uuid.uuid4(), "nobody", events=1)
    assert recorded is None
    assert await _history(app, group_id) == before  # no event, no seq taken

    r = await client.post(
        f"/groups/{group_id}/focus-areas", json={"title": "Area"}, headers=owner.headers
    )
    area_id = uuid.UUID(r.json()["id"])
    recorded = await _rename(app, group_id, area_id, "Renamed", events=2)
    assert recorded is not None and [e.seq for e in recorded] == [4, 5]
    last_seq, seqs = await _history(app, group_id)
    assert last_seq == 5 and seqs == [1, 2, 3, 4, 5]
    async with app.state.session_factory() as session:
        assert (await session.get(FocusArea, area_id)).title == "Renamed"  # type: ignore[union-attr]


async def test_events_leave_the_groups_updated_at_alone(client: httpx.AsyncClient) -> None:
    """`updated_at` says when the group itself changed, not when something in it did."""
    owner = await make_user(client, "owner")
    group = await make_group(client, owner)
    r = await client.post(
        f"/groups/{group['id']}/focus-areas", json={"title": "Area"}, headers=owner.headers
    )
    assert r.status_code == 201
    r = await client.get(f"/groups/{group['id']}", headers=owner.headers)
    assert r.json()["last_seq"] == 3
    assert r.json()["updated_at"] == group["updated_at"]
