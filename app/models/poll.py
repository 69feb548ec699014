from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

from app.models.base import (
    JSONType,
    UTCDateTime,
    Versioned,
    created_at_field,
    enum_field,
    new_id,
    updated_at_field,
)


class PollKind(enum.StrEnum):
    single = "single"
    multiple = "multiple"
    score = "score"
    ranked = "ranked"
    dot = "dot"
    time = "time"


class PollStatus(enum.StrEnum):
    open = "open"
    closed = "closed"


class ResultsShown(enum.StrEnum):
    """Who sees a poll's results: everyone at once, each voter once they voted, or everyone
    once it closed."""

    visible = "visible"
    after_vote = "after_vote"
    after_close = "after_close"


class Poll(Versioned, table=True):
    __tablename__ = "polls"
    __table_args__ = (
        # The keyset page of a group's polls, newest first.
        Index("ix_polls_group_created", "group_id", "created_at", "id"),
        # The worker's sweeps: open polls by closing time.
        Index("ix_polls_status_closes", "status", "closes_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    group_id: uuid.UUID = Field(foreign_key="groups.id", ondelete="CASCADE")
    author_id: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    title: str = Field(max_length=200)
    details: str | None = Field(default=None, sa_type=Text)
    kind: PollKind = enum_field(PollKind)
    # [{"id": "o1", "title": …}] or, for time polls, [{"id": "o1", "starts_at", "ends_at"}].
    options: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    max_choices: int | None = None
    dots: int | None = None
    score_max: int | None = None
    anonymous: bool = Field(default=False)
    results_shown: ResultsShown = enum_field(ResultsShown, default=ResultsShown.visible)
    status: PollStatus = enum_field(PollStatus, default=PollStatus.open)
    closes_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # What the poll is about, if anything (each in the same group).
    meeting_id: uuid.UUID | None = Field(
        default=None, foreign_key="meetings.id", ondelete="SET NULL", index=True
    )
    agenda_item_id: uuid.UUID | None = Field(
        default=None, foreign_key="agenda_items.id", ondelete="SET NULL"
    )
    focus_area_id: uuid.UUID | None = Field(
        default=None, foreign_key="focus_areas.id", ondelete="SET NULL"
    )
    proposal_id: uuid.UUID | None = Field(
        default=None, foreign_key="proposals.id", ondelete="SET NULL"
    )
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    outcome: str | None = Field(default=None, sa_type=Text)
    # A scheduled meeting made from a time poll's winning slot on close.
    scheduled_meeting_id: uuid.UUID | None = Field(default=None)
    # `poll.closing_soon` went out (once per poll and closing time).
    closing_soon_for: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class Stance(SQLModel, table=True):
    """A member's answer to a poll; changeable until the poll closes."""

    __tablename__ = "poll_stances"

    poll_id: uuid.UUID = Field(foreign_key="polls.id", primary_key=True, ondelete="CASCADE")
    user_id: uuid.UUID = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    # A list of option ids or {option id: number} (app/polls/kinds.py).
    choices: Any = Field(sa_type=JSONType)
    reason: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
