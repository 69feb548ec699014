from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

from app.models.base import JSONType, created_at_field, new_id


class Introduction(SQLModel, table=True):
    """A moderator put a needing organization in touch with an offering one (immutable: what
    happens next is the linked action item's status)."""

    __tablename__ = "introductions"
    __table_args__ = (
        # The keyset page of a group's introductions, newest first.
        Index("ix_introductions_group_created", "group_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    group_id: uuid.UUID = Field(foreign_key="groups.id", ondelete="CASCADE")
    need_organization_id: uuid.UUID = Field(foreign_key="organizations.id", ondelete="CASCADE")
    offer_organization_id: uuid.UUID = Field(foreign_key="organizations.id", ondelete="CASCADE")
    terms: list[str] = Field(default_factory=list, sa_type=JSONType)
    note: str | None = Field(default=None, sa_type=Text)
    # SET NULL: deleting the item keeps the introduction (its status then reads as null).
    action_item_id: uuid.UUID | None = Field(
        default=None, foreign_key="action_items.id", ondelete="SET NULL"
    )
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = created_at_field()
