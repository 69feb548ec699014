from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import EmailStr, Field, model_validator

from app.core.schemas import InputModel, OutputModel, PatchModel
from app.models import Role, Visibility


class GroupCreate(InputModel):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    visibility: Visibility = Visibility.private


class GroupUpdate(PatchModel):
    not_null = ("name", "visibility")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    visibility: Visibility | None = None


class GroupRead(OutputModel):
    id: uuid.UUID
    name: str
    description: str | None
    visibility: Visibility
    archived_at: datetime | None
    created_at: datetime
    updated_at: datetime
    last_seq: int = Field(description="seq of the group's latest event")
    my_role: Role | None = Field(default=None, description="the caller's role; null if none")


class MemberCreate(InputModel):
    user_id: uuid.UUID | None = None
    email: EmailStr | None = None
    role: Role = Role.member
    organization_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _one_identity(self) -> MemberCreate:
        if (self.user_id is None) == (self.email is None):
            raise ValueError("give exactly one of user_id or email")
        return self


class MemberUpdate(PatchModel):
    not_null = ("role",)

    role: Role | None = None
    organization_id: uuid.UUID | None = None


class MemberRead(OutputModel):
    user_id: uuid.UUID
    name: str
    role: Role
    organization_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class FocusAreaCreate(InputModel):
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    position: int | None = Field(default=None, ge=1, le=10_000)


class FocusAreaUpdate(PatchModel):
    not_null = ("title",)

    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    position: int | None = Field(default=None, ge=1, le=10_000)


class FocusAreaRead(OutputModel):
    id: uuid.UUID
    group_id: uuid.UUID
    title: str
    description: str | None
    position: int
    created_at: datetime
    updated_at: datetime
