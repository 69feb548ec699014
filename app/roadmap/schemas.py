from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import Field, computed_field

from app.core.schemas import Day, InputModel, OutputModel, PatchModel
from app.models import ActionItemStatus, Priority
from app.models.base import utcnow

# Statuses that end an item's work: neither counts as overdue.
CLOSED_STATUSES = (ActionItemStatus.done, ActionItemStatus.cancelled)


def today() -> date:
    """Today in UTC: due dates are calendar dates, compared with the UTC date."""
    return utcnow().date()


def is_overdue(due: date | None, status: object, on: date | None = None) -> bool:
    """Due date passed (in UTC; `on` defaults to today) and neither done nor cancelled."""
    return due is not None and due < (on or today()) and status not in CLOSED_STATUSES


class ActionItemFields(InputModel):
    """What any new action item may say; ActionItemCreate adds the links."""

    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=20_000)
    owner_id: uuid.UUID | None = Field(default=None, description="must be a member of the group")
    due_date: Day | None = None
    priority: Priority = Priority.medium
    focus_area_id: uuid.UUID | None = None


class ActionItemCreate(ActionItemFields):
    proposal_id: uuid.UUID | None = None
    meeting_id: uuid.UUID | None = None
    finding_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=20, description="findings of the diagnosis it answers"
    )


class ActionItemUpdate(PatchModel):
    """Only the fields sent change. `status: done` sets `progress` to 100 and `completed_at`;
    moving a done item to another status clears `completed_at`."""

    not_null = ("title", "priority", "status", "progress")

    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=20_000)
    owner_id: uuid.UUID | None = Field(default=None, description="must be a member of the group")
    due_date: Day | None = None
    priority: Priority | None = None
    status: ActionItemStatus | None = None
    progress: int | None = Field(default=None, ge=0, le=100, description="percent, 0-100")
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

    @computed_field(description="due date passed (UTC) and status neither done nor cancelled")
    def overdue(self) -> bool:
        return is_overdue(self.due_date, self.status)


class FocusAreaBrief(OutputModel):
    id: uuid.UUID
    title: str
    position: int


class ProgressSummary(OutputModel):
    item_count: int = Field(description="items that count: every status but cancelled")
    done_count: int
    cancelled_count: int = Field(description="cancelled items, left out of the numbers")
    progress: float | None = Field(
        description="mean `progress` (0-100, one decimal) of the items that count; "
        "null when there are none"
    )


class RoadmapArea(ProgressSummary):
    focus_area: FocusAreaBrief | None = Field(description="null: items without a focus area")
    items: list[ActionItemRead] = Field(description="not cancelled; by due date, undated last")


class Roadmap(ProgressSummary):
    group_id: uuid.UUID
    areas: list[RoadmapArea]


class ImportResult(OutputModel):
    created: int
    updated: int
    unchanged: int
    items: list[ActionItemRead] = Field(description="every row's item, in file order")


class ActionItemFilters(OutputModel):
    """Query filters of the action-item lists (all optional, combined with AND)."""

    status: ActionItemStatus | None = None
    owner_id: uuid.UUID | None = None
    focus_area_id: uuid.UUID | None = None
    proposal_id: uuid.UUID | None = None
    meeting_id: uuid.UUID | None = None
    due_before: date | None = None
    overdue: bool | None = None
