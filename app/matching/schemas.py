from __future__ import annotations

import enum
import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from app.core.schemas import InputModel
from app.matching.taxonomy import TermList
from app.models import ActionItemStatus, OrganizationKind


class TermRead(BaseModel):
    id: str
    label_en: str
    label_es: str
    parent: str | None = Field(description="The broader term; null for a broad term")


class Scope(enum.StrEnum):
    group = "group"
    registry = "registry"


class OrganizationBrief(BaseModel):
    id: uuid.UUID
    name: str
    kind: OrganizationKind
    country: str


class Overlap(BaseModel):
    need_term: str
    offer_term: str
    exact: bool = Field(description="false: one is the broader term of the other")
    weight: float = Field(description="What this overlap adds to the score")


class MatchRead(BaseModel):
    need_organization: OrganizationBrief
    offer_organization: OrganizationBrief
    shared_terms: list[str] = Field(
        description="Where the two meet: each overlap's term, the narrower one of a "
        "broader/narrower pair"
    )
    overlaps: list[Overlap]
    score: float = Field(description="Higher is better; see the README's Matching section")
    reasons: list[str] = Field(description="The score in words")


class IntroductionCreate(InputModel):
    need_organization_id: uuid.UUID = Field(
        description="An organization of the group's members that needs the terms"
    )
    offer_organization_id: uuid.UUID = Field(
        description="Any organization of the registry that offers them"
    )
    terms: TermList = Field(
        min_length=1, max_length=40, description="Terms the two share (a match's shared_terms)"
    )
    note: str | None = Field(default=None, max_length=2_000)


class IntroductionRead(BaseModel):
    id: uuid.UUID
    group_id: uuid.UUID
    need_organization: OrganizationBrief
    offer_organization: OrganizationBrief
    terms: list[str]
    note: str | None
    action_item_id: uuid.UUID | None = Field(description="null once the item was deleted")
    action_item_status: ActionItemStatus | None
    created_by: uuid.UUID | None
    created_at: datetime


class IntroductionStats(BaseModel):
    made: int = Field(description="Introductions recorded in the group")
    completed: int = Field(description="Of those, how many have their action item done")
    open: int = Field(description="Action item todo, in progress or blocked")
    dropped: int = Field(description="Action item cancelled or deleted")
