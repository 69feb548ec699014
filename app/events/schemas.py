from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel

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
