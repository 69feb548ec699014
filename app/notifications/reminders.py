"""Reminders: events the clock causes, recorded in the group's sequence like any other.

- `action_item.due_soon`: once per item and due date, during the 24 hours before it is due.
  An item is due at the END of its `due_date` in UTC, so that window is the due date itself
  (UTC). Moving the due date arms the reminder again for the new date.
- `action_item.overdue`: at most once per UTC day per item, from the day after the due date
  until the item is done or cancelled.
- `meeting.reminder`: once per meeting and start time, within `meeting_reminder_minutes`
  (60) before a scheduled meeting starts. Its recipients (members who did not answer "no")
  are decided by the dispatcher's rule when the event is dispatched.

Only items with an owner, and only groups that are not archived. The events have no actor.
Each reminder is written in its own transaction that first locks the group row (the order every
API write uses, so no deadlock), re-checks that it is still due, records the event and marks the
row. Marks are plain UPDATEs that keep the row's `version` and `updated_at`: a reminder is not a
change of the item (its ETag stays valid).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from app.core.config import Settings
from app.core.db import SessionFactory
from app.core.events import record_event
from app.meetings.base import meeting_data
from app.models import ActionItem, Group, Meeting, MeetingStatus
from app.roadmap.schemas import CLOSED_STATUSES
from app.roadmap.service import action_item_data

BATCH = 1000


def due_at(due_date: date) -> datetime:
    """The moment an item is due: the end of its due date in UTC."""
    return datetime.combine(due_date + timedelta(days=1), time(), tzinfo=UTC)


@dataclass(frozen=True)
class Reminder:
    event_type: str
    subject_type: str
    model: type[ActionItem] | type[Meeting]
    # SQL: the row is due for this reminder at `now`.
    due: Callable[[datetime, Settings], ColumnElement[bool]]
    # Bookkeeping that makes `due` false for this row until it should fire again.
    mark: Callable[[Any, datetime], dict[str, Any]]
    data: Callable[[Any, datetime], dict[str, Any]]


def _open_owned_item(*more: ColumnElement[bool]) -> ColumnElement[bool]:
    return and_(
        col(ActionItem.owner_id).is_not(None),
        col(ActionItem.due_date).is_not(None),
        col(ActionItem.status).not_in(CLOSED_STATUSES),
        *more,
    )


def _due_soon(now: datetime, settings: Settings) -> ColumnElement[bool]:
    return _open_owned_item(
        col(ActionItem.due_date) == now.date(),
        or_(
            col(ActionItem.due_soon_notified_for).is_(None),
            col(ActionItem.due_soon_notified_for) != col(ActionItem.due_date),
        ),
    )


def _overdue(now: datetime, settings: Settings) -> ColumnElement[bool]:
    return _open_owned_item(
        col(ActionItem.due_date) < now.date(),
        or_(
            col(ActionItem.overdue_notified_on).is_(None),
            col(ActionItem.overdue_notified_on) < now.date(),
        ),
    )


def _meeting_soon(now: datetime, settings: Settings) -> ColumnElement[bool]:
    lead = timedelta(minutes=settings.meeting_reminder_minutes)
    return and_(
        col(Meeting.status) == MeetingStatus.scheduled,
        col(Meeting.starts_at) > now,
        col(Meeting.starts_at) <= now + lead,
        or_(
            col(Meeting.reminder_sent_for).is_(None),
            col(Meeting.reminder_sent_for) != col(Meeting.starts_at),
        ),
    )


def _item_data(item: ActionItem, now: datetime) -> dict[str, Any]:
    assert item.due_date is not None
    data: dict[str, Any] = {
        "action_item": action_item_data(item),
        "due_at": due_at(item.due_date).isoformat(),
    }
    if item.due_date < now.date():
        data["days_overdue"] = (now.date() - item.due_date).days
    return data


def _meeting_data(meeting: Meeting, now: datetime) -> dict[str, Any]:
    minutes = math.ceil((meeting.starts_at - now).total_seconds() / 60)
    return {"meeting": meeting_data(meeting), "starts_in_minutes": minutes}


REMINDERS: tuple[Reminder, ...] = (
    Reminder(
        "action_item.due_soon",
        "action_item",
        ActionItem,
        _due_soon,
        lambda item, now: {"due_soon_notified_for": item.due_date},
        _item_data,
    ),
    Reminder(
        "action_item.overdue",
        "action_item",
        ActionItem,
        _overdue,
        lambda item, now: {"overdue_notified_on": now.date()},
        _item_data,
    ),
    Reminder(
        "meeting.reminder",
        "meeting",
        Meeting,
        _meeting_soon,
        lambda meeting, now: {"reminder_sent_for": meeting.starts_at},
        _meeting_data,
    ),
)


async def run(
    *, session_factory: SessionFactory, settings: Settings, reminder: Reminder, now: datetime
) -> int:
    """Record `reminder` for every row due at `now`; returns how many were recorded."""
    model = reminder.model
    live_groups = select(col(Group.id)).where(col(Group.archived_at).is_(None))
    async with session_factory() as session:
        candidates = (
            await session.execute(
                select(col(model.id), col(model.group_id))
                .where(reminder.due(now, settings), col(model.group_id).in_(live_groups))
                .order_by(col(model.group_id), col(model.id))
                .limit(BATCH)
            )
        ).all()
    recorded = 0
    for row_id, group_id in candidates:
        recorded += await _record_one(session_factory, settings, reminder, row_id, group_id, now)
    return recorded


async def _record_one(
    session_factory: SessionFactory,
    settings: Settings,
    reminder: Reminder,
    row_id: uuid.UUID,
    group_id: uuid.UUID,
    now: datetime,
) -> int:
    model = reminder.model
    async with session_factory() as session, session.begin():
        # The group's row lock first, as every writer of the group takes it.
        group = await session.get(Group, group_id, with_for_update=True, populate_existing=True)
        if group is None:
            return 0
        # Under the group lock: a concurrent run, or an edit of the row, is seen here.
        row = (
            await session.execute(
                select(model).where(col(model.id) == row_id, reminder.due(now, settings))
            )
        ).scalar_one_or_none()
        if row is None or group.archived_at is not None:
            return 0
        await record_event(
            session=session,
            group_id=group_id,
            type=reminder.event_type,
            actor_id=None,
            subject_type=reminder.subject_type,
            subject_id=row_id,
            data=reminder.data(row, now),
        )
        await session.execute(
            update(model)
            .where(col(model.id) == row_id)
            .values(**reminder.mark(row, now), updated_at=col(model.updated_at))
            .execution_options(synchronize_session=False)
        )
    return 1


async def run_all(
    *, session_factory: SessionFactory, settings: Settings, now: datetime
) -> dict[str, int]:
    """Every kind of reminder due at `now` → {event type: how many recorded}."""
    return {
        r.event_type: await run(
            session_factory=session_factory, settings=settings, reminder=r, now=now
        )
        for r in REMINDERS
    }
