"""The hot paths answer from Core rows serialised straight to JSON (app/core/responses.py):
every such answer must be exactly what the read model (pydantic) makes of the stored row —
the shape the OpenAPI document promises — field for field, date-times and all."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import BaseModel
from sqlmodel import SQLModel, select

from app.events.schemas import EventRead
from app.events.service import event_read
from app.groups.schemas import GroupRead
from app.meetings.schemas import MeetingRead
from app.models import ActionItem, Event, Group, Meeting, Notification, Proposal
from app.notifications.schemas import NotificationRead
from app.proposals.schemas import ProposalRead
from app.roadmap.schemas import ActionItemRead
from tests.helpers import events_about, events_of, make_user
from tests.roadmap_helpers import create_item, create_proposal, make_team, patch_item
from tests.test_meetings import create_meeting


async def _stored(app: FastAPI, model: type[SQLModel], object_id: str) -> Any:
    async with app.state.session_factory() as session:
        return await session.get(model, uuid.UUID(object_id))


def _as_read(read: type[BaseModel], row: Any, **extra: Any) -> dict[str, Any]:
    """What `read` makes of the stored row (with `extra` fields, as the route adds them)."""
    values = {**read.model_validate(row).model_dump(), **extra}
    return read.model_validate(values).model_dump(mode="json")


async def test_action_item_answers_are_the_read_model_of_the_row(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    team = await make_team(client)
    proposal = await create_proposal(client, team)
    meeting = await create_meeting(client, team.moderator, team.group_id)
    item = await create_item(
        client,
        team,
        title="Every field set",
        description="with a description",
        owner_id=team.member.id,
        due_date=str(date.today() - timedelta(days=3)),
        priority="high",
        focus_area_id=team.areas[0],
        proposal_id=proposal["id"],
        meeting_id=meeting["id"],
    )
    r = await patch_item(client, team.moderator, item["id"], status="done")
    assert r.status_code == 200, r.text
    patched = r.json()

    row = await _stored(app, ActionItem, item["id"])
    expected = _as_read(ActionItemRead, row)
    assert expected["completed_at"] is not None and expected["overdue"] is False
    assert patched == expected
    assert r.headers["etag"] == f'"{row.version}"'

    r = await client.get(f"/action-items/{item['id']}", headers=team.observer.headers)
    assert r.json() == expected and r.headers["etag"] == f'"{row.version}"'
    r = await client.get(f"/groups/{team.group_id}/action-items", headers=team.observer.headers)
    assert [i for i in r.json()["items"] if i["id"] == item["id"]] == [expected]
    r = await client.get("/users/me/action-items", headers=team.member.headers)
    assert [i for i in r.json()["items"] if i["id"] == item["id"]] == [expected]

    # The events carry the same shape (their data is what integrations receive).
    events = await events_about(client, team.owner, team.group_id, item["id"])
    assert [e["type"] for e in events] == [
        "action_item.created",
        "action_item.assigned",
        "action_item.updated",
        "action_item.completed",
    ]
    assert events[-1]["data"]["action_item"] == expected
    assert events[2]["data"]["changes"]["status"] == {"old": "todo", "new": "done"}
    assert events[2]["data"]["changes"]["completed_at"] == {
        "old": None,
        "new": expected["completed_at"],
    }


async def test_list_answers_are_the_read_models_of_the_rows(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    team = await make_team(client)
    proposal = await create_proposal(client, team)
    await create_meeting(client, team.moderator, team.group_id)
    headers = team.member.headers

    r = await client.get(f"/groups/{team.group_id}/proposals", headers=headers)
    (listed,) = [p for p in r.json()["items"] if p["id"] == proposal["id"]]
    row = await _stored(app, Proposal, proposal["id"])
    assert listed == _as_read(ProposalRead, row, allowed_transitions=["submitted", "withdrawn"])

    r = await client.get(f"/groups/{team.group_id}/meetings", headers=headers)
    (meeting,) = r.json()["items"]
    assert meeting == _as_read(MeetingRead, await _stored(app, Meeting, meeting["id"]))

    r = await client.get(f"/groups/{team.group_id}", headers=headers)
    group = await _stored(app, Group, team.group_id)
    assert r.json() == _as_read(GroupRead, group, my_role="member")
    assert r.headers["etag"] == f'"{group.version}"'

    r = await client.get(f"/groups/{team.group_id}/events", headers=headers)
    async with app.state.session_factory() as session:
        stored = (
            await session.execute(
                select(Event).where(Event.group_id == uuid.UUID(team.group_id)).order_by(Event.seq)
            )
        ).scalars()
        assert r.json()["items"] == [
            EventRead.model_validate(event_read(e)).model_dump(mode="json") for e in stored
        ]


async def test_inbox_answers_are_the_read_models_of_the_rows(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """Notifications are written by the worker; one is stored here directly to read back."""
    team = await make_team(client)
    event = (await events_of(client, team.owner, team.group_id))[-1]
    note = Notification(
        user_id=uuid.UUID(team.member.id),
        event_id=uuid.UUID(event["id"]),
        group_id=uuid.UUID(team.group_id),
        type=event["type"],
        reason="member",
        data={"title": "A focus area", "seq": event["seq"]},
    )
    async with app.state.session_factory() as session, session.begin():
        session.add(note)
    r = await client.get("/notifications", headers=team.member.headers)
    assert r.json()["items"] == [_as_read(NotificationRead, note)]
    r = await client.get("/notifications/unread-count", headers=team.member.headers)
    assert r.json() == {"count": 1}


async def test_a_tampered_cursor_is_a_400_not_a_500(client: httpx.AsyncClient) -> None:
    """Cursors are opaque, but a client can still build one: a date-time without an offset
    (ours always carry one) is refused like any other malformed cursor."""
    user = await make_user(client, "cursor")
    r = await client.get("/groups", params={"limit": 1}, headers=user.headers)
    assert r.status_code == 200
    for created_at in ("2026-01-01T00:00:00", "not a date"):
        raw = json.dumps([created_at, str(uuid.uuid4())]).encode()
        cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        r = await client.get("/groups", params={"cursor": cursor}, headers=user.headers)
        assert r.status_code == 400, r.text
        assert r.json()["errors"] == [{"loc": ["query", "cursor"]}]
