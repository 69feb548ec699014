"""Consultations (questionnaires and their responses) and the diagnosis built on them."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, Text, UniqueConstraint
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


class QuestionKind(enum.StrEnum):
    text = "text"
    single = "single"
    multiple = "multiple"
    scale = "scale"


class QuestionnaireStatus(enum.StrEnum):
    draft = "draft"
    open = "open"
    closed = "closed"


class Questionnaire(Versioned, table=True):
    __tablename__ = "questionnaires"
    __table_args__ = (Index("ix_questionnaires_group_created", "group_id", "created_at", "id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    group_id: uuid.UUID = Field(foreign_key="groups.id", ondelete="CASCADE")
    title: str = Field(max_length=200)
    intro: str | None = Field(default=None, sa_type=Text)
    # [{"id": "q1", "text", "kind", "options": [str] | None, "scale_max": int | None,
    #   "focus_area_id": str | None, "required": bool}]; frozen once a response exists.
    questions: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    status: QuestionnaireStatus = enum_field(QuestionnaireStatus, default=QuestionnaireStatus.draft)
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    opened_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class QuestionnaireResponse(SQLModel, table=True):
    """One organization's answers to a questionnaire (a later submission updates it)."""

    __tablename__ = "questionnaire_responses"
    __table_args__ = (
        UniqueConstraint("questionnaire_id", "organization_id"),
        Index("ix_questionnaire_responses_group", "group_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    questionnaire_id: uuid.UUID = Field(foreign_key="questionnaires.id", ondelete="CASCADE")
    # The questionnaire's group, kept here so group-scoped reads need no join.
    group_id: uuid.UUID = Field(foreign_key="groups.id", ondelete="CASCADE")
    organization_id: uuid.UUID = Field(foreign_key="organizations.id", ondelete="CASCADE")
    # {question id: answer}: text → str, single → one of its options, multiple → a list of
    # them, scale → an integer from 1 to scale_max (app/consultations/).
    answers: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    submitted_by: uuid.UUID | None = Field(
        default=None, foreign_key="users.id", ondelete="SET NULL"
    )
    # A moderator who recorded an interview on the organization's behalf.
    interviewed_by: uuid.UUID | None = Field(
        default=None, foreign_key="users.id", ondelete="SET NULL"
    )
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class FindingKind(enum.StrEnum):
    barrier = "barrier"
    opportunity = "opportunity"
    need = "need"
    strength = "strength"


class Finding(Versioned, table=True):
    """A finding of the diagnosis, in a focus area, backed by responses (its evidence)."""

    __tablename__ = "findings"
    __table_args__ = (Index("ix_findings_group_created", "group_id", "created_at", "id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    group_id: uuid.UUID = Field(foreign_key="groups.id", ondelete="CASCADE")
    title: str = Field(max_length=200)
    kind: FindingKind = enum_field(FindingKind)
    focus_area_id: uuid.UUID | None = Field(
        default=None, foreign_key="focus_areas.id", ondelete="SET NULL", index=True
    )
    body: str | None = Field(default=None, sa_type=Text)
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class FindingEvidence(SQLModel, table=True):
    __tablename__ = "finding_evidence"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    finding_id: uuid.UUID = Field(foreign_key="findings.id", ondelete="CASCADE", index=True)
    response_id: uuid.UUID = Field(
        foreign_key="questionnaire_responses.id", ondelete="CASCADE", index=True
    )
    question_id: str | None = Field(default=None, max_length=16)


class FindingLink(SQLModel, table=True):
    """A proposal or an action item that answers a finding (traceability)."""

    __tablename__ = "finding_links"
    __table_args__ = (Index("ix_finding_links_subject", "subject_type", "subject_id"),)

    finding_id: uuid.UUID = Field(foreign_key="findings.id", ondelete="CASCADE", primary_key=True)
    subject_type: str = Field(max_length=32, primary_key=True)
    subject_id: uuid.UUID = Field(primary_key=True)


class DiagnosisSnapshot(SQLModel, table=True):
    """The diagnosis as it was when frozen: never changed afterwards."""

    __tablename__ = "diagnosis_snapshots"
    __table_args__ = (
        Index("ix_diagnosis_snapshots_group_created", "group_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    group_id: uuid.UUID = Field(foreign_key="groups.id", ondelete="CASCADE")
    label: str = Field(max_length=200)
    diagnosis: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = created_at_field()
