from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
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


class EmailMode(enum.StrEnum):
    off = "off"
    immediate = "immediate"
    daily = "daily"


class Notification(SQLModel, table=True):
    """One user's notice of one event (unique per event and user: dispatch may run twice)."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("event_id", "user_id"),
        # The inbox pages (all, or unread only) newest first, and the unread count.
        Index("ix_notifications_user_created", "user_id", "created_at", "id"),
        Index("ix_notifications_user_unread", "user_id", "read_at", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE")
    event_id: uuid.UUID = Field(foreign_key="events.id", ondelete="CASCADE")
    group_id: uuid.UUID = Field(foreign_key="groups.id", ondelete="CASCADE")
    type: str = Field(max_length=64)
    reason: str = Field(max_length=64)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    read_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    emailed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = created_at_field()


class NotificationPreference(Versioned, table=True):
    __tablename__ = "notification_preferences"

    user_id: uuid.UUID = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    email: EmailMode = enum_field(EmailMode, default=EmailMode.immediate)
    muted_types: list[str] = Field(default_factory=list, sa_type=JSONType)
    last_digest_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
