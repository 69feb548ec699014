from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import EmailStr, Field, StringConstraints

from app.core.schemas import InputModel, OutputModel

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


class ApiKeyCreate(InputModel):
    name: str = Field(min_length=1, max_length=200)


class ApiKeyRead(OutputModel):
    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="The key itself; shown only in this response")
