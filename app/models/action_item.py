from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import Index, Text
from sqlmodel import Field

from app.models.base import (
    UTCDateTime,
    Versioned,
    created_at_field,
    enum_field,
    new_id,
    updated_at_field,
)


class ActionItemStatus(enum.StrEnum):
    todo = "todo"
    in_progress = "in_progress"
    blocked = "blocked"
    done = "done"
    cancelled = "cancelled"


class Priority(enum.StrEnum):
    low = "low"
    medium = "medium"
    high = "high"


class ActionItem(Versioned, table=True):
    __tablename__ = "action_items"
    __table_args__ = (
        Index("ix_action_items_group_status", "group_id", "status"),
        Index("ix_action_items_owner", "owner_id", "status"),
        # The keyset pages: a group's items and a user's items, oldest first.
        Index("ix_action_items_group_created", "group_id", "created_at", "id"),
        Index("ix_action_items_owner_created", "owner_id", "created_at", "id"),
        Index("ix_action_items_due", "due_date"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    group_id: uuid.UUID = Field(foreign_key="groups.id", ondelete="CASCADE")
    title: str = Field(max_length=200)
    description: str | None = Field(default=None, sa_type=Text)
    owner_id: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    due_date: date | None = None
    priority: Priority = enum_field(Priority, default=Priority.medium)
    status: ActionItemStatus = enum_field(ActionItemStatus, default=ActionItemStatus.todo)
    progress: int = Field(default=0)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    focus_area_id: uuid.UUID | None = Field(
        default=None, foreign_key="focus_areas.id", ondelete="SET NULL"
    )
    proposal_id: uuid.UUID | None = Field(
        default=None, foreign_key="proposals.id", ondelete="SET NULL"
    )
    meeting_id: uuid.UUID | None = Field(
        default=None, foreign_key="meetings.id", ondelete="SET NULL"
    )
    decision_id: uuid.UUID | None = Field(
        default=None, foreign_key="decisions.id", ondelete="SET NULL"
    )
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    # Reminder bookkeeping (app/notifications/reminders.py), written without a version bump:
    # the due date the `due_soon` reminder went out for, and the UTC day of the last `overdue`.
    due_soon_notified_for: date | None = None
    overdue_notified_on: date | None = None
