"""What a meeting leaves behind: its minutes and its decisions (with their action items)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.errors import NotFound
from app.groups.access import GroupContext
from app.meetings.base import may_run, record_meeting_event
from app.meetings.lifecycle import RECORDABLE, require_status
from app.meetings.schemas import DecisionCreate, DecisionRead, MinutesRead, MinutesUpdate, dump
from app.models import ActionItem, Decision, Meeting, MeetingMinutes
from app.models.base import utcnow
from app.roadmap.queries import ItemRow
from app.roadmap.schemas import ActionItemCreate, ActionItemRead
from app.roadmap.service import create_action_item


async def get_minutes(
    *, session: AsyncSession, ctx: GroupContext, meeting: Meeting
) -> MeetingMinutes:
    """The minutes; a draft is visible only to those who run the meeting."""
    minutes = await session.get(MeetingMinutes, meeting.id)
    if minutes is None or not (minutes.published or may_run(ctx, meeting)):
        raise NotFound("This meeting has no published minutes yet")
    return minutes


async def minutes_version(*, session: AsyncSession, meeting: Meeting) -> int:
    """The minutes' version for `If-Match` (0 before any were written)."""
    minutes = await session.get(MeetingMinutes, meeting.id)
    return minutes.version if minutes else 0


async def put_minutes(
    *, session: AsyncSession, ctx: GroupContext, meeting: Meeting, data: MinutesUpdate
) -> MeetingMinutes:
    """Save the minutes as a draft or published. Publishing (or changing published minutes)
    records `meeting.minutes_published`; other edits `meeting.minutes_updated`."""
    require_status(meeting, RECORDABLE, "write minutes")
    minutes = await session.get(MeetingMinutes, meeting.id)
    if minutes is None:
        minutes = MeetingMinutes(meeting_id=meeting.id)
        session.add(minutes)
    elif minutes.body == data.body and minutes.published == data.published:
        return minutes
    minutes.body = data.body
    minutes.published = data.published
    minutes.published_at = utcnow() if data.published else None
    minutes.updated_by = ctx.user.id
    await session.flush()
    await record_meeting_event(
        ctx=ctx,
        meeting=meeting,
        type="meeting.minutes_published" if data.published else "meeting.minutes_updated",
        minutes=dump(MinutesRead.model_validate(minutes)),
    )
    return minutes


async def record_decision(
    *, session: AsyncSession, ctx: GroupContext, meeting: Meeting, data: DecisionCreate
) -> DecisionRead:
    """Record a decision and create its action items, all in the caller's transaction: an
    invalid item (e.g. an owner outside the group) is a 422 and nothing is written."""
    require_status(meeting, RECORDABLE, "record a decision")
    decision = Decision(
        meeting_id=meeting.id, group_id=meeting.group_id, text=data.text, created_by=ctx.user.id
    )
    session.add(decision)
    await session.flush()
    items = [
        await create_action_item(
            ctx=ctx,
            data=ActionItemCreate(**spec.model_dump(), meeting_id=meeting.id),
            decision_id=decision.id,
            field_prefix=f"action_items.{i}.",
        )
        for i, spec in enumerate(data.action_items)
    ]
    read = _decision_read(decision, items)
    await record_meeting_event(
        ctx=ctx,
        meeting=meeting,
        type="meeting.decision_recorded",
        decision=dump(read),
    )
    return read


def _decision_read(decision: Decision, items: Sequence[ActionItem | ItemRow]) -> DecisionRead:
    return DecisionRead(
        id=decision.id,
        meeting_id=decision.meeting_id,
        group_id=decision.group_id,
        text=decision.text,
        created_by=decision.created_by,
        created_at=decision.created_at,
        action_items=[ActionItemRead.model_validate(i) for i in items],
    )


async def list_decisions(*, session: AsyncSession, meeting: Meeting) -> list[DecisionRead]:
    decisions = list(
        (
            await session.execute(
                select(Decision)
                .where(col(Decision.meeting_id) == meeting.id)
                .order_by(col(Decision.created_at), col(Decision.id))
            )
        ).scalars()
    )
    by_decision: dict[uuid.UUID, list[ActionItem]] = {d.id: [] for d in decisions}
    if decisions:
        items = await session.execute(
            select(ActionItem)
            .where(col(ActionItem.decision_id).in_(list(by_decision)))
            .order_by(col(ActionItem.created_at), col(ActionItem.id))
        )
        for item in items.scalars():
            assert item.decision_id is not None
            by_decision[item.decision_id].append(item)
    return [_decision_read(d, by_decision[d.id]) for d in decisions]
