"""Shared by the meeting modules: who runs a meeting, participant checks, and its events."""

from __future__ import annotations

import uuid
from typing import Any

from app.core.errors import ValidationFailed
from app.groups import queries as groups
from app.groups.access import GroupContext
from app.meetings.schemas import MeetingRead, UserRef, dump
from app.models import Meeting, Role, User
from app.users.principal import Principal


def may_run(ctx: GroupContext, meeting: Meeting) -> bool:
    """Moderators, owners and admins run every meeting; the designated moderator runs theirs
    while they are a member (not an observer) of the group."""
    if ctx.has_role(Role.moderator):
        return True
    return meeting.moderator_id == ctx.user.id and ctx.has_role(Role.member)


async def check_participant(ctx: GroupContext, user_id: uuid.UUID | None, field: str) -> None:
    """422 unless `user_id` (when given) is a member of the group with a role above observer."""
    if user_id is None:
        return
    role = await groups.member_role(ctx.tx.conn, ctx.group.id, user_id)
    if role is None or role == Role.observer:
        msg = "must be a member of the group (not an observer)"
        raise ValidationFailed(f"{field} {msg}", errors=[{"loc": ["body", field], "msg": msg}])


def meeting_data(meeting: Meeting) -> dict[str, Any]:
    return dump(MeetingRead.model_validate(meeting))


def user_data(user: User | Principal) -> dict[str, Any]:
    return dump(UserRef.model_validate(user))


async def record_meeting_event(
    *, ctx: GroupContext, meeting: Meeting, type: str, **data: Any
) -> None:
    """Record `type` about `meeting`; the data always carries the meeting as it is now, so an
    integration can act without fetching it."""
    await ctx.record(
        type,
        subject_type="meeting",
        subject_id=meeting.id,
        data={"meeting": meeting_data(meeting), **data},
    )
