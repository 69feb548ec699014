"""The agenda: ordered items, and the pointer a live meeting moves along them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.changes import apply_changes
from app.core.errors import Conflict
from app.groups.access import GroupContext
from app.meetings import live
from app.meetings.base import check_participant, record_meeting_event
from app.meetings.lifecycle import LIVE, OPEN, require_status
from app.meetings.schemas import AgendaItemCreate, AgendaItemRead, AgendaItemUpdate, dump
from app.models import AgendaItem, Meeting, User
from app.models.base import utcnow
from app.roadmap.service import check_links


async def list_items(*, session: AsyncSession, meeting_id: uuid.UUID) -> list[AgendaItem]:
    stmt = (
        select(AgendaItem)
        .where(col(AgendaItem.meeting_id) == meeting_id)
        .order_by(col(AgendaItem.position), col(AgendaItem.created_at), col(AgendaItem.id))
    )
    return list((await session.execute(stmt)).scalars())


def _item_data(item: AgendaItem) -> dict[str, Any]:
    return dump(AgendaItemRead.model_validate(item))


def _renumber(items: list[AgendaItem]) -> None:
    for i, item in enumerate(items, start=1):
        if item.position != i:
            item.position = i


async def _place(
    session: AsyncSession, meeting_id: uuid.UUID, item: AgendaItem, position: int | None
) -> None:
    """Put `item` at `position` (1-based; None = last) and renumber the others 1..n."""
    others = [i for i in await list_items(session=session, meeting_id=meeting_id) if i is not item]
    index = len(others) if position is None else min(position - 1, len(others))
    others.insert(index, item)
    _renumber(others)


async def _check_links(ctx: GroupContext, data: AgendaItemCreate | AgendaItemUpdate) -> None:
    await check_participant(ctx, data.speaker_id, "speaker_id")
    await check_links(ctx=ctx, focus_area_id=data.focus_area_id)


async def _agenda_updated(
    session: AsyncSession,
    ctx: GroupContext,
    meeting: Meeting,
    change: str,
    item: dict[str, Any],
    **data: Any,
) -> None:
    """One event type for every agenda edit, carrying the whole agenda in its new order."""
    items = await list_items(session=session, meeting_id=meeting.id)
    await record_meeting_event(
        ctx=ctx,
        meeting=meeting,
        type="meeting.agenda_updated",
        change=change,
        item=item,
        agenda=[_item_data(i) for i in items],
        **data,
    )


async def create_item(
    *, session: AsyncSession, ctx: GroupContext, meeting: Meeting, data: AgendaItemCreate
) -> AgendaItem:
    require_status(meeting, OPEN, "change the agenda")
    await _check_links(ctx, data)
    item = AgendaItem(meeting_id=meeting.id, **data.model_dump(exclude={"position"}))
    await _place(session, meeting.id, item, data.position)
    session.add(item)
    await session.flush()
    await _agenda_updated(session, ctx, meeting, "created", _item_data(item))
    return item


async def update_item(
    *,
    session: AsyncSession,
    ctx: GroupContext,
    meeting: Meeting,
    item: AgendaItem,
    data: AgendaItemUpdate,
) -> AgendaItem:
    require_status(meeting, OPEN, "change the agenda")
    await _check_links(ctx, data)
    # Position is not a plain field: moving one item renumbers its siblings.
    changes = apply_changes(
        item,
        AgendaItemUpdate.model_validate(data.model_dump(exclude_unset=True, exclude={"position"})),
    )
    if data.position is not None and data.position != item.position:
        old = item.position
        await _place(session, meeting.id, item, data.position)
        changes["position"] = {"old": old, "new": item.position}
    if changes:
        await session.flush()
        await _agenda_updated(session, ctx, meeting, "updated", _item_data(item), changes=changes)
    return item


async def delete_item(
    *, session: AsyncSession, ctx: GroupContext, meeting: Meeting, item: AgendaItem
) -> None:
    require_status(meeting, OPEN, "change the agenda")
    if meeting.current_agenda_item_id == item.id:
        meeting.current_agenda_item_id = None
    data = _item_data(item)
    await session.delete(item)
    await session.flush()
    _renumber(await list_items(session=session, meeting_id=meeting.id))
    await session.flush()
    await _agenda_updated(session, ctx, meeting, "deleted", data)


async def leave_current(session: AsyncSession, meeting: Meeting, now: datetime) -> None:
    """When a live meeting ends or is cancelled: its current agenda item ends with it."""
    if meeting.current_agenda_item_id is None:
        return
    item = await session.get(AgendaItem, meeting.current_agenda_item_id)
    if item is not None and item.ended_at is None:
        item.ended_at = now


async def advance(*, session: AsyncSession, ctx: GroupContext, meeting: Meeting) -> Meeting:
    """Move a live meeting to the item after the current one (at the start, or when the
    current item was deleted, to the first item not reached yet).

    An item with a speaker also gives that speaker the floor.
    """
    require_status(meeting, LIVE, "advance the agenda")
    items = await list_items(session=session, meeting_id=meeting.id)
    ids = [i.id for i in items]
    current = meeting.current_agenda_item_id
    if current in ids:
        index = ids.index(current) + 1
    else:  # at the start, or the current item was deleted: the first one not yet reached
        index = next((n for n, i in enumerate(items) if i.started_at is None), len(items))
    if index >= len(items):
        raise Conflict("There is no next agenda item", extra={"agenda_length": len(items)})
    now = utcnow()
    if current in ids:
        items[index - 1].ended_at = now
    item = items[index]
    item.started_at, item.ended_at = now, None
    meeting.current_agenda_item_id = item.id
    await session.flush()
    await record_meeting_event(
        ctx=ctx,
        meeting=meeting,
        type="meeting.agenda_advanced",
        item=_item_data(item),
        previous_item_id=str(current) if current else None,
        remaining=len(items) - index - 1,
    )
    if item.speaker_id is not None and item.speaker_id != meeting.current_speaker_id:
        speaker = await session.get(User, item.speaker_id)
        if speaker is not None:
            await live.set_speaker(
                session=session,
                ctx=ctx,
                meeting=meeting,
                speaker=speaker,
                source="agenda",
                agenda_item_id=str(item.id),
            )
    return meeting
