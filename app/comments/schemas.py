from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from app.core.schemas import InputModel, OutputModel


class CommentCreate(InputModel):
    body: str = Field(min_length=1, max_length=20_000, description="Markdown")


class CommentRead(OutputModel):
    id: uuid.UUID
    subject_type: str = Field(description="`proposal` or `action_item`")
    subject_id: uuid.UUID
    author_id: uuid.UUID | None
    body: str
    created_at: datetime
