"""Taking part: RSVPs before, and during a live meeting attendance, raised hands and the floor."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.errors import Conflict
from app.groups.access import GroupContext
from app.meetings.base import record_meeting_event, user_data
from app.meetings.lifecycle import LIVE, OPEN, require_status
from app.meetings.schemas import (
    AttendeeRead,
    HandRead,
    OrganizationRef,
    RsvpRead,
    StayRead,
    dump,
)
from app.models import (
    Attendance,
    Meeting,
    MeetingRsvp,
    Membership,
    Organization,
    RaisedHand,
    RsvpResponse,
    User,
)
from app.models.base import utcnow

# Raise times are kept strictly increasing (see raise_hand), so the queue order is total.
TICK = timedelta(microseconds=1)

# --- RSVP ----------------------------------------------------------------------------------


async def _rsvp_counts(session: AsyncSession, meeting_id: uuid.UUID) -> dict[str, int]:
    rows = await session.execute(
        select(col(MeetingRsvp.response)).where(col(MeetingRsvp.meeting_id) == meeting_id)
    )
    counts = Counter(r for (r,) in rows.all())
    return {r.value: counts.get(r, 0) for r in RsvpResponse}


async def set_rsvp(
    *, session: AsyncSession, ctx: GroupContext, meeting: Meeting, response: RsvpResponse
) -> MeetingRsvp:
    """Answer yes/no/maybe; answering the same again changes nothing (no event)."""
    require_status(meeting, OPEN, "RSVP")
    rsvp = await session.get(MeetingRsvp, (meeting.id, ctx.user.id))
    previous = rsvp.response if rsvp else None
    if rsvp is not None and previous == response:
        return rsvp
    if rsvp is None:
        rsvp = MeetingRsvp(meeting_id=meeting.id, user_id=ctx.user.id, response=response)
        session.add(rsvp)
    else:
        rsvp.response = response
    await session.flush()
    await record_meeting_event(
        ctx=ctx,
        meeting=meeting,
        type="meeting.rsvp",
        user=user_data(ctx.user),
        response=response.value,
        previous_response=previous.value if previous else None,
        counts=await _rsvp_counts(session, meeting.id),
    )
    return rsvp


def rsvp_read(rsvp: MeetingRsvp) -> RsvpRead:
    return RsvpRead.model_validate(rsvp)


# --- attendance ----------------------------------------------------------------------------


async def _people(
    session: AsyncSession, group_id: uuid.UUID, user_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[User, OrganizationRef | None]]:
    """Users with the organization their group membership names."""
    if not user_ids:
        return {}
    users = (await session.execute(select(User).where(col(User.id).in_(user_ids)))).scalars()
    org_rows = await session.execute(
        select(col(Membership.user_id), Organization)
        .join(Organization, col(Organization.id) == col(Membership.organization_id))
        .where(col(Membership.group_id) == group_id, col(Membership.user_id).in_(user_ids))
    )
    orgs = {uid: OrganizationRef.model_validate(org) for uid, org in org_rows.all()}
    return {u.id: (u, orgs.get(u.id)) for u in users}


async def attendance(
    *, session: AsyncSession, meeting: Meeting, user_id: uuid.UUID | None = None
) -> list[AttendeeRead]:
    """Everyone who joined (or just `user_id`), in order of first arrival, with their stays and
    the total time present (an open stay counts up to now)."""
    stmt = select(Attendance).where(col(Attendance.meeting_id) == meeting.id)
    if user_id is not None:
        stmt = stmt.where(col(Attendance.user_id) == user_id)
    stays = (
        await session.execute(stmt.order_by(col(Attendance.joined_at), col(Attendance.id)))
    ).scalars()
    by_user: dict[uuid.UUID, list[Attendance]] = {}
    for stay in stays:
        by_user.setdefault(stay.user_id, []).append(stay)
    if user_id is not None:
        by_user.setdefault(user_id, [])
    people = await _people(session, meeting.group_id, list(by_user))
    now = utcnow()
    out = []
    for uid, user_stays in by_user.items():
        user, org = people[uid]
        total = sum(((s.left_at or now) - s.joined_at).total_seconds() for s in user_stays)
        out.append(
            AttendeeRead(
                user_id=uid,
                name=user.name,
                organization=org,
                present=any(s.left_at is None for s in user_stays),
                total_seconds=round(total, 6),
                stays=[StayRead.model_validate(s) for s in user_stays],
            )
        )
    return out


async def _attendee(session: AsyncSession, meeting: Meeting, user_id: uuid.UUID) -> AttendeeRead:
    (one,) = await attendance(session=session, meeting=meeting, user_id=user_id)
    return one


async def _open_stays(
    session: AsyncSession, meeting_id: uuid.UUID, user_id: uuid.UUID | None = None
) -> list[Attendance]:
    stmt = select(Attendance).where(
        col(Attendance.meeting_id) == meeting_id, col(Attendance.left_at).is_(None)
    )
    if user_id is not None:
        stmt = stmt.where(col(Attendance.user_id) == user_id)
    return list((await session.execute(stmt)).scalars())


async def join(*, session: AsyncSession, ctx: GroupContext, meeting: Meeting) -> AttendeeRead:
    """Enter the live meeting; joining while present changes nothing."""
    require_status(meeting, LIVE, "join")
    if not await _open_stays(session, meeting.id, ctx.user.id):
        session.add(Attendance(meeting_id=meeting.id, user_id=ctx.user.id, joined_at=utcnow()))
        await session.flush()
        await _attendance_changed(session, ctx, meeting, "meeting.attendee_joined")
    return await _attendee(session, meeting, ctx.user.id)


async def leave(*, session: AsyncSession, ctx: GroupContext, meeting: Meeting) -> AttendeeRead:
    """Leave the live meeting; leaving when not present changes nothing."""
    require_status(meeting, LIVE, "leave")
    stays = await _open_stays(session, meeting.id, ctx.user.id)
    if stays:
        now = utcnow()
        for stay in stays:
            stay.left_at = now
        await session.flush()
        await _attendance_changed(session, ctx, meeting, "meeting.attendee_left")
    return await _attendee(session, meeting, ctx.user.id)


async def _attendance_changed(
    session: AsyncSession, ctx: GroupContext, meeting: Meeting, type: str
) -> None:
    attendee = await _attendee(session, meeting, ctx.user.id)
    await record_meeting_event(
        ctx=ctx,
        meeting=meeting,
        type=type,
        attendee=dump(attendee),
        present_count=len(await _open_stays(session, meeting.id)),
    )


# --- raised hands and the floor ------------------------------------------------------------


async def _queue(session: AsyncSession, meeting_id: uuid.UUID) -> list[RaisedHand]:
    stmt = (
        select(RaisedHand)
        .where(col(RaisedHand.meeting_id) == meeting_id)
        .order_by(col(RaisedHand.raised_at), col(RaisedHand.id))
    )
    return list((await session.execute(stmt)).scalars())


async def _hand_reads(
    session: AsyncSession, meeting: Meeting, hands: list[RaisedHand]
) -> list[HandRead]:
    people = await _people(session, meeting.group_id, [h.user_id for h in hands])
    return [
        HandRead(
            user_id=h.user_id, name=people[h.user_id][0].name, position=i, raised_at=h.raised_at
        )
        for i, h in enumerate(hands, start=1)
    ]


async def queue(*, session: AsyncSession, meeting: Meeting) -> list[HandRead]:
    """The raised hands, first come first served."""
    return await _hand_reads(session, meeting, await _queue(session, meeting.id))


def _hand(hands: list[HandRead], user_id: uuid.UUID) -> HandRead | None:
    return next((h for h in hands if h.user_id == user_id), None)


async def raise_hand(
    *, session: AsyncSession, ctx: GroupContext, meeting: Meeting
) -> tuple[HandRead, bool]:
    """Join the end of the queue; returns (entry, created). Raising again keeps the place.

    The caller holds the group lock (every write does), so raises are serialized; each new
    entry is stamped after the last one, which makes the FIFO order total and stable even when
    two raises fall on the same clock tick.
    """
    require_status(meeting, LIVE, "raise a hand")
    hands = await _queue(session, meeting.id)
    mine = next((h for h in hands if h.user_id == ctx.user.id), None)
    if mine is None:
        raised_at = utcnow()
        if hands:
            raised_at = max(raised_at, hands[-1].raised_at + TICK)
        session.add(RaisedHand(meeting_id=meeting.id, user_id=ctx.user.id, raised_at=raised_at))
        await session.flush()
    entry = _hand(await queue(session=session, meeting=meeting), ctx.user.id)
    assert entry is not None
    if mine is None:
        await record_meeting_event(
            ctx=ctx,
            meeting=meeting,
            type="meeting.hand_raised",
            hand=dump(entry),
            queue_length=len(hands) + 1,
        )
    return entry, mine is None


async def lower_hand(*, session: AsyncSession, ctx: GroupContext, meeting: Meeting) -> None:
    """Leave the queue; lowering a hand that is not raised changes nothing."""
    hands = await _queue(session, meeting.id)
    entry = _hand(await _hand_reads(session, meeting, hands), ctx.user.id)
    if entry is None:
        return
    await session.delete(hands[entry.position - 1])
    await session.flush()
    await record_meeting_event(
        ctx=ctx,
        meeting=meeting,
        type="meeting.hand_lowered",
        hand=dump(entry),
        queue_length=len(hands) - 1,
    )


async def set_speaker(
    *,
    session: AsyncSession,
    ctx: GroupContext,
    meeting: Meeting,
    speaker: User,
    source: str,
    **data: Any,
) -> None:
    previous = meeting.current_speaker_id
    meeting.current_speaker_id = speaker.id
    await session.flush()
    await record_meeting_event(
        ctx=ctx,
        meeting=meeting,
        type="meeting.speaker_changed",
        speaker=user_data(speaker),
        previous_speaker_id=str(previous) if previous else None,
        source=source,
        **data,
    )


async def next_speaker(*, session: AsyncSession, ctx: GroupContext, meeting: Meeting) -> Meeting:
    """Give the floor to the first raised hand and take it off the queue."""
    require_status(meeting, LIVE, "give the floor")
    hands = await _queue(session, meeting.id)
    if not hands:
        raise Conflict("No raised hands: the queue is empty")
    first = hands[0]
    speaker = await session.get(User, first.user_id)
    assert speaker is not None
    await session.delete(first)
    await set_speaker(
        session=session,
        ctx=ctx,
        meeting=meeting,
        speaker=speaker,
        source="queue",
        raised_at=first.raised_at.isoformat(),
        queue_length=len(hands) - 1,
    )
    return meeting


async def close_floor(session: AsyncSession, meeting: Meeting, now: datetime) -> dict[str, Any]:
    """When a live meeting ends or is cancelled: everyone present leaves at `now`, the queue is
    cleared and nobody holds the floor. Returns what changed, for the event."""
    stays = await _open_stays(session, meeting.id)
    for stay in stays:
        stay.left_at = now
    hands = await _queue(session, meeting.id)
    for hand in hands:
        await session.delete(hand)
    previous = meeting.current_speaker_id
    meeting.current_speaker_id = None
    return {
        "attendees_left": [str(s.user_id) for s in stays],
        "hands_cleared": [str(h.user_id) for h in hands],
        "previous_speaker_id": str(previous) if previous else None,
    }
