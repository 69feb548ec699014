"""Polls: creating one, casting and changing stances, who sees results, closing.

Results are computed from the stances whenever they are shown (a poll has at most a group's
members as voters), and frozen into the `poll.closed` event. Who sees them is decided in one
place, `results_visible`, for the GET, the events and the stance list alike: an event carries
results only when every reader of the group may see them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.errors import Conflict, Forbidden, ValidationFailed
from app.core.events import record_events
from app.core.pagination import PageParams, paginate
from app.groups.access import GroupContext
from app.meetings.schemas import MeetingCreate
from app.meetings.service import create_meeting
from app.models import (
    AgendaItem,
    Meeting,
    Poll,
    PollKind,
    PollStatus,
    ResultsShown,
    Role,
    Stance,
    User,
)
from app.models.base import utcnow
from app.polls import kinds
from app.polls.schemas import PollClose, PollCreate, PollRead, StanceCast
from app.roadmap.service import check_links

SUBJECT = "poll"


def _invalid(field: str, msg: str) -> ValidationFailed:
    return ValidationFailed(msg, errors=[{"loc": ["body", field], "msg": msg}])


def rules_of(poll: Poll) -> kinds.Rules:
    return kinds.Rules(
        kind=poll.kind,
        option_ids=tuple(o["id"] for o in poll.options),
        max_choices=poll.max_choices,
        dots=poll.dots,
        score_max=poll.score_max,
    )


def results_visible(poll: Poll, *, voted: bool) -> bool:
    """Whether a reader sees the results: after close everyone; before, as the poll says."""
    if poll.status == PollStatus.closed or poll.results_shown == ResultsShown.visible:
        return True
    return poll.results_shown == ResultsShown.after_vote and voted


def open_now(poll: Poll) -> bool:
    """Open, and not past its closing time (the worker may not have closed it yet)."""
    return poll.status == PollStatus.open and (poll.closes_at is None or poll.closes_at > utcnow())


async def _stances(session: AsyncSession, poll_id: uuid.UUID) -> list[Stance]:
    rows = await session.execute(select(Stance).where(col(Stance.poll_id) == poll_id))
    return list(rows.scalars())


async def results(session: AsyncSession, poll: Poll) -> dict[str, Any]:
    return kinds.tally(rules_of(poll), [s.choices for s in await _stances(session, poll.id)])


def poll_data(poll: Poll) -> dict[str, Any]:
    """The poll as events carry it: never its results or its stances."""
    read = PollRead.model_validate({**_fields(poll), "stance_count": 0, "results": None})
    return read.model_dump(mode="json", exclude={"stance_count", "results", "my_stance"})


def _fields(poll: Poll) -> dict[str, Any]:
    return {
        name: getattr(poll, name) for name in Poll.model_fields if name in PollRead.model_fields
    }


async def read(session: AsyncSession, poll: Poll, viewer: uuid.UUID) -> PollRead:
    """The poll as `viewer` may see it."""
    (shown,) = await read_many(session, [poll], viewer)
    return shown


async def read_many(session: AsyncSession, polls: list[Poll], viewer: uuid.UUID) -> list[PollRead]:
    """Polls as `viewer` may see them, their stances read in one statement."""
    by_poll: dict[uuid.UUID, list[Stance]] = {poll.id: [] for poll in polls}
    if polls:
        rows = await session.execute(select(Stance).where(col(Stance.poll_id).in_(by_poll)))
        for stance in rows.scalars():
            by_poll[stance.poll_id].append(stance)
    return [_read(poll, by_poll[poll.id], viewer) for poll in polls]


def _read(poll: Poll, stances: list[Stance], viewer: uuid.UUID) -> PollRead:
    mine = next((s for s in stances if s.user_id == viewer), None)
    shown = None
    if results_visible(poll, voted=mine is not None):
        shown = kinds.tally(rules_of(poll), [s.choices for s in stances])
    return PollRead.model_validate(
        {
            **_fields(poll),
            "stance_count": len(stances),
            "results": shown,
            "my_stance": _as_given(poll, mine.choices) if mine else None,
        }
    )


def _as_given(poll: Poll, choices: Any) -> Any:
    """Stored choices as the API takes them (time answers back to words)."""
    if poll.kind != PollKind.time:
        return choices
    words = {v: k for k, v in kinds.TIME_ANSWERS.items()}
    return {option: words[value] for option, value in choices.items()}


async def create_poll(*, session: AsyncSession, ctx: GroupContext, data: PollCreate) -> Poll:
    try:
        kinds.check_settings(
            data.kind,
            [o.as_given for o in data.options],
            max_choices=data.max_choices,
            dots=data.dots,
            score_max=data.score_max,
        )
    except kinds.Invalid as exc:
        raise _invalid(exc.field, exc.msg) from exc
    if data.closes_at is not None and data.closes_at <= utcnow():
        raise _invalid("closes_at", "must be in the future")
    await check_links(
        ctx=ctx,
        focus_area_id=data.focus_area_id,
        proposal_id=data.proposal_id,
        meeting_id=data.meeting_id,
    )
    if data.agenda_item_id is not None:
        item = await session.get(AgendaItem, data.agenda_item_id)
        if item is None or data.meeting_id is None or item.meeting_id != data.meeting_id:
            raise _invalid("agenda_item_id", "no such agenda item in the poll's meeting")
    ids = kinds.option_ids(len(data.options))
    options = [_option(i, o.as_given) for i, o in zip(ids, data.options, strict=True)]
    poll = Poll(
        **data.model_dump(exclude={"options", "results"}),
        options=options,
        results_shown=data.results,
        group_id=ctx.group.id,
        author_id=ctx.user.id,
    )
    session.add(poll)
    await session.flush()
    await _record(session, ctx, poll, "poll.opened", {"poll": poll_data(poll)})
    return poll


def _option(option_id: str, option: str | tuple[datetime, datetime]) -> dict[str, Any]:
    if isinstance(option, str):
        return {"id": option_id, "title": option}
    starts_at, ends_at = option
    return {"id": option_id, "starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat()}


async def _record(
    session: AsyncSession,
    ctx: GroupContext | None,
    poll: Poll,
    type: str,
    data: dict[str, Any],
    *,
    anonymous: bool = False,
) -> None:
    """Record an event about the poll; by nobody when the actor must stay unknown (a stance
    on an anonymous poll) or there is none (the worker closing it)."""
    actor = None if anonymous or ctx is None else ctx.user.id
    await record_events(
        session=session,
        group_id=poll.group_id,
        actor_id=actor,
        subject_type=SUBJECT,
        subject_id=poll.id,
        events=[(type, data)],
    )


async def cast_stance(
    *, session: AsyncSession, ctx: GroupContext, poll: Poll, data: StanceCast
) -> Stance:
    """A member's stance, new or changed, while the poll is open."""
    if not open_now(poll):
        raise Conflict("The poll is closed")
    try:
        choices = kinds.normalize_stance(rules_of(poll), data.choices)
    except kinds.Invalid as exc:
        raise _invalid(exc.field, exc.msg) from exc
    stance = await session.get(Stance, (poll.id, ctx.user.id))
    if stance is None:
        stance = Stance(poll_id=poll.id, user_id=ctx.user.id, choices=choices, reason=data.reason)
        session.add(stance)
    else:
        stance.choices, stance.reason = choices, data.reason
    await session.flush()
    count = await stance_count(session, poll.id)
    event: dict[str, Any] = {"poll_id": str(poll.id), "stance_count": count}
    if results_visible(poll, voted=False):  # what every reader of the group may see
        event["results"] = await results(session, poll)
    await _record(session, ctx, poll, "poll.stance_cast", event, anonymous=poll.anonymous)
    return stance


async def stance_count(session: AsyncSession, poll_id: uuid.UUID) -> int:
    stmt = select(func.count()).select_from(Stance).where(col(Stance.poll_id) == poll_id)
    return int((await session.execute(stmt)).scalar_one())


async def list_stances(
    *, session: AsyncSession, ctx: GroupContext, poll: Poll, page: PageParams
) -> tuple[list[dict[str, Any]], str | None]:
    """Who chose what: never on an anonymous poll, and only where results are visible."""
    if poll.anonymous:
        raise Forbidden("The poll is anonymous: no one sees who chose what")
    voted = await session.get(Stance, (poll.id, ctx.user.id)) is not None
    if not results_visible(poll, voted=voted):
        raise Forbidden("The poll's results are not visible to you yet")
    stmt = select(Stance).where(col(Stance.poll_id) == poll.id)
    rows, cursor = await paginate(
        session, stmt, page, (col(Stance.created_at), col(Stance.user_id))
    )
    found = await session.execute(
        select(col(User.id), col(User.name)).where(col(User.id).in_([s.user_id for s in rows]))
    )
    names = {user_id: name for user_id, name in found.all()}
    items = [
        {
            "user": {"id": stance.user_id, "name": names.get(stance.user_id, "")},
            "choices": _as_given(poll, stance.choices),
            "reason": stance.reason,
            "updated_at": stance.updated_at,
        }
        for stance in rows
    ]
    return items, cursor


def may_close(ctx: GroupContext, poll: Poll) -> bool:
    return ctx.has_role(Role.moderator) or poll.author_id == ctx.user.id


async def close_poll(
    *, session: AsyncSession, ctx: GroupContext | None, poll: Poll, data: PollClose
) -> Poll:
    """Close with the final results (and, for a time poll, maybe schedule its best slot)."""
    if poll.status == PollStatus.closed:
        raise Conflict("The poll is closed already")
    final = await results(session, poll)
    if data.create_meeting:
        if poll.kind != PollKind.time:
            raise _invalid("create_meeting", "only a time poll schedules a meeting")
        if ctx is None:
            raise RuntimeError("scheduling a meeting needs someone to schedule it")
        slot_id = kinds.best_slot(final)
        if slot_id is None:
            raise Conflict("No slot has a yes or maybe: nothing to schedule")
        slot = next(o for o in poll.options if o["id"] == slot_id)
        meeting = await create_meeting(
            session=session,
            ctx=ctx,
            data=MeetingCreate(
                title=poll.title,
                starts_at=slot["starts_at"],
                ends_at=slot["ends_at"],
                timezone=data.timezone,
            ),
        )
        poll.scheduled_meeting_id = meeting.id
    poll.status, poll.closed_at, poll.outcome = PollStatus.closed, utcnow(), data.outcome
    await session.flush()
    payload = {"poll": poll_data(poll), "results": final, "outcome": data.outcome}
    await _record(session, ctx, poll, "poll.closed", payload)
    return poll


async def list_polls(
    *,
    session: AsyncSession,
    ctx: GroupContext,
    page: PageParams,
    status: PollStatus | None,
    meeting_id: uuid.UUID | None,
    proposal_id: uuid.UUID | None,
) -> tuple[list[PollRead], str | None]:
    """Newest first."""
    stmt = select(Poll).where(col(Poll.group_id) == ctx.group.id)
    if status is not None:
        stmt = stmt.where(col(Poll.status) == status)
    if meeting_id is not None:
        stmt = stmt.where(col(Poll.meeting_id) == meeting_id)
    if proposal_id is not None:
        stmt = stmt.where(col(Poll.proposal_id) == proposal_id)
    rows, cursor = await paginate(
        session, stmt, page, (col(Poll.created_at), col(Poll.id)), descending=True
    )
    return await read_many(session, rows, ctx.user.id), cursor


async def close_meeting_polls(*, session: AsyncSession, ctx: GroupContext, meeting: Meeting) -> int:
    """Close the open polls of a meeting that ended (or was cancelled); how many."""
    rows = await session.execute(
        select(Poll).where(col(Poll.meeting_id) == meeting.id, col(Poll.status) == PollStatus.open)
    )
    closed = 0
    for poll in rows.scalars():
        await close_poll(session=session, ctx=ctx, poll=poll, data=PollClose())
        closed += 1
    return closed


async def open_polls_of(session: AsyncSession, meeting_id: uuid.UUID) -> list[dict[str, Any]]:
    """A meeting's open polls, briefly (`GET /meetings/{id}`)."""
    rows = await session.execute(
        select(col(Poll.id), col(Poll.title), col(Poll.kind), col(Poll.agenda_item_id))
        .where(col(Poll.meeting_id) == meeting_id, col(Poll.status) == PollStatus.open)
        .order_by(col(Poll.created_at))
    )
    return [
        {"id": poll_id, "title": title, "kind": kind, "agenda_item_id": item_id}
        for poll_id, title, kind, item_id in rows.all()
    ]
