from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from app.core.schemas import InputModel, OutputModel, PatchModel
from app.models import ProposalState, VoteChoice
from app.roadmap.schemas import ActionItemFields, ActionItemRead


class ProposalCreate(InputModel):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=100_000, description="Markdown")
    focus_area_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = Field(
        default=None, description="the organization on whose behalf the author proposes"
    )
    finding_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=20, description="findings of the diagnosis it answers"
    )


class ProposalUpdate(PatchModel):
    not_null = ("title", "body")

    title: str | None = Field(default=None, min_length=1, max_length=200)
    body: str | None = Field(default=None, min_length=1, max_length=100_000)
    focus_area_id: uuid.UUID | None = None
    organization_id: uuid.UUID | None = None


class ProposalRead(OutputModel):
    id: uuid.UUID
    group_id: uuid.UUID
    title: str
    body: str
    focus_area_id: uuid.UUID | None
    organization_id: uuid.UUID | None
    author_id: uuid.UUID | None
    state: ProposalState
    endorsement_count: int
    submitted_at: datetime | None
    decided_at: datetime | None = Field(
        description="when it became accepted, rejected or withdrawn"
    )
    created_at: datetime
    updated_at: datetime
    allowed_transitions: list[ProposalState] = Field(
        default_factory=list, description="states the caller may move this proposal to"
    )


class TransitionCreate(InputModel):
    to: ProposalState
    reason: str | None = Field(default=None, max_length=5_000)
    action_items: list[ActionItemFields] | None = Field(
        default=None,
        max_length=100,
        description="only with `to: accepted`: action items created in the same transaction, "
        "linked to the proposal (focus area defaults to the proposal's)",
    )


class ProposalTransitionRead(ProposalRead):
    action_items: list[ActionItemRead] = Field(
        default_factory=list, description="the items created by this transition"
    )


class VoteCast(InputModel):
    choice: VoteChoice


class VoteRead(OutputModel):
    proposal_id: uuid.UUID
    user_id: uuid.UUID
    choice: VoteChoice
    created_at: datetime
    updated_at: datetime


class VoteTally(OutputModel):
    yes: int = 0
    no: int = 0
    abstain: int = 0
