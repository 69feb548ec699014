from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.events.schemas import EventRead, EventSubject
from app.models import Event


def event_read(ev: Event) -> EventRead:
    return EventRead(
        id=ev.id,
        seq=ev.seq,
        type=ev.type,
        group_id=ev.group_id,
        occurred_at=ev.occurred_at,
        actor_id=ev.actor_id,
        subject=EventSubject(type=ev.subject_type, id=ev.subject_id),
        data=ev.data,
    )


async def events_after(
    *, session: AsyncSession, group_id: uuid.UUID, after: int, limit: int
) -> list[Event]:
    """The group's events with seq > after, in seq order."""
    stmt = (
        select(Event)
        .where(col(Event.group_id) == group_id, col(Event.seq) > after)
        .order_by(col(Event.seq))
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())
