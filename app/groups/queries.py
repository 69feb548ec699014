"""Groups' and members' SQL on the hot reads: Core statements, built once."""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.pagination import Keyset, PageParams
from app.groups.schemas import GroupRead, MemberRead
from app.models import Group, Membership, Role, User, Visibility
from app.models.base import table_of

groups = table_of(Group)
memberships = table_of(Membership)
users = table_of(User)

# GroupRead's columns (all but `my_role`, which is the caller's).
GROUP_READ_COLUMNS = [groups.c[name] for name in GroupRead.model_fields if name != "my_role"]
MEMBER_COLUMNS = [
    memberships.c.user_id,
    users.c.name,
    memberships.c.role,
    memberships.c.organization_id,
    memberships.c.created_at,
    memberships.c.updated_at,
]
MEMBER_FIELDS = tuple(MemberRead.model_fields)
assert tuple(c.key for c in MEMBER_COLUMNS) == MEMBER_FIELDS
GROUPS_ORDER = Keyset([groups.c.created_at, groups.c.id])
MEMBERS_ORDER = Keyset([memberships.c.created_at, memberships.c.id])


@cache
def _groups_page(admin: bool, include_archived: bool, with_cursor: bool) -> Select[Any]:
    """The groups a user can see, each with the user's role in it (NULL: none)."""
    mine = memberships.c.user_id == bindparam("user_id")
    stmt = select(*GROUP_READ_COLUMNS, memberships.c.role.label("my_role")).select_from(
        groups.outerjoin(memberships, (memberships.c.group_id == groups.c.id) & mine)
    )
    if not admin:
        stmt = stmt.where(
            or_(groups.c.visibility == Visibility.public, memberships.c.user_id.is_not(None))
        )
    if not include_archived:
        stmt = stmt.where(groups.c.archived_at.is_(None))
    return GROUPS_ORDER.page(stmt, with_cursor=with_cursor)


async def groups_page(
    conn: AsyncConnection,
    *,
    user_id: uuid.UUID,
    admin: bool,
    include_archived: bool,
    page: PageParams,
) -> tuple[list[dict[str, Any]], str | None]:
    stmt = _groups_page(admin, include_archived, bool(page.cursor))
    rows, cursor = await GROUPS_ORDER.fetch(conn, stmt, {"user_id": user_id}, page)
    items = [dict(row._mapping) for row in rows]
    if admin:
        for item in items:  # admins act as owners where they hold no role of their own
            item["my_role"] = item["my_role"] or Role.owner
    return items, cursor


@cache
def _members_page(with_cursor: bool) -> Select[Any]:
    stmt = (
        select(*MEMBER_COLUMNS, memberships.c.id)
        .select_from(memberships.join(users, users.c.id == memberships.c.user_id))
        .where(memberships.c.group_id == bindparam("group_id"))
    )
    return MEMBERS_ORDER.page(stmt, with_cursor=with_cursor)


async def members_page(
    conn: AsyncConnection, group_id: uuid.UUID, page: PageParams
) -> tuple[list[dict[str, Any]], str | None]:
    stmt = _members_page(bool(page.cursor))
    rows, cursor = await MEMBERS_ORDER.fetch(conn, stmt, {"group_id": group_id}, page)
    return [dict(zip(MEMBER_FIELDS, row, strict=False)) for row in rows], cursor


_MEMBER = (
    select(*MEMBER_COLUMNS, memberships.c.version)
    .select_from(memberships.join(users, users.c.id == memberships.c.user_id))
    .where(
        memberships.c.group_id == bindparam("group_id"),
        memberships.c.user_id == bindparam("user_id"),
    )
)


async def member(
    conn: AsyncConnection, group_id: uuid.UUID, user_id: uuid.UUID
) -> tuple[dict[str, Any], int] | None:
    """One member as MemberRead's fields, and the membership's version."""
    row = (await conn.execute(_MEMBER, {"group_id": group_id, "user_id": user_id})).first()
    if row is None:
        return None
    values = dict(row._mapping)
    return values, values.pop("version")


_ROLE_OF = select(memberships.c.role).where(
    memberships.c.group_id == bindparam("group_id"),
    memberships.c.user_id == bindparam("user_id"),
)


async def member_role(
    conn: AsyncConnection, group_id: uuid.UUID, user_id: uuid.UUID
) -> Role | None:
    """The user's role in the group; None when not a member."""
    role: Role | None = (
        await conn.execute(_ROLE_OF, {"group_id": group_id, "user_id": user_id})
    ).scalar_one_or_none()
    return role
