from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.core.db import SessionDep
from app.core.deps import IfMatch, check_if_match, set_etag
from app.core.pagination import Page, PageParams, page_params
from app.models import OrganizationKind
from app.organizations import service
from app.organizations.schemas import (
    GeoJSONFeatureCollection,
    OffersNeeds,
    OrganizationCreate,
    OrganizationRead,
    OrganizationUpdate,
)
from app.users.deps import CurrentUser

router = APIRouter(tags=["organizations"])

Country = Annotated[str | None, Query(min_length=2, max_length=2, description="ISO 3166-1 alpha-2")]
Kind = Annotated[OrganizationKind | None, Query()]
Search = Annotated[
    str | None, Query(max_length=200, description="Name contains (case-insensitive)")
]


@router.post("/organizations", status_code=status.HTTP_201_CREATED, response_model=OrganizationRead)
async def create_organization(
    data: OrganizationCreate, user: CurrentUser, session: SessionDep, response: Response
) -> OrganizationRead:
    org = await service.create(session=session, data=data, actor=user)
    set_etag(response, org.version)
    return OrganizationRead.model_validate(org)


@router.get("/organizations", response_model=Page[OrganizationRead])
async def list_organizations(
    user: CurrentUser,
    session: SessionDep,
    page: Annotated[PageParams, Depends(page_params)],
    country: Country = None,
    kind: Kind = None,
    q: Search = None,
) -> Page[OrganizationRead]:
    rows, cursor = await service.list_organizations(
        session=session, params=page, country=country, kind=kind, q=q
    )
    return Page(items=[OrganizationRead.model_validate(o) for o in rows], next_cursor=cursor)


@router.get(
    "/organizations.geojson",
    response_model=GeoJSONFeatureCollection,
    responses={200: {"content": {"application/geo+json": {}}}},
)
async def organizations_geojson(
    user: CurrentUser,
    session: SessionDep,
    country: Country = None,
    kind: Kind = None,
    q: Search = None,
) -> Response:
    """RFC 7946 FeatureCollection of the organizations that have coordinates (for maps)."""
    collection = await service.geojson(session=session, country=country, kind=kind, q=q)
    return Response(collection.model_dump_json(), media_type="application/geo+json")


@router.get("/organizations/{org_id}", response_model=OrganizationRead)
async def get_organization(
    org_id: uuid.UUID, user: CurrentUser, session: SessionDep, response: Response
) -> OrganizationRead:
    org = await service.get(session=session, org_id=org_id)
    set_etag(response, org.version)
    return OrganizationRead.model_validate(org)


@router.patch("/organizations/{org_id}", response_model=OrganizationRead)
async def update_organization(
    org_id: uuid.UUID,
    data: OrganizationUpdate,
    user: CurrentUser,
    session: SessionDep,
    if_match: IfMatch,
    response: Response,
) -> OrganizationRead:
    org = await service.get(session=session, org_id=org_id)
    check_if_match(if_match, org.version)
    org = await service.update(session=session, org=org, data=data, actor=user)
    set_etag(response, org.version)
    return OrganizationRead.model_validate(org)


@router.put("/organizations/{org_id}/offers-needs", response_model=OrganizationRead)
async def set_offers_needs(
    org_id: uuid.UUID,
    data: OffersNeeds,
    user: CurrentUser,
    session: SessionDep,
    if_match: IfMatch,
    response: Response,
) -> OrganizationRead:
    """Replace the organization's `offers` and `needs` (terms of `GET /taxonomy/technologies`;
    an unknown one is a 422 naming it). Its members — users whose membership in a group names
    it — may, besides whoever registered it and admins (PATCH stays theirs alone)."""
    org = await service.get(session=session, org_id=org_id)
    check_if_match(if_match, org.version)
    org = await service.set_offers_needs(session=session, org=org, data=data, actor=user)
    set_etag(response, org.version)
    return OrganizationRead.model_validate(org)
