from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlmodel import Field

from app.models.base import (
    JSONType,
    Versioned,
    created_at_field,
    enum_field,
    new_id,
    updated_at_field,
)


class OrganizationKind(enum.StrEnum):
    cluster = "cluster"
    agency = "agency"
    company = "company"
    university = "university"
    other = "other"


class Organization(Versioned, table=True):
    __tablename__ = "organizations"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    name: str = Field(max_length=200, index=True)
    kind: OrganizationKind = enum_field(OrganizationKind)
    country: str = Field(max_length=2, index=True)
    city: str | None = Field(default=None, max_length=120)
    latitude: float | None = None
    longitude: float | None = None
    sectors: list[str] = Field(default_factory=list, sa_type=JSONType)
    # Technology terms (app/matching/taxonomy.py) the organization supplies and looks for:
    # what matching pairs on. Kept as lists on the row, like sectors: they are read whole.
    offers: list[str] = Field(
        default_factory=list, sa_type=JSONType, sa_column_kwargs={"server_default": "[]"}
    )
    needs: list[str] = Field(
        default_factory=list, sa_type=JSONType, sa_column_kwargs={"server_default": "[]"}
    )
    website: str | None = Field(default=None, max_length=500)
    created_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
