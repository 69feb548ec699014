from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

from app.models.base import (
    UTCDateTime,
    Versioned,
    created_at_field,
    enum_field,
    new_id,
    updated_at_field,
)


class ProposalState(enum.StrEnum):
    draft = "draft"
    submitted = "submitted"
    under_review = "under_review"
    accepted = "accepted"
    rejected = "rejected"
    withdrawn = "withdrawn"


class VoteChoice(enum.StrEnum):
    yes = "yes"
    no = "no"
    abstain = "abstain"


class Proposal(Versioned, table=True):
    __tablename__ = "proposals"
    __table_args__ = (
        Index("ix_proposals_group_state", "group_id", "state"),
        # The keyset page of a group's proposals, oldest first.
        Index("ix_proposals_group_created", "group_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    group_id: uuid.UUID = Field(foreign_key="groups.id", ondelete="CASCADE")
    title: str = Field(max_length=200)
    body: str = Field(sa_type=Text)
    focus_area_id: uuid.UUID | None = Field(
        default=None, foreign_key="focus_areas.id", ondelete="SET NULL"
    )
    organization_id: uuid.UUID | None = Field(
        default=None, foreign_key="organizations.id", ondelete="SET NULL"
    )
    author_id: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    state: ProposalState = enum_field(ProposalState, default=ProposalState.draft)
    endorsement_count: int = Field(default=0)
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class Endorsement(SQLModel, table=True):
    __tablename__ = "endorsements"

    proposal_id: uuid.UUID = Field(foreign_key="proposals.id", primary_key=True, ondelete="CASCADE")
    user_id: uuid.UUID = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    created_at: datetime = created_at_field()


class Vote(SQLModel, table=True):
    __tablename__ = "votes"

    proposal_id: uuid.UUID = Field(foreign_key="proposals.id", primary_key=True, ondelete="CASCADE")
    user_id: uuid.UUID = Field(foreign_key="users.id", primary_key=True, ondelete="CASCADE")
    choice: VoteChoice = enum_field(VoteChoice)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class Comment(SQLModel, table=True):
    """A comment on a proposal or an action item (one table, one code path for both)."""

    __tablename__ = "comments"
    __table_args__ = (Index("ix_comments_subject", "subject_type", "subject_id", "created_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    group_id: uuid.UUID = Field(foreign_key="groups.id", index=True, ondelete="CASCADE")
    subject_type: str = Field(max_length=32)
    subject_id: uuid.UUID
    author_id: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    body: str = Field(sa_type=Text)
    created_at: datetime = created_at_field()
