"""Matching's SQL: organizations as the matcher reads them, and introductions (Core)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, func, insert, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.pagination import Keyset, PageParams
from app.matching.scoring import Org
from app.models import ActionItem, Introduction, Membership, Organization, Proposal
from app.models.base import table_of

orgs = table_of(Organization)
memberships = table_of(Membership)
proposals = table_of(Proposal)
items = table_of(ActionItem)
intros = table_of(Introduction)

_ORG_COLUMNS = (orgs.c.id, orgs.c.name, orgs.c.kind, orgs.c.country, orgs.c.offers, orgs.c.needs)
_OF_GROUP = (
    select(memberships.c.organization_id)
    .where(memberships.c.group_id == bindparam("group_id"))
    .scalar_subquery()
)
# The organizations that members of the group represent (a membership names them).
_MEMBER_ORGS = select(*_ORG_COLUMNS).where(orgs.c.id.in_(_OF_GROUP))
# The whole registry: any organization may offer (the matcher drops those that offer nothing;
# a JSON emptiness test would differ between PostgreSQL and SQLite).
_REGISTRY = select(*_ORG_COLUMNS)
_MEMBER_ORG = _MEMBER_ORGS.where(orgs.c.id == bindparam("org_id"))
_ORG = _REGISTRY.where(orgs.c.id == bindparam("org_id"))
# Organizations engaged in a focus area: named by a proposal of the group in that area.
_ENGAGED = (
    select(proposals.c.organization_id)
    .where(
        proposals.c.group_id == bindparam("group_id"),
        proposals.c.focus_area_id == bindparam("focus_area_id"),
        proposals.c.organization_id.is_not(None),
    )
    .distinct()
)


def _org(values: Iterable[Any]) -> Org:
    id, name, kind, country, offers, needs = values
    return Org(id, name, str(kind), country, tuple(offers or ()), tuple(needs or ()))


async def member_organizations(conn: AsyncConnection, group_id: uuid.UUID) -> list[Org]:
    return [_org(r) for r in await conn.execute(_MEMBER_ORGS, {"group_id": group_id})]


async def registry_organizations(conn: AsyncConnection) -> list[Org]:
    return [_org(r) for r in await conn.execute(_REGISTRY)]


async def member_organization(
    conn: AsyncConnection, group_id: uuid.UUID, org_id: uuid.UUID
) -> Org | None:
    row = (await conn.execute(_MEMBER_ORG, {"group_id": group_id, "org_id": org_id})).first()
    return None if row is None else _org(row)


async def organization(conn: AsyncConnection, org_id: uuid.UUID) -> Org | None:
    row = (await conn.execute(_ORG, {"org_id": org_id})).first()
    return None if row is None else _org(row)


async def engaged_organizations(
    conn: AsyncConnection, group_id: uuid.UUID, focus_area_id: uuid.UUID
) -> set[uuid.UUID]:
    params = {"group_id": group_id, "focus_area_id": focus_area_id}
    return set((await conn.execute(_ENGAGED, params)).scalars())


# --- introductions ----------------------------------------------------------------------------

INTRO_FIELDS = (
    "id",
    "group_id",
    "need_organization_id",
    "offer_organization_id",
    "terms",
    "note",
    "action_item_id",
    "created_by",
    "created_at",
)
INSERT_INTRO = (
    insert(intros)
    .values({name: bindparam(f"n_{name}") for name in INTRO_FIELDS})
    .returning(intros.c.id)
)

NEWEST_FIRST = Keyset([intros.c.created_at, intros.c.id], descending=True)
_need, _offer = orgs.alias("need_org"), orgs.alias("offer_org")
_BRIEF = ("id", "name", "kind", "country")
_LIST_COLUMNS = [
    intros.c.id,
    intros.c.group_id,
    *(_need.c[n].label(f"need_{n}") for n in _BRIEF),
    *(_offer.c[n].label(f"offer_{n}") for n in _BRIEF),
    intros.c.terms,
    intros.c.note,
    intros.c.action_item_id,
    items.c.status.label("action_item_status"),
    intros.c.created_by,
    intros.c.created_at,
]
_WITH_NAMES = (
    intros.join(_need, _need.c.id == intros.c.need_organization_id)
    .join(_offer, _offer.c.id == intros.c.offer_organization_id)
    .outerjoin(items, items.c.id == intros.c.action_item_id)
)


@cache
def _list_statement(with_cursor: bool) -> Select[Any]:
    stmt = (
        select(*_LIST_COLUMNS)
        .select_from(_WITH_NAMES)
        .where(intros.c.group_id == bindparam("group_id"))
    )
    return NEWEST_FIRST.page(stmt, with_cursor=with_cursor)


def _intro_json(row: Row[Any]) -> dict[str, Any]:
    m = row._mapping
    out: dict[str, Any] = {"id": m["id"], "group_id": m["group_id"]}
    for side in ("need", "offer"):
        out[f"{side}_organization"] = {n: m[f"{side}_{n}"] for n in _BRIEF}
    for name in ("terms", "note", "action_item_id", "action_item_status"):
        out[name] = m[name]
    out["created_by"], out["created_at"] = m["created_by"], m["created_at"]
    return out


async def list_introductions(
    conn: AsyncConnection, group_id: uuid.UUID, page: PageParams
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the group's introductions, newest first, each with its item's status."""
    stmt = _list_statement(bool(page.cursor))
    rows, cursor = await NEWEST_FIRST.fetch(conn, stmt, {"group_id": group_id}, page)
    return [_intro_json(r) for r in rows], cursor


_STATS = (
    select(items.c.status, func.count())
    .select_from(intros.outerjoin(items, items.c.id == intros.c.action_item_id))
    .where(intros.c.group_id == bindparam("group_id"))
    .group_by(items.c.status)
)


async def introduction_counts(conn: AsyncConnection, group_id: uuid.UUID) -> dict[Any, int]:
    """Introductions by their item's status (None: the item was deleted)."""
    return {status: n for status, n in await conn.execute(_STATS, {"group_id": group_id})}
