from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from app.core.schemas import InputModel, OutputModel, PatchModel
from app.models import ActionItemStatus, FindingKind, ProposalState


class EvidenceIn(InputModel):
    response_id: uuid.UUID = Field(description="a response to one of the group's questionnaires")
    question_id: str | None = Field(
        default=None, max_length=16, description="the question of that questionnaire, if one"
    )


class FindingCreate(InputModel):
    title: str = Field(min_length=1, max_length=200)
    kind: FindingKind
    focus_area_id: uuid.UUID | None = None
    body: str | None = Field(default=None, max_length=20_000)
    evidence: list[EvidenceIn] = Field(default_factory=list, max_length=500)


class FindingUpdate(PatchModel):
    not_null = ("title", "kind", "evidence")

    title: str | None = Field(default=None, min_length=1, max_length=200)
    kind: FindingKind | None = None
    focus_area_id: uuid.UUID | None = None
    body: str | None = Field(default=None, max_length=20_000)
    evidence: list[EvidenceIn] | None = Field(
        default=None, max_length=500, description="replaces the evidence"
    )


class EvidenceRead(OutputModel):
    response_id: uuid.UUID
    question_id: str | None
    organization_id: uuid.UUID


class FindingRead(OutputModel):
    id: uuid.UUID
    group_id: uuid.UUID
    title: str
    kind: FindingKind
    focus_area_id: uuid.UUID | None
    body: str | None
    evidence: list[EvidenceRead]
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class OrganizationRef(OutputModel):
    id: uuid.UUID
    name: str
    country: str


class RankedFinding(OutputModel):
    id: uuid.UUID
    title: str
    kind: FindingKind
    organizations: int = Field(description="distinct organizations in its evidence")
    countries: int = Field(description="distinct countries of those organizations")
    country_codes: list[str]


class FocusAreaRef(OutputModel):
    id: uuid.UUID
    title: str


class FocusAreaFindings(OutputModel):
    focus_area: FocusAreaRef | None = Field(description="null: findings of no focus area")
    findings: list[RankedFinding]


class Diagnosis(OutputModel):
    focus_areas: list[FocusAreaFindings] = Field(
        description="findings per focus area, best supported first"
    )
    member_organizations: int
    consulted_organizations: int
    not_consulted: list[OrganizationRef] = Field(
        description="member organizations with no response to any of the group's questionnaires"
    )


class SnapshotCreate(InputModel):
    label: str = Field(min_length=1, max_length=200)


class SnapshotBrief(OutputModel):
    id: uuid.UUID
    group_id: uuid.UUID
    label: str
    created_by: uuid.UUID | None
    created_at: datetime


class SnapshotRead(SnapshotBrief):
    diagnosis: Diagnosis


class TraceItem(OutputModel):
    id: uuid.UUID
    title: str
    status: ActionItemStatus
    progress: int


class TraceProposal(OutputModel):
    id: uuid.UUID
    title: str
    state: ProposalState
    action_items: list[TraceItem] = Field(description="the proposal's own action items")


class Trace(OutputModel):
    finding: FindingRead
    organizations: list[OrganizationRef] = Field(description="behind its evidence")
    countries: list[str]
    proposals: list[TraceProposal]
    action_items: list[TraceItem] = Field(description="linked to the finding directly")
    progress: float | None = Field(
        description="mean progress of every action item above that is not cancelled "
        "(each once); null without any"
    )
