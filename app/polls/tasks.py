"""Worker jobs for polls: close those whose time has come, and say so a day before.

Each poll is handled in a transaction of its own that locks the poll row and checks again
that it is still due (another worker, or a moderator, may have closed it meanwhile). The
events have no actor: the clock caused them.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.db import SessionFactory
from app.core.events import record_event
from app.models import Group, Poll, PollStatus
from app.models.base import table_of, utcnow
from app.polls import service
from app.polls.schemas import PollClose

BATCH = 100
CLOSING_SOON = timedelta(hours=24)
polls = table_of(Poll)


async def _due(factory: SessionFactory, *conditions: Any) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(poll id, group id) of open polls meeting `conditions`, soonest closing first."""
    async with factory() as session:
        rows = await session.execute(
            select(col(Poll.id), col(Poll.group_id))
            .where(col(Poll.status) == PollStatus.open, *conditions)
            .order_by(col(Poll.closes_at))
            .limit(BATCH)
        )
        return [(poll_id, group_id) for poll_id, group_id in rows.all()]


async def _locked(session: AsyncSession, poll_id: uuid.UUID, group_id: uuid.UUID) -> Poll | None:
    """The poll, read under its group's lock: the lock every API write takes first, so no
    deadlock with a moderator closing it at the same moment."""
    await session.get(Group, group_id, with_for_update=True)
    poll = await session.get(Poll, poll_id, populate_existing=True)
    return poll if poll is not None and poll.status == PollStatus.open else None


async def close_due_polls(ctx: dict[str, Any], now: datetime | None = None) -> int:
    """Cron: close every open poll past its `closes_at`; how many."""
    factory: SessionFactory = ctx["session_factory"]
    now = now or utcnow()
    closed = 0
    for poll_id, group_id in await _due(factory, col(Poll.closes_at) <= now):
        async with factory() as session, session.begin():
            poll = await _locked(session, poll_id, group_id)
            if poll is None:
                continue
            await service.close_poll(session=session, ctx=None, poll=poll, data=PollClose())
            closed += 1
    return closed


async def announce_closing_polls(ctx: dict[str, Any], now: datetime | None = None) -> int:
    """Cron: `poll.closing_soon` once per poll and closing time, within a day of it."""
    factory: SessionFactory = ctx["session_factory"]
    now = now or utcnow()
    not_yet = col(Poll.closing_soon_for).is_(None) | (
        col(Poll.closing_soon_for) != col(Poll.closes_at)
    )
    due = (col(Poll.closes_at) > now, col(Poll.closes_at) <= now + CLOSING_SOON, not_yet)
    announced = 0
    for poll_id, group_id in await _due(factory, *due):
        async with factory() as session, session.begin():
            poll = await _locked(session, poll_id, group_id)
            if poll is None or poll.closes_at is None or poll.closing_soon_for == poll.closes_at:
                continue
            await record_event(
                session=session,
                group_id=poll.group_id,
                type="poll.closing_soon",
                actor_id=None,
                subject_type=service.SUBJECT,
                subject_id=poll.id,
                data={"poll": service.poll_data(poll)},
            )
            # A mark, not a change of the poll: its version (ETag) stays.
            await session.execute(
                update(polls).where(polls.c.id == poll.id).values(closing_soon_for=poll.closes_at)
            )
            announced += 1
    return announced
