from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field

from app.models.base import (
    UTCDateTime,
    Versioned,
    created_at_field,
    enum_field,
    new_id,
    updated_at_field,
)


class Visibility(enum.StrEnum):
    public = "public"
    private = "private"


class Role(enum.StrEnum):
    """Per-group roles, from least to most powerful (see `rank`)."""

    observer = "observer"
    member = "member"
    moderator = "moderator"
    owner = "owner"

    @property
    def rank(self) -> int:
        return _ROLE_RANK[self]


_ROLE_RANK = {Role.observer: 0, Role.member: 1, Role.moderator: 2, Role.owner: 3}


class Group(Versioned, table=True):
    __tablename__ = "groups"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    name: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    visibility: Visibility = enum_field(Visibility, default=Visibility.private)
    # The outbox counter: incremented under a row lock by every event of this group.
    last_seq: int = Field(default=0, nullable=False)
    archived_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class Membership(Versioned, table=True):
    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("group_id", "user_id"),
        # The keyset page of a group's members.
        Index("ix_memberships_group_created", "group_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    group_id: uuid.UUID = Field(foreign_key="groups.id", ondelete="CASCADE")
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    role: Role = enum_field(Role)
    organization_id: uuid.UUID | None = Field(
        default=None, foreign_key="organizations.id", ondelete="SET NULL"
    )
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class FocusArea(Versioned, table=True):
    __tablename__ = "focus_areas"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    group_id: uuid.UUID = Field(foreign_key="groups.id", index=True, ondelete="CASCADE")
    title: str = Field(max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    position: int = Field(default=1)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
