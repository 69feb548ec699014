from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import Field

from app.core.schemas import InputModel, OutputModel
from app.models import ActionItemStatus, Priority


class ActionItemCreate(InputModel):
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=20_000)
    owner_id: uuid.UUID | None = Field(default=None, description="must be a member of the group")
    due_date: date | None = None
    priority: Priority = Priority.medium
    focus_area_id: uuid.UUID | None = None
    proposal_id: uuid.UUID | None = None
    meeting_id: uuid.UUID | None = None


class ActionItemRead(OutputModel):
    id: uuid.UUID
    group_id: uuid.UUID
    title: str
    description: str | None
    owner_id: uuid.UUID | None
    due_date: date | None
    priority: Priority
    status: ActionItemStatus
    progress: int
    completed_at: datetime | None
    focus_area_id: uuid.UUID | None
    proposal_id: uuid.UUID | None
    meeting_id: uuid.UUID | None
    decision_id: uuid.UUID | None
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
