from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary
from sqlmodel import Field, SQLModel

from app.models.base import JSONType, created_at_field


class IdempotencyRecord(SQLModel, table=True):
    """The first response to a POST carrying `Idempotency-Key`, replayed for retries.

    `status_code` is NULL while the first request is still running, which is how a concurrent
    duplicate is told apart from a finished one.
    """

    __tablename__ = "idempotency_records"

    scope: str = Field(primary_key=True, max_length=64)
    key: str = Field(primary_key=True, max_length=255)
    fingerprint: str = Field(max_length=64)
    status_code: int | None = None
    headers: list[list[str]] = Field(default_factory=list, sa_type=JSONType)
    body: bytes | None = Field(default=None, sa_type=LargeBinary)
    created_at: datetime = created_at_field()
