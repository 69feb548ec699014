from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.core.db import SessionDep
from app.core.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from app.events.schemas import EventRead
from app.events.service import event_read, events_after
from app.groups.access import GroupContext, GroupMember
from app.models import Role

router = APIRouter(tags=["events"])
# `seq` is a 32-bit integer column: a larger number is no seq, and PostgreSQL refuses it.
MAX_SEQ = 2**31 - 1


@router.get("/groups/{group_id}/events", response_model=Page[EventRead])
async def list_events(
    ctx: Annotated[GroupContext, GroupMember(Role.observer)],
    session: SessionDep,
    after: Annotated[
        int, Query(ge=0, le=MAX_SEQ, description="Return events with seq greater than this")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(pattern=r"^\d{1,18}$", description="next_cursor")] = None,
) -> Page[EventRead]:
    """The group's history in `seq` order; resume with `after=<last seq seen>`."""
    # No seq is above MAX_SEQ, so a larger cursor means the same as MAX_SEQ.
    start = min(int(cursor), MAX_SEQ) if cursor is not None else after
    rows = await events_after(session=session, group_id=ctx.group.id, after=start, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = str(rows[-1].seq) if more else None
    return Page(items=[event_read(e) for e in rows], next_cursor=next_cursor)
