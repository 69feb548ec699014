"""Meetings: scheduling, details and the lifecycle moves."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.changes import apply_changes
from app.core.errors import ValidationFailed
from app.core.pagination import PageParams
from app.groups.access import GroupContext
from app.meetings import agenda, live, queries
from app.meetings.base import check_participant, record_meeting_event
from app.meetings.lifecycle import EVENT_TYPES, OPEN, Action, next_status, require_status
from app.meetings.schemas import MeetingCreate, MeetingUpdate, check_interval
from app.models import Meeting, MeetingStatus
from app.models.base import utcnow


async def create_meeting(
    *, session: AsyncSession, ctx: GroupContext, data: MeetingCreate
) -> Meeting:
    """Schedule a meeting; its moderator defaults to the creator."""
    await check_participant(ctx, data.moderator_id, "moderator_id")
    meeting = Meeting(
        **data.model_dump(exclude={"moderator_id"}),
        moderator_id=data.moderator_id or ctx.user.id,
        group_id=ctx.group.id,
        created_by=ctx.user.id,
    )
    session.add(meeting)
    await session.flush()
    await record_meeting_event(ctx=ctx, meeting=meeting, type="meeting.scheduled")
    return meeting


async def list_meetings(
    *,
    ctx: GroupContext,
    page: PageParams,
    status: MeetingStatus | None,
    start: datetime | None,
    end: datetime | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Meetings by start time; `start`/`end` keep those overlapping that window."""
    return await queries.meetings_page(
        ctx.tx.conn, group_id=ctx.group.id, page=page, status=status, start=start, end=end
    )


async def all_meetings(*, session: AsyncSession, ctx: GroupContext) -> list[Meeting]:
    stmt = (
        select(Meeting)
        .where(col(Meeting.group_id) == ctx.group.id)
        .order_by(col(Meeting.starts_at), col(Meeting.id))
    )
    return list((await session.execute(stmt)).scalars())


async def update_meeting(
    *, session: AsyncSession, ctx: GroupContext, meeting: Meeting, data: MeetingUpdate
) -> Meeting:
    """Change details while scheduled or live; each change bumps the iCalendar SEQUENCE."""
    require_status(meeting, OPEN, "change the meeting")
    if "moderator_id" in data.model_fields_set:
        await check_participant(ctx, data.moderator_id, "moderator_id")
    starts_at = data.starts_at or meeting.starts_at
    ends_at = data.ends_at or meeting.ends_at
    try:
        check_interval(starts_at, ends_at)
    except ValueError as exc:
        field = "ends_at" if "ends_at" in data.model_fields_set else "starts_at"
        raise ValidationFailed(
            str(exc), errors=[{"loc": ["body", field], "msg": str(exc)}]
        ) from exc
    changes = apply_changes(meeting, data)
    if changes:
        meeting.ical_sequence += 1
        await session.flush()
        await record_meeting_event(
            ctx=ctx, meeting=meeting, type="meeting.updated", changes=changes
        )
    return meeting


async def transition(
    *, session: AsyncSession, ctx: GroupContext, meeting: Meeting, action: Action
) -> Meeting:
    """Apply a lifecycle move (409 when the table does not allow it)."""
    was_live = meeting.status == MeetingStatus.live
    meeting.status = next_status(meeting.status, action)
    now = utcnow()
    floor: dict[str, object] = {}
    if action == Action.start:
        meeting.started_at = now
    elif action == Action.end:
        meeting.finished_at = now
    else:
        meeting.cancelled_at = now
        meeting.ical_sequence += 1  # calendar apps must learn of the cancellation
    if was_live:
        floor = await live.close_floor(session, meeting, now)
        await agenda.leave_current(session, meeting, now)
    await session.flush()
    await record_meeting_event(ctx=ctx, meeting=meeting, type=EVENT_TYPES[action], **floor)
    return meeting
