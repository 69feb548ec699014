from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from app.models.base import JSONType, UTCDateTime, created_at_field, new_id


class Event(SQLModel, table=True):
    """The transactional outbox and the group's replayable history.

    Written in the same transaction as the change it describes; `published_at` is set by the
    relay once the event is on the Redis stream.
    """

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("group_id", "seq"),
        # The relay scans for unpublished rows; keep that scan cheap as history grows.
        Index("ix_events_unpublished", "published_at", "group_id", "seq"),
        # Events not yet dispatched, by group and seq: the dispatcher's sweep, and the webhook
        # claim's "no earlier event of the group still undispatched" check. Partial, so it
        # holds only the few rows in flight however long the history.
        Index(
            "ix_events_undispatched",
            "group_id",
            "seq",
            postgresql_where=text("dispatched_at IS NULL"),
            sqlite_where=text("dispatched_at IS NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    group_id: uuid.UUID = Field(foreign_key="groups.id", ondelete="CASCADE")
    seq: int
    type: str = Field(max_length=64, index=True)
    actor_id: uuid.UUID | None = Field(default=None)
    subject_type: str = Field(max_length=32)
    subject_id: uuid.UUID
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSONType)
    occurred_at: datetime = created_at_field()
    published_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Set by the worker's dispatcher once notifications and webhook deliveries exist for it.
    dispatched_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # W3C trace context of the request that wrote it, when tracing is on (app/core/tracing.py):
    # the worker continues that trace when it acts on the event.
    traceparent: str | None = Field(default=None, max_length=55)
