"""The event history's SQL: replay after a seq, and the relay's outbox scan (Core)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.responses import dumps
from app.models import Event
from app.models.base import table_of

events = table_of(Event)
ENVELOPE_COLUMNS = [
    events.c.id,
    events.c.seq,
    events.c.type,
    events.c.group_id,
    events.c.occurred_at,
    events.c.actor_id,
    events.c.subject_type,
    events.c.subject_id,
    events.c.data,
]


def envelope(event: Any) -> dict[str, Any]:
    """The event envelope of API.md (EventRead) of a row of ENVELOPE_COLUMNS or an Event."""
    return {
        "id": event.id,
        "seq": event.seq,
        "type": event.type,
        "group_id": event.group_id,
        "occurred_at": event.occurred_at,
        "actor_id": event.actor_id,
        "subject": {"type": event.subject_type, "id": event.subject_id},
        "data": event.data,
    }


def envelope_json(row: Row[Any]) -> bytes:
    return dumps(envelope(row))


_AFTER = (
    select(*ENVELOPE_COLUMNS)
    .where(events.c.group_id == bindparam("group_id"), events.c.seq > bindparam("after"))
    .order_by(events.c.seq)
    .limit(bindparam("limit"))
)


async def events_after(
    conn: AsyncConnection, *, group_id: uuid.UUID, after: int, limit: int
) -> list[Row[Any]]:
    """The group's events with seq > after, in seq order (ENVELOPE_COLUMNS)."""
    params = {"group_id": group_id, "after": after, "limit": limit}
    return list(await conn.execute(_AFTER, params))


_UNPUBLISHED = (
    select(*ENVELOPE_COLUMNS)
    .where(events.c.published_at.is_(None))
    .order_by(events.c.group_id, events.c.seq)
    .limit(bindparam("limit"))
)


async def unpublished(conn: AsyncConnection, limit: int) -> list[Row[Any]]:
    """The outbox: events not on the stream yet, in (group, seq) order."""
    return list(await conn.execute(_UNPUBLISHED, {"limit": limit}))


_MARK_PUBLISHED = (
    update(events)
    .where(events.c.id.in_(bindparam("ids", expanding=True)))
    .values(published_at=bindparam("now"))
)


async def mark_published(conn: AsyncConnection, ids: Sequence[uuid.UUID], now: datetime) -> None:
    await conn.execute(_MARK_PUBLISHED, {"ids": list(ids), "now": now})


_OLDEST_UNDISPATCHED = select(func.min(events.c.occurred_at)).where(
    events.c.dispatched_at.is_(None)
)


async def oldest_undispatched(conn: AsyncConnection) -> datetime | None:
    """When the oldest event not dispatched yet occurred (the partial index holds only those)."""
    oldest: datetime | None = (await conn.execute(_OLDEST_UNDISPATCHED)).scalar()
    return oldest
