from __future__ import annotations

from fastapi import Response

from app.core.responses import page_response
from app.events import queries
from app.events.schemas import EventRead, EventSubject
from app.groups.access import GroupContext
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


async def history_page(*, ctx: GroupContext, after: int, limit: int) -> Response:
    """`{items, next_cursor}` of the group's events after `after`; the cursor is the last seq."""
    rows = await queries.events_after(
        ctx.tx.conn, group_id=ctx.group.id, after=after, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = str(rows[-1].seq) if more else None
    return page_response([queries.envelope(row) for row in rows], next_cursor)
