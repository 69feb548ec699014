"""Comments on proposals and action items: one table, one code path for both subjects."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from app.comments import queries
from app.comments.schemas import CommentCreate
from app.core.pagination import PageParams
from app.groups.access import GroupContext
from app.models.base import new_id, utcnow

SubjectType = Literal["proposal", "action_item"]


async def list_comments(
    *, ctx: GroupContext, subject_type: SubjectType, subject_id: uuid.UUID, page: PageParams
) -> tuple[list[dict[str, Any]], str | None]:
    """Oldest first, so a discussion reads top to bottom."""
    return await queries.page_of(ctx.tx.conn, subject_type, subject_id, page)


async def add_comment(
    *,
    ctx: GroupContext,
    subject_type: SubjectType,
    subject_id: uuid.UUID,
    data: CommentCreate,
) -> dict[str, Any]:
    """Add a comment and record `<subject>.commented` (subject = the commented object, so
    subscribers of `proposal.*` or `action_item.*` hear about the discussion too)."""
    comment = {
        "id": new_id(),
        "subject_type": subject_type,
        "subject_id": subject_id,
        "author_id": ctx.user.id,
        "body": data.body,
        "created_at": utcnow(),
    }
    await queries.insert_comment(ctx.tx.conn, {**comment, "group_id": ctx.group.id})
    await ctx.record(
        f"{subject_type}.commented",
        subject_type=subject_type,
        subject_id=subject_id,
        data={"comment": comment},
    )
    return comment


async def delete_comments(
    *, conn: AsyncConnection, subject_type: SubjectType, subject_id: uuid.UUID
) -> None:
    """Remove a deleted subject's comments (the table has no foreign key to either kind)."""
    await queries.delete_all(conn, subject_type, subject_id)
