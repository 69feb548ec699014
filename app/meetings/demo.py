"""Demo data: the working group's founding virtual meeting, run start to end (idempotent).

Called by `app.demo.seed()` after the founding group exists. Everything goes through the
services, so the meeting's events (agenda, attendance, the floor, decisions) are real.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.groups import focus_areas
from app.groups.access import GroupContext, context_for
from app.meetings import agenda, live, records, service
from app.meetings.lifecycle import Action
from app.meetings.schemas import (
    AgendaItemCreate,
    DecisionActionItem,
    DecisionCreate,
    MeetingCreate,
    MinutesUpdate,
)
from app.models import (
    Group,
    Meeting,
    Membership,
    Organization,
    PollKind,
    Role,
    RsvpResponse,
    User,
)
from app.polls import service as polls
from app.polls.schemas import PollClose, PollCreate, PollOptionIn, StanceCast

FOUNDING_TITLE = "Founding meeting of the working group"
TIMEZONE = "America/Santiago"
OFFICER_EMAIL = "officer@demo.wghub.dev"  # the "Economic Affairs Officer" of app/demo.py
# The promoting clusters, by the country of the organization each member represents.
PROMOTER_COUNTRIES = ("AR", "CO", "CR", "CU", "MX")

MINUTES = """# Founding meeting of the working group

**Date:** Thursday 17 September 2026, 15:00 to 17:00 (Santiago), virtual.
**Moderator:** Economic Affairs Officer.
**Attending:** cluster initiatives from Argentina, Colombia, Costa Rica, Cuba and Mexico, and
the commission's Division of Production, Productivity and Management.

1. **Welcoming remarks.** The division director presented the three traps of low productivity
   and growth of the region and the gap in the adoption of digital technologies.
2. **Preliminary diagnosis.** Interviews with digital clusters show strong supply capacities but
   weak links with clusters of other sectors and little visibility of each other's work.
3. **Debates** on the three focus areas: adoption of digital technologies by other clusters,
   the supply of digital technologies, and visibility and reciprocal interaction.
4. **Closing.** The participants agreed to form the working group and to define a roadmap.
"""


def _local(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 9, 17, hour, minute, tzinfo=ZoneInfo(TIMEZONE))


async def _ctx(session: AsyncSession, group: Group, user: User) -> GroupContext:
    return await context_for(session, group_id=group.id, user_id=user.id)


async def _promoters(session: AsyncSession, group: Group) -> list[User]:
    rows = await session.execute(
        select(User, col(Organization.country))
        .join(Membership, col(Membership.user_id) == col(User.id))
        .join(Organization, col(Organization.id) == col(Membership.organization_id))
        .where(
            col(Membership.group_id) == group.id,
            col(Membership.role) == Role.member,
            col(Organization.country).in_(PROMOTER_COUNTRIES),
        )
    )
    by_country = {country: user for user, country in rows.all()}
    return [by_country[c] for c in PROMOTER_COUNTRIES if c in by_country]


async def _owner(session: AsyncSession, group: Group) -> User:
    owner = (
        (
            await session.execute(
                select(User)
                .join(Membership, col(Membership.user_id) == col(User.id))
                .where(col(Membership.group_id) == group.id, col(Membership.role) == Role.owner)
                .order_by(col(Membership.created_at))
            )
        )
        .scalars()
        .first()
    )
    assert owner is not None
    return owner


async def seed_founding_meeting(session: AsyncSession, group: Group) -> Meeting:
    """The founding meeting of `group`, ended, with agenda, attendance, minutes and decisions."""
    existing = (
        await session.execute(
            select(Meeting).where(
                col(Meeting.group_id) == group.id, col(Meeting.title) == FOUNDING_TITLE
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    officer = (
        await session.execute(select(User).where(col(User.email) == OFFICER_EMAIL))
    ).scalar_one()
    director = await _owner(session, group)
    promoters = await _promoters(session, group)
    run = await _ctx(session, group, officer)
    ctxs = [await _ctx(session, group, p) for p in promoters]

    meeting = await service.create_meeting(
        session=session,
        ctx=run,
        data=MeetingCreate(
            title=FOUNDING_TITLE,
            description=(
                "Virtual meeting convened by the regional economic commission to found the "
                "working group of digital-economy cluster initiatives."
            ),
            starts_at=_local(15),
            ends_at=_local(17),
            timezone=TIMEZONE,
            join_url="https://meet.example.org/wghub-founding",
            moderator_id=officer.id,
        ),
    )
    areas = await focus_areas.list_focus_areas(conn=await session.connection(), group_id=group.id)
    items = [
        AgendaItemCreate(
            title="Welcoming remarks: the three traps of low productivity and growth; "
            "the gap in adoption of digital technologies",
            speaker_id=director.id,
            duration_minutes=15,
        ),
        AgendaItemCreate(
            title="Presentation of the preliminary diagnosis from interviews with digital clusters",
            speaker_id=officer.id,
            duration_minutes=20,
        ),
        *(
            AgendaItemCreate(title=f"Debate: {a.title}", focus_area_id=a.id, duration_minutes=25)
            for a in areas
        ),
        AgendaItemCreate(title="Closing", speaker_id=director.id, duration_minutes=5),
    ]
    for item in items:
        await agenda.create_item(session=session, ctx=run, meeting=meeting, data=item)
    for ctx in ctxs:
        await live.set_rsvp(session=session, ctx=ctx, meeting=meeting, response=RsvpResponse.yes)

    await service.transition(session=session, ctx=run, meeting=meeting, action=Action.start)
    for ctx in ctxs:
        await live.join(session=session, ctx=ctx, meeting=meeting)
    await agenda.advance(session=session, ctx=run, meeting=meeting)  # welcoming remarks
    await agenda.advance(session=session, ctx=run, meeting=meeting)  # diagnosis
    for i, _area in enumerate(areas):
        await agenda.advance(session=session, ctx=run, meeting=meeting)  # a debate
        speakers = [ctxs[(i + k) % len(ctxs)] for k in range(2)] if ctxs else []
        for ctx in speakers:
            await live.raise_hand(session=session, ctx=ctx, meeting=meeting)
        for _ in speakers:
            await live.next_speaker(session=session, ctx=run, meeting=meeting)
    await agenda.advance(session=session, ctx=run, meeting=meeting)  # closing

    def owner(index: int) -> User:
        return promoters[index % len(promoters)] if promoters else officer

    decisions = [
        DecisionCreate(
            text="Form the working group of digital-economy cluster initiatives, with one focal "
            "point per cluster and the commission as its technical secretariat.",
            action_items=[
                DecisionActionItem(
                    title="Name each cluster's focal point",
                    owner_id=owner(0).id,
                    due_date=date(2026, 10, 1),
                ),
                DecisionActionItem(
                    title="Circulate the working group's terms of reference",
                    owner_id=officer.id,
                    due_date=date(2026, 10, 15),
                ),
            ],
        ),
        DecisionCreate(
            text="Define a roadmap of joint actions for the three focus areas.",
            action_items=[
                DecisionActionItem(
                    title=f"Draft roadmap actions: {area.title}",
                    owner_id=owner(i + 1).id,
                    due_date=date(2026, 11, 30),
                    focus_area_id=area.id,
                )
                for i, area in enumerate(areas)
            ],
        ),
    ]
    for decision in decisions:
        await records.record_decision(session=session, ctx=run, meeting=meeting, data=decision)
    await records.put_minutes(
        session=session, ctx=run, meeting=meeting, data=MinutesUpdate(body=MINUTES, published=True)
    )
    await _seed_polls(session, run, ctxs, meeting, areas)
    if ctxs:  # one promoter leaves before the end; the others leave when it ends
        await live.leave(session=session, ctx=ctxs[-1], meeting=meeting)
    await service.transition(session=session, ctx=run, meeting=meeting, action=Action.end)
    await polls.close_meeting_polls(session=session, ctx=run, meeting=meeting)
    return meeting


async def _seed_polls(
    session: AsyncSession,
    run: GroupContext,
    ctxs: list[GroupContext],
    meeting: Meeting,
    areas: list[Any],
) -> None:
    """A ranked poll on the focus areas (closed with the meeting) and a time poll for the
    next meeting, closed by the moderator, which schedules it."""
    ranked = await polls.create_poll(
        session=session,
        ctx=run,
        data=PollCreate(
            title="Which focus area should the roadmap start with?",
            kind=PollKind.ranked,
            options=[PollOptionIn(title=a.title) for a in areas],
            meeting_id=meeting.id,
        ),
    )
    slots = [
        PollOptionIn(starts_at=datetime(2026, 10, day, 15, tzinfo=ZoneInfo(TIMEZONE)),
                 ends_at=datetime(2026, 10, day, 17, tzinfo=ZoneInfo(TIMEZONE)))
        for day in (8, 15, 22)
    ]  # fmt: skip
    when = await polls.create_poll(
        session=session,
        ctx=run,
        data=PollCreate(
            title="Second meeting of the working group", kind=PollKind.time, options=slots
        ),
    )
    ids = [o["id"] for o in ranked.options]
    answers = ("yes", "maybe", "no")
    for i, ctx in enumerate(ctxs):
        order = ids[i % len(ids) :] + ids[: i % len(ids)] if ids else []
        await polls.cast_stance(
            session=session, ctx=ctx, poll=ranked, data=StanceCast(choices=order)
        )
        slot_answers = {o["id"]: answers[(i + k) % 3] for k, o in enumerate(when.options)}
        await polls.cast_stance(
            session=session, ctx=ctx, poll=when, data=StanceCast(choices=slot_answers)
        )
    await polls.close_poll(
        session=session,
        ctx=run,
        poll=when,
        data=PollClose(create_meeting=True, timezone=TIMEZONE, outcome="The most could attend"),
    )
