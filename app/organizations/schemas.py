from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import pycountry
from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from app.core.schemas import InputModel, OutputModel, PatchModel
from app.matching.taxonomy import TermList
from app.models import OrganizationKind


def _country(code: str) -> str:
    code = code.upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code, e.g. AR, CO, CR, CU, MX")
    return code


def _sectors(sectors: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for s in sectors:
        s = s.strip()
        if not s or len(s) > 100:
            raise ValueError("each sector is 1 to 100 characters")
        seen.setdefault(s, None)
    return list(seen)


# Validated as a URL, then kept as text: a pydantic URL object is no column value.
Website = Annotated[AnyHttpUrl, AfterValidator(str), PlainSerializer(str, return_type=str)]
Latitude = Field(default=None, ge=-90, le=90)
Longitude = Field(default=None, ge=-180, le=180)


class _Coordinates(BaseModel):
    latitude: float | None = None
    longitude: float | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> Any:
        fields = self.model_fields_set
        if ("latitude" in fields) != ("longitude" in fields):
            raise ValueError("give latitude and longitude together")
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("latitude and longitude are both set or both null")
        return self


class OrganizationCreate(InputModel, _Coordinates):
    name: str = Field(min_length=1, max_length=200)
    kind: OrganizationKind
    country: str
    city: str | None = Field(default=None, max_length=120)
    latitude: float | None = Latitude
    longitude: float | None = Longitude
    sectors: list[str] = Field(default_factory=list, max_length=50)
    website: Website | None = None
    offers: TermList = Field(
        default_factory=list, max_length=40, description="Technology terms it supplies"
    )
    needs: TermList = Field(
        default_factory=list, max_length=40, description="Technology terms it looks for"
    )

    _check_country = field_validator("country")(_country)
    _check_sectors = field_validator("sectors")(_sectors)


class OrganizationUpdate(PatchModel, _Coordinates):
    not_null = ("name", "kind", "country", "sectors")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    kind: OrganizationKind | None = None
    country: str | None = None
    city: str | None = Field(default=None, max_length=120)
    latitude: float | None = Latitude
    longitude: float | None = Longitude
    sectors: list[str] | None = Field(default=None, max_length=50)
    website: Website | None = None

    @field_validator("country")
    @classmethod
    def _check_country(cls, v: str | None) -> str | None:
        return None if v is None else _country(v)

    @field_validator("sectors")
    @classmethod
    def _check_sectors(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else _sectors(v)


class OffersNeeds(InputModel):
    """`PUT /organizations/{id}/offers-needs`: both lists, replacing the current ones."""

    offers: TermList = Field(max_length=40, description="Technology terms it supplies")
    needs: TermList = Field(max_length=40, description="Technology terms it looks for")


class OrganizationRead(OutputModel):
    id: uuid.UUID
    name: str
    kind: OrganizationKind
    country: str
    city: str | None
    latitude: float | None
    longitude: float | None
    sectors: list[str]
    website: str | None
    offers: list[str] = Field(description="Technology terms (GET /taxonomy/technologies)")
    needs: list[str] = Field(description="Technology terms (GET /taxonomy/technologies)")
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class GeoJSONPoint(BaseModel):
    type: Literal["Point"] = "Point"
    coordinates: tuple[float, float] = Field(description="[longitude, latitude] (RFC 7946)")


class GeoJSONFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: uuid.UUID
    geometry: GeoJSONPoint
    properties: dict[str, Any]


class GeoJSONFeatureCollection(BaseModel):
    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[GeoJSONFeature]
