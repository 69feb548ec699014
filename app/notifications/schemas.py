from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field, computed_field, field_validator

from app.core.schemas import InputModel, OutputModel
from app.models import EmailMode
from app.notifications.rules import NOTIFIABLE_TYPES


class NotificationRead(OutputModel):
    id: uuid.UUID
    type: str = Field(description="the event type, e.g. `action_item.assigned`")
    reason: str = Field(description="why you got it: `owner`, `author` or `member`")
    group_id: uuid.UUID
    event_id: uuid.UUID
    data: dict[str, Any] = Field(
        description="`subject` {type, id}, `title`, `group` {id, name}, `actor` {id, name} or "
        "null, `seq`, `occurred_at`, and per type `to`, `due_date`, `starts_at`, `changes`, "
        "`comment`"
    )
    read_at: datetime | None
    emailed_at: datetime | None
    created_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def read(self) -> bool:
        return self.read_at is not None


class UnreadCount(OutputModel):
    count: int


class ReadAllResult(OutputModel):
    marked_read: int = Field(description="how many notifications were unread until now")


class PreferencesRead(OutputModel):
    email: EmailMode
    muted_types: list[str]


class PreferencesUpdate(InputModel):
    """The whole preference (PUT): `muted_types` omitted means nothing is muted."""

    email: EmailMode = Field(
        description="`off`: no mail · `immediate`: one mail per notification · "
        "`daily`: one digest a day, grouped by group"
    )
    muted_types: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="event types you get no notification for (neither in-app nor by mail)",
    )

    @field_validator("muted_types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - NOTIFIABLE_TYPES)
        if unknown:
            raise ValueError(
                f"unknown notification types {unknown}; known: {sorted(NOTIFIABLE_TYPES)}"
            )
        return sorted(set(value))
