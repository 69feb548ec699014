"""Shared by the meeting modules: loading a meeting with authorization, and its events."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Forbidden, NotFound, ValidationFailed
from app.core.events import record_object_event
from app.groups.access import GroupContext, authorize_group, membership_of
from app.meetings.schemas import MeetingRead, UserRef, dump
from app.models import Meeting, Role, User


def may_run(ctx: GroupContext, meeting: Meeting) -> bool:
    """Moderators, owners and admins run every meeting; the designated moderator runs theirs
    while they are a member (not an observer) of the group."""
    if ctx.has_role(Role.moderator):
        return True
    return meeting.moderator_id == ctx.user.id and ctx.has_role(Role.member)


async def get_authorized(
    *, session: AsyncSession, user: User, meeting_id: uuid.UUID, need: Role
) -> tuple[Meeting, GroupContext]:
    """Load a meeting and check the caller may act on it.

    `need`: observer = read, member = take part (RSVP, join, raise a hand), moderator = run it
    (see `may_run`). Anything above reading locks the group row first, like every group write,
    and then reloads the meeting so the service decides on committed state.
    """
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound("Meeting not found")
    write = need != Role.observer
    ctx = await authorize_group(
        session=session,
        user=user,
        group_id=meeting.group_id,
        need=Role.member if write else Role.observer,
        write=write,
        not_found="Meeting not found",
    )
    if need == Role.moderator and not may_run(ctx, meeting):
        raise Forbidden(
            "This needs the moderator role in the group, or being this meeting's moderator"
        )
    if write:
        await session.refresh(meeting)
    return meeting, ctx


async def check_participant(
    session: AsyncSession, group_id: uuid.UUID, user_id: uuid.UUID | None, field: str
) -> None:
    """422 unless `user_id` (when given) is a member of the group with a role above observer."""
    if user_id is None:
        return
    membership = await membership_of(session, group_id, user_id)
    if membership is None or membership.role == Role.observer:
        msg = "must be a member of the group (not an observer)"
        raise ValidationFailed(f"{field} {msg}", errors=[{"loc": ["body", field], "msg": msg}])


def meeting_data(meeting: Meeting) -> dict[str, Any]:
    return dump(MeetingRead.model_validate(meeting))


def user_data(user: User) -> dict[str, Any]:
    return dump(UserRef.model_validate(user))


async def record_meeting_event(
    *, session: AsyncSession, ctx: GroupContext, meeting: Meeting, type: str, **data: Any
) -> None:
    """Record `type` about `meeting`; the data always carries the meeting as it is now, so an
    integration can act without fetching it."""
    await record_object_event(
        session=session,
        actor_id=ctx.user.id,
        subject_type="meeting",
        subject=meeting,
        type=type,
        data={"meeting": meeting_data(meeting), **data},
    )
