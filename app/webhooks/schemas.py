from __future__ import annotations

import re
import uuid
from datetime import datetime

from pydantic import AnyHttpUrl, Field, StrictBool, field_validator

from app.core.schemas import InputModel, OutputModel
from app.models import DeliveryStatus

PATTERN = re.compile(r"^(\*|[a-z_]+\.\*|[a-z_]+\.[a-z_]+)$")


def _patterns(values: list[str]) -> list[str]:
    bad = [v for v in values if not PATTERN.match(v)]
    if bad:
        raise ValueError(f'event types are "*", "<subject>.*" or "<subject>.<verb>": {bad}')
    return sorted(set(values))


class WebhookCreate(InputModel):
    url: AnyHttpUrl
    event_types: list[str] = Field(min_length=1, max_length=50)
    description: str | None = Field(default=None, max_length=500)

    _check = field_validator("event_types")(_patterns)


class WebhookUpdate(InputModel):
    url: AnyHttpUrl | None = None
    event_types: list[str] | None = Field(default=None, min_length=1, max_length=50)
    description: str | None = Field(default=None, max_length=500)
    enabled: StrictBool | None = Field(
        default=None, description="true re-enables a disabled endpoint"
    )

    @field_validator("event_types")
    @classmethod
    def _check(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else _patterns(v)


class WebhookRead(OutputModel):
    id: uuid.UUID
    group_id: uuid.UUID
    url: str
    event_types: list[str]
    description: str | None
    enabled: bool
    disabled_at: datetime | None
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime
    updated_at: datetime


class WebhookWithSecret(WebhookRead):
    secret: str = Field(description="The signing secret (whsec_…); shown only in this response")


class AttemptRead(OutputModel):
    number: int
    attempted_at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None
    response_excerpt: str | None


class DeliveryRead(OutputModel):
    id: uuid.UUID = Field(description="also the `webhook-id` header of every attempt")
    event_id: uuid.UUID
    endpoint_id: uuid.UUID
    seq: int
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    created_at: datetime


class DeliveryDetail(DeliveryRead):
    attempt_log: list[AttemptRead]


class TestResult(OutputModel):
    success: bool
    status_code: int | None
    duration_ms: int
    error: str | None
    response_excerpt: str | None
