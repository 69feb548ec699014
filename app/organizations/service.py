"""The registry of member organizations (cluster initiatives, agencies, companies …).

Organizations are shared by all groups, so they have no group event stream; memberships that
point at them do.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.changes import apply_changes
from app.core.errors import Forbidden, NotFound
from app.core.pagination import PageParams, paginate
from app.models import Membership, Organization, OrganizationKind
from app.organizations.schemas import (
    GeoJSONFeature,
    GeoJSONFeatureCollection,
    GeoJSONPoint,
    OffersNeeds,
    OrganizationCreate,
    OrganizationRead,
    OrganizationUpdate,
)
from app.users.principal import Principal

GEOJSON_MAX_FEATURES = 10_000


async def create(
    *, session: AsyncSession, data: OrganizationCreate, actor: Principal
) -> Organization:
    values = data.model_dump(mode="json")
    org = Organization(**values, created_by=actor.id)
    session.add(org)
    await session.flush()
    return org


def _filtered(
    country: str | None, kind: OrganizationKind | None, q: str | None
) -> Select[Organization]:
    stmt = select(Organization)
    if country:
        stmt = stmt.where(col(Organization.country) == country.upper())
    if kind:
        stmt = stmt.where(col(Organization.kind) == kind)
    if q:
        pattern = (
            "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        stmt = stmt.where(func.lower(col(Organization.name)).like(pattern, escape="\\"))
    return stmt


async def list_organizations(
    *,
    session: AsyncSession,
    params: PageParams,
    country: str | None,
    kind: OrganizationKind | None,
    q: str | None,
) -> tuple[list[Organization], str | None]:
    stmt = _filtered(country, kind, q)
    return await paginate(
        session, stmt, params, (col(Organization.created_at), col(Organization.id))
    )


async def get(*, session: AsyncSession, org_id: uuid.UUID) -> Organization:
    org = await session.get(Organization, org_id)
    if org is None:
        raise NotFound("Organization not found")
    return org


async def update(
    *, session: AsyncSession, org: Organization, data: OrganizationUpdate, actor: Principal
) -> Organization:
    if not (actor.is_admin or org.created_by == actor.id):
        raise Forbidden("Only whoever registered the organization (or an admin) may edit it")
    apply_changes(org, data)
    await session.flush()
    return org


async def _speaks_for(session: AsyncSession, org: Organization, actor: Principal) -> bool:
    """Admins, whoever registered it, and its members: users whose membership in some group
    names the organization (they represent it there)."""
    if actor.is_admin or org.created_by == actor.id:
        return True
    member = exists().where(
        col(Membership.user_id) == actor.id, col(Membership.organization_id) == org.id
    )
    return bool(await session.scalar(select(member)))


async def set_offers_needs(
    *, session: AsyncSession, org: Organization, data: OffersNeeds, actor: Principal
) -> Organization:
    """Replace what the organization offers and needs (the terms are validated already)."""
    if not await _speaks_for(session, org, actor):
        raise Forbidden(
            "Only the organization's members, whoever registered it, or an admin may declare "
            "its offers and needs"
        )
    apply_changes(org, data)
    await session.flush()
    return org


async def geojson(
    *, session: AsyncSession, country: str | None, kind: OrganizationKind | None, q: str | None
) -> GeoJSONFeatureCollection:
    stmt = (
        _filtered(country, kind, q)
        .where(col(Organization.latitude).is_not(None))
        .order_by(col(Organization.name))
        .limit(GEOJSON_MAX_FEATURES)
    )
    features = []
    for org in (await session.execute(stmt)).scalars():
        assert org.latitude is not None and org.longitude is not None
        props = OrganizationRead.model_validate(org).model_dump(
            mode="json", exclude={"id", "latitude", "longitude"}
        )
        features.append(
            GeoJSONFeature(
                id=org.id,
                geometry=GeoJSONPoint(coordinates=(org.longitude, org.latitude)),
                properties=props,
            )
        )
    return GeoJSONFeatureCollection(features=features)
