"""The comment routes of one subject kind, added to that domain's router (no copies)."""

# No `from __future__ import annotations`: the routes' annotations use local names
# (SubjectId), which FastAPI must be able to evaluate.

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, status

from app.comments import service
from app.comments.schemas import CommentCreate, CommentRead
from app.comments.service import SubjectType
from app.comments.subjects import Subject, load_authorized
from app.core.db import SessionDep
from app.core.pagination import Page, PageParams, page_params
from app.models import Role
from app.users.deps import CurrentUser


def add_comment_routes(
    router: APIRouter, *, prefix: str, param: str, model: type[Subject], subject_type: SubjectType
) -> None:
    """`GET|POST {prefix}/{{param}}/comments`: observers read, members and above write."""
    path = f"{prefix}/{{{param}}}/comments"
    label = subject_type.replace("_", " ")
    SubjectId = Annotated[uuid.UUID, Path(alias=param)]

    @router.get(
        path,
        response_model=Page[CommentRead],
        tags=["comments"],
        name=f"list_{subject_type}_comments",
        summary=f"Comments on the {label}",
    )
    async def list_comments(
        subject_id: SubjectId,
        user: CurrentUser,
        session: SessionDep,
        page: Annotated[PageParams, Depends(page_params)],
    ) -> Page[CommentRead]:
        """Oldest first."""
        obj, _ = await load_authorized(
            session=session,
            user=user,
            model=model,
            object_id=subject_id,
            need=Role.observer,
            write=False,
        )
        rows, cursor = await service.list_comments(
            session=session, subject_type=subject_type, subject_id=obj.id, params=page
        )
        return Page(items=[CommentRead.model_validate(c) for c in rows], next_cursor=cursor)

    @router.post(
        path,
        status_code=status.HTTP_201_CREATED,
        response_model=CommentRead,
        tags=["comments"],
        name=f"add_{subject_type}_comment",
        summary=f"Comment on the {label}",
    )
    async def add_comment(
        subject_id: SubjectId, data: CommentCreate, user: CurrentUser, session: SessionDep
    ) -> CommentRead:
        """Members and above comment; records `<subject>.commented`."""
        obj, ctx = await load_authorized(
            session=session,
            user=user,
            model=model,
            object_id=subject_id,
            need=Role.member,
            write=True,
        )
        comment = await service.add_comment(
            session=session, ctx=ctx, subject_type=subject_type, subject_id=obj.id, data=data
        )
        return CommentRead.model_validate(comment)
