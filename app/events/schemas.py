from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.core.schemas import OutputModel


class EventSubject(BaseModel):
    type: str
    id: uuid.UUID


class EventRead(OutputModel):
    """The event envelope of API.md, shared by the events API, websockets and webhooks."""

    id: uuid.UUID
    seq: int
    type: str
    group_id: uuid.UUID
    occurred_at: datetime
    actor_id: uuid.UUID | None
    subject: EventSubject
    data: dict[str, Any]


class EventTypeRead(OutputModel):
    """An event type: what it means and an example (its schema is in `/asyncapi.json`)."""

    type: str = Field(description="`<subject>.<verb>`, e.g. `meeting.started`")
    description: str
    in_history: bool = Field(
        description="whether it is recorded in the group's history (websocket and events "
        "API); false: sent to webhooks only"
    )
    example: dict[str, Any] = Field(
        description="an event envelope of this type (for `webhook.test`, the webhook body's `data`)"
    )
