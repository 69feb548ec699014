"""Comments on proposals and action items: one table, one code path for both subjects."""

from __future__ import annotations

import uuid
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.comments.schemas import CommentCreate, CommentRead
from app.core.events import record_event
from app.core.pagination import PageParams, paginate
from app.groups.access import GroupContext
from app.models import Comment

SubjectType = Literal["proposal", "action_item"]


async def list_comments(
    *, session: AsyncSession, subject_type: SubjectType, subject_id: uuid.UUID, params: PageParams
) -> tuple[list[Comment], str | None]:
    """Oldest first, so a discussion reads top to bottom."""
    stmt = select(Comment).where(
        col(Comment.subject_type) == subject_type, col(Comment.subject_id) == subject_id
    )
    rows, cursor = await paginate(session, stmt, params, (col(Comment.created_at), col(Comment.id)))
    return rows, cursor


async def add_comment(
    *,
    session: AsyncSession,
    ctx: GroupContext,
    subject_type: SubjectType,
    subject_id: uuid.UUID,
    data: CommentCreate,
) -> Comment:
    """Add a comment and record `<subject>.commented` (subject = the commented object, so
    subscribers of `proposal.*` or `action_item.*` hear about the discussion too)."""
    comment = Comment(
        group_id=ctx.group.id,
        subject_type=subject_type,
        subject_id=subject_id,
        author_id=ctx.user.id,
        body=data.body,
    )
    session.add(comment)
    await session.flush()
    await record_event(
        session=session,
        group_id=ctx.group.id,
        type=f"{subject_type}.commented",
        actor_id=ctx.user.id,
        subject_type=subject_type,
        subject_id=subject_id,
        data={"comment": CommentRead.model_validate(comment).model_dump(mode="json")},
    )
    return comment


async def delete_comments(
    *, session: AsyncSession, subject_type: SubjectType, subject_id: uuid.UUID
) -> None:
    """Remove a deleted subject's comments (the table has no foreign key to either kind)."""
    await session.execute(
        delete(Comment).where(
            col(Comment.subject_type) == subject_type, col(Comment.subject_id) == subject_id
        )
    )
