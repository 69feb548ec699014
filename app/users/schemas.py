from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, EmailStr, Field, StringConstraints, field_validator

from app.core.schemas import InputModel, OutputModel, UTCInstant
from app.models.base import utcnow

Locale = Literal["en", "es"]


# A password is taken exactly as typed: spaces around it are part of it (input models strip
# other text), so registration and sign-in hash the same string.
Password = Annotated[str, StringConstraints(strip_whitespace=False, min_length=8, max_length=256)]


class UserCreate(InputModel):
    email: EmailStr
    password: Password
    name: str = Field(min_length=1, max_length=200)
    locale: Locale = "en"


class UserUpdate(InputModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    locale: Locale | None = None


class UserRead(OutputModel):
    id: uuid.UUID
    email: str
    name: str
    locale: str
    is_admin: bool
    created_at: datetime


class UserBrief(OutputModel):
    id: uuid.UUID
    name: str


class TokenRead(OutputModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


Scope = Literal["read", "write"]


def _in_the_future(value: datetime | None) -> datetime | None:
    if value is not None and value <= utcnow():
        raise ValueError("must be in the future")
    return value


class ApiKeyCreate(InputModel):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[Scope] = Field(
        default=["read", "write"],
        min_length=1,
        max_length=2,
        description="`read` alone makes a read-only key (403 on every write); "
        "`write` includes `read`",
    )
    expires_at: Annotated[UTCInstant | None, AfterValidator(_in_the_future)] = Field(
        default=None, description="After this the key stops working (401)"
    )

    @field_validator("scopes")
    @classmethod
    def _write_includes_read(cls, value: list[Scope]) -> list[Scope]:
        return ["read", "write"] if "write" in value else ["read"]


class ApiKeyRead(OutputModel):
    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[Scope]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The key itself; shown only in this response")


class PasswordChange(InputModel):
    current_password: Password
    new_password: Password


class PasswordResetRequest(InputModel):
    email: EmailStr


class ResetRequested(OutputModel):
    detail: str = "If an account has this email, a reset token is on its way to it"


class PasswordResetConfirm(InputModel):
    token: str = Field(min_length=1, max_length=200)
    new_password: Password


class WsTicketRead(OutputModel):
    ticket: str = Field(description="Single use: `WS /api/v1/ws?ticket=…`")
    expires_in: int = Field(description="Seconds the ticket stays valid if unused")


class CalendarTokenRead(OutputModel):
    token: str = Field(
        description="Reads your calendar feeds and nothing else: `…/calendar.ics?token=…`; "
        "shown once, replaced by the next one"
    )
