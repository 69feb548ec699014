"""Comments' SQL: Core statements, built once."""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.comments.schemas import CommentRead
from app.core.pagination import Keyset, PageParams
from app.models import Comment
from app.models.base import table_of

comments = table_of(Comment)
READ_COLUMNS = [comments.c[name] for name in CommentRead.model_fields]
OLDEST_FIRST = Keyset([comments.c.created_at, comments.c.id])


@cache
def _page(with_cursor: bool) -> Select[Any]:
    stmt = select(*READ_COLUMNS).where(
        comments.c.subject_type == bindparam("subject_type"),
        comments.c.subject_id == bindparam("subject_id"),
    )
    return OLDEST_FIRST.page(stmt, with_cursor=with_cursor)


async def page_of(
    conn: AsyncConnection, subject_type: str, subject_id: uuid.UUID, page: PageParams
) -> tuple[list[dict[str, Any]], str | None]:
    params = {"subject_type": subject_type, "subject_id": subject_id}
    rows, cursor = await OLDEST_FIRST.fetch(conn, _page(bool(page.cursor)), params, page)
    return [dict(row._mapping) for row in rows], cursor


_INSERT = insert(comments).values(
    {name: bindparam(name) for name in ("group_id", *CommentRead.model_fields)}
)


async def insert_comment(conn: AsyncConnection, comment: dict[str, Any]) -> None:
    await conn.execute(_INSERT, comment)


_DELETE = delete(comments).where(
    comments.c.subject_type == bindparam("subject_type"),
    comments.c.subject_id == bindparam("subject_id"),
)


async def delete_all(conn: AsyncConnection, subject_type: str, subject_id: uuid.UUID) -> None:
    await conn.execute(_DELETE, {"subject_type": subject_type, "subject_id": subject_id})
