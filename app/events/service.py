from __future__ import annotations

from fastapi import Response

from app.core.responses import page_response
from app.events import queries
from app.events.schemas import EventRead
from app.groups.access import GroupContext
from app.models import Event


def event_read(ev: Event) -> EventRead:
    """The envelope of a loaded event as the read model (webhook bodies are built from it)."""
    return EventRead.model_validate(queries.envelope(ev))


async def history_page(*, ctx: GroupContext, after: int, limit: int) -> Response:
    """`{items, next_cursor}` of the group's events after `after`; the cursor is the last seq."""
    rows = await queries.events_after(
        ctx.tx.conn, group_id=ctx.group.id, after=after, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = str(rows[-1].seq) if more else None
    return page_response([queries.envelope(row) for row in rows], next_cursor)
