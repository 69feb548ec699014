"""The inbox's SQL on the hot reads (the list and the unread count): Core statements."""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.pagination import Keyset, PageParams
from app.models import Notification
from app.models.base import table_of
from app.notifications.schemas import NotificationRead

notifications = table_of(Notification)
READ_FIELDS = tuple(name for name in NotificationRead.model_fields)
READ_COLUMNS = [notifications.c[name] for name in READ_FIELDS]
NEWEST_FIRST = Keyset([notifications.c.created_at, notifications.c.id], descending=True)


@cache
def _page(unread: bool | None, with_cursor: bool) -> Select[Any]:
    stmt = select(*READ_COLUMNS).where(notifications.c.user_id == bindparam("user_id"))
    if unread is True:
        stmt = stmt.where(notifications.c.read_at.is_(None))
    elif unread is False:
        stmt = stmt.where(notifications.c.read_at.is_not(None))
    return NEWEST_FIRST.page(stmt, with_cursor=with_cursor)


async def inbox_page(
    conn: AsyncConnection, user_id: uuid.UUID, unread: bool | None, page: PageParams
) -> tuple[list[dict[str, Any]], str | None]:
    """The user's notifications, newest first, as NotificationRead dicts."""
    stmt = _page(unread, bool(page.cursor))
    rows, cursor = await NEWEST_FIRST.fetch(conn, stmt, {"user_id": user_id}, page)
    items = []
    for row in rows:
        item = dict(zip(READ_FIELDS, row, strict=True))
        item["read"] = item["read_at"] is not None
        items.append(item)
    return items, cursor


_UNREAD = select(func.count()).where(
    notifications.c.user_id == bindparam("user_id"), notifications.c.read_at.is_(None)
)


async def unread_count(conn: AsyncConnection, user_id: uuid.UUID) -> int:
    return int((await conn.execute(_UNREAD, {"user_id": user_id})).scalar_one())
