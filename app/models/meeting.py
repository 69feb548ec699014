from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import (
    UTCDateTime,
    Versioned,
    created_at_field,
    enum_field,
    new_id,
    updated_at_field,
)


class MeetingMode(enum.StrEnum):
    virtual = "virtual"
    in_person = "in_person"
    hybrid = "hybrid"


class MeetingStatus(enum.StrEnum):
    scheduled = "scheduled"
    live = "live"
    ended = "ended"
    cancelled = "cancelled"


class RsvpResponse(enum.StrEnum):
    yes = "yes"
    no = "no"
    maybe = "maybe"


class Meeting(Versioned, table=True):
    __tablename__ = "meetings"
    # The keyset page of a group's meetings, by start.
    __table_args__ = (Index("ix_meetings_group_starts", "group_id", "starts_at", "id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    group_id: uuid.UUID = Field(foreign_key="groups.id", ondelete="CASCADE")
    title: str = Field(max_length=200)
    description: str | None = Field(default=None, sa_type=Text)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    timezone: str = Field(max_length=64)
    mode: MeetingMode = enum_field(MeetingMode, default=MeetingMode.virtual)
    join_url: str | None = Field(default=None, max_length=2000)
    location: str | None = Field(default=None, max_length=500)
    moderator_id: uuid.UUID | None = Field(
        default=None, foreign_key="users.id", ondelete="SET NULL"
    )
    status: MeetingStatus = enum_field(MeetingStatus, default=MeetingStatus.scheduled)
    # No foreign key: agenda items point back at the meeting, and the current item is a
    # pointer the service keeps valid (cleared when that item is deleted).
    current_agenda_item_id: uuid.UUID | None = Field(default=None)
    current_speaker_id: uuid.UUID | None = Field(
        default=None, foreign_key="users.id", ondelete="SET NULL"
    )
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # iCalendar SEQUENCE: grows with every change calendar apps must pick up.
    ical_sequence: int = Field(default=0)
    # Reminder bookkeeping: the start time the one-hour reminder went out for (a rescheduled
    # meeting gets a new reminder). Written without a version bump.
    reminder_sent_for: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class AgendaItem(Versioned, table=True):
    __tablename__ = "agenda_items"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    meeting_id: uuid.UUID = Field(foreign_key="meetings.id", index=True, ondelete="CASCADE")
    title: str = Field(max_length=200)
    speaker_id: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    focus_area_id: uuid.UUID | None = Field(
        default=None, foreign_key="focus_areas.id", ondelete="SET NULL"
    )
    duration_minutes: int | None = None
    position: int = Field(default=1)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When the agenda left this item (advanced past it, or the meeting ended). Recorded rather
    # than taken from the next item's start: a deleted current item would otherwise hand its
    # time to the item before it in the report.
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class MeetingRsvp(SQLModel, table=True):
    __tablename__ = "meeting_rsvps"

    meeting_id: uuid.UUID = Field(foreign_key="meetings.id", primary_key=True, ondelete="CASCADE")
    user_id: uuid.UUID = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    response: RsvpResponse = enum_field(RsvpResponse)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class Attendance(SQLModel, table=True):
    """One stay in a live meeting: a join and (once they leave or it ends) a leave."""

    __tablename__ = "attendances"
    __table_args__ = (Index("ix_attendances_meeting_user", "meeting_id", "user_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    meeting_id: uuid.UUID = Field(foreign_key="meetings.id", ondelete="CASCADE")
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE")
    joined_at: datetime = Field(sa_type=UTCDateTime)
    left_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RaisedHand(SQLModel, table=True):
    """The floor queue: one entry per user per meeting, first come first served."""

    __tablename__ = "raised_hands"
    __table_args__ = (UniqueConstraint("meeting_id", "user_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    meeting_id: uuid.UUID = Field(foreign_key="meetings.id", ondelete="CASCADE")
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE")
    raised_at: datetime = created_at_field()


class MeetingMinutes(Versioned, table=True):
    __tablename__ = "meeting_minutes"

    meeting_id: uuid.UUID = Field(foreign_key="meetings.id", primary_key=True, ondelete="CASCADE")
    body: str = Field(default="", sa_type=Text)
    published: bool = Field(default=False)
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class Decision(SQLModel, table=True):
    __tablename__ = "decisions"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    meeting_id: uuid.UUID = Field(foreign_key="meetings.id", index=True, ondelete="CASCADE")
    group_id: uuid.UUID = Field(foreign_key="groups.id", ondelete="CASCADE")
    text: str = Field(sa_type=Text)
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = created_at_field()
