"""Consultations' SQL: Core statements for the list pages, the summary and the checks of a
submission, built once and reused."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app.consultations.schemas import QuestionnaireRead, ResponseRead
from app.core.pagination import Keyset, PageParams
from app.models import (
    FocusArea,
    Membership,
    Organization,
    Questionnaire,
    QuestionnaireResponse,
)
from app.models.base import table_of

questionnaires = table_of(Questionnaire)
responses = table_of(QuestionnaireResponse)
memberships = table_of(Membership)
organizations = table_of(Organization)
focus_areas = table_of(FocusArea)

_COUNT = (
    select(func.count())
    .where(responses.c.questionnaire_id == questionnaires.c.id)
    .correlate(questionnaires)
    .scalar_subquery()
)
QUESTIONNAIRE_FIELDS = tuple(QuestionnaireRead.model_fields)
_QUESTIONNAIRE_COLUMNS = [
    _COUNT.label(name) if name == "response_count" else questionnaires.c[name]
    for name in QUESTIONNAIRE_FIELDS
]
NEWEST_FIRST = Keyset([questionnaires.c.created_at, questionnaires.c.id], descending=True)

RESPONSE_FIELDS = tuple(ResponseRead.model_fields)
RESPONSE_COLUMNS = [responses.c[name] for name in RESPONSE_FIELDS]
RESPONSES_OLDEST_FIRST = Keyset([responses.c.created_at, responses.c.id])


@cache
def _questionnaire_page(with_status: bool, with_cursor: bool) -> Select[Any]:
    stmt = select(*_QUESTIONNAIRE_COLUMNS).where(questionnaires.c.group_id == bindparam("group_id"))
    if with_status:
        stmt = stmt.where(questionnaires.c.status == bindparam("status"))
    return NEWEST_FIRST.page(stmt, with_cursor=with_cursor)


async def questionnaires_page(
    conn: AsyncConnection, *, group_id: uuid.UUID, status: str | None, page: PageParams
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the group's questionnaires, newest first, as QuestionnaireRead dicts."""
    params: dict[str, Any] = {"group_id": group_id}
    if status is not None:
        params["status"] = status
    stmt = _questionnaire_page(status is not None, bool(page.cursor))
    rows, cursor = await NEWEST_FIRST.fetch(conn, stmt, params, page)
    return [dict(zip(QUESTIONNAIRE_FIELDS, row, strict=True)) for row in rows], cursor


_RESPONSE_COUNT = select(func.count()).where(
    responses.c.questionnaire_id == bindparam("questionnaire_id")
)


async def response_count(conn: AsyncConnection, questionnaire_id: uuid.UUID) -> int:
    found = await conn.execute(_RESPONSE_COUNT, {"questionnaire_id": questionnaire_id})
    return int(found.scalar_one())


@cache
def _responses_page(with_cursor: bool) -> Select[Any]:
    # The group's index (group_id, created_at, id) serves the order.
    stmt = select(*RESPONSE_COLUMNS).where(
        responses.c.group_id == bindparam("group_id"),
        responses.c.questionnaire_id == bindparam("questionnaire_id"),
    )
    return RESPONSES_OLDEST_FIRST.page(stmt, with_cursor=with_cursor)


async def responses_page(
    conn: AsyncConnection, *, group_id: uuid.UUID, questionnaire_id: uuid.UUID, page: PageParams
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of a questionnaire's responses, oldest first, as ResponseRead dicts."""
    params = {"group_id": group_id, "questionnaire_id": questionnaire_id}
    rows, cursor = await RESPONSES_OLDEST_FIRST.fetch(
        conn, _responses_page(bool(page.cursor)), params, page
    )
    return [dict(zip(RESPONSE_FIELDS, row, strict=True)) for row in rows], cursor


_RESPONDENTS = (
    select(
        *RESPONSE_COLUMNS,
        organizations.c.name.label("organization_name"),
        organizations.c.country,
    )
    .join(organizations, organizations.c.id == responses.c.organization_id)
    .where(responses.c.questionnaire_id == bindparam("questionnaire_id"))
    .order_by(responses.c.created_at, responses.c.id)
)


async def responses_with_organizations(
    conn: AsyncConnection, questionnaire_id: uuid.UUID, *, country: str | None = None
) -> list[Row[Any]]:
    """Every response (ResponseRead's columns, `organization_name`, `country`), oldest first;
    only those of organizations in `country` when given."""
    stmt = _RESPONDENTS
    if country is not None:
        stmt = stmt.where(organizations.c.country == country)
    return list(await conn.execute(stmt, {"questionnaire_id": questionnaire_id}))


# Member organizations: the distinct organizations named by the group's memberships.
_MEMBER_ORGANIZATIONS = (
    select(organizations.c.id, organizations.c.country)
    .where(
        organizations.c.id.in_(
            select(memberships.c.organization_id).where(
                memberships.c.group_id == bindparam("group_id")
            )
        )
    )
    .order_by(organizations.c.country, organizations.c.id)
)


async def member_organizations(
    conn: AsyncConnection, group_id: uuid.UUID, *, country: str | None = None
) -> list[Row[Any]]:
    """(id, country) of the group's member organizations (of `country` when given)."""
    stmt = _MEMBER_ORGANIZATIONS
    if country is not None:
        stmt = stmt.where(organizations.c.country == country)
    return list(await conn.execute(stmt, {"group_id": group_id}))


_IS_MEMBER_ORGANIZATION = select(
    select(memberships.c.id)
    .where(
        memberships.c.group_id == bindparam("group_id"),
        memberships.c.organization_id == bindparam("organization_id"),
    )
    .exists()
)


async def is_member_organization(
    conn: AsyncConnection, group_id: uuid.UUID, organization_id: uuid.UUID
) -> bool:
    params = {"group_id": group_id, "organization_id": organization_id}
    return bool((await conn.execute(_IS_MEMBER_ORGANIZATION, params)).scalar_one())


_OWN_ORGANIZATION = select(memberships.c.organization_id).where(
    memberships.c.group_id == bindparam("group_id"),
    memberships.c.user_id == bindparam("user_id"),
)


async def own_organization(
    conn: AsyncConnection, group_id: uuid.UUID, user_id: uuid.UUID
) -> uuid.UUID | None:
    """The organization the user's membership of the group names (None: none, or no
    membership)."""
    params = {"group_id": group_id, "user_id": user_id}
    found: uuid.UUID | None = (await conn.execute(_OWN_ORGANIZATION, params)).scalar()
    return found


_GROUP_AREAS = select(focus_areas.c.id).where(
    focus_areas.c.group_id == bindparam("group_id"),
    focus_areas.c.id.in_(bindparam("ids", expanding=True)),
)


async def areas_of_group(
    conn: AsyncConnection, group_id: uuid.UUID, ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    """Those of `ids` that are focus areas of the group."""
    wanted = list(set(ids))
    if not wanted:
        return set()
    rows = await conn.execute(_GROUP_AREAS, {"group_id": group_id, "ids": wanted})
    return set(rows.scalars())
