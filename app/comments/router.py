"""The comment routes of one subject kind, added to that domain's router (no copies)."""

# No `from __future__ import annotations`: the routes' annotations use local names
# (subject_for), which FastAPI must be able to evaluate.

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response, status

from app.comments import service
from app.comments.schemas import CommentCreate, CommentRead
from app.core.pagination import Page, PageParams, page_params
from app.core.responses import json_response, page_response
from app.groups.access import Loaded, ObjectKind, object_access
from app.models import Role


def add_comment_routes(
    router: APIRouter,
    *,
    kind: ObjectKind,
    subject_type: service.SubjectType,
    prefix: str,
    param: str,
) -> None:
    """`GET|POST {prefix}/{{param}}/comments`: observers read, members and above write."""
    path = f"{prefix}/{{{param}}}/comments"
    label = subject_type.replace("_", " ")
    subject_for = object_access(kind, param)

    @router.get(
        path,
        response_model=Page[CommentRead],
        tags=["comments"],
        name=f"list_{subject_type}_comments",
        summary=f"Comments on the {label}",
    )
    async def list_comments(
        subject: Annotated[Loaded[Any], subject_for(Role.observer)],
        page: Annotated[PageParams, Depends(page_params)],
    ) -> Response:
        """Oldest first."""
        items, cursor = await service.list_comments(
            ctx=subject.ctx, subject_type=subject_type, subject_id=subject.obj.id, page=page
        )
        return page_response(items, cursor)

    @router.post(
        path,
        status_code=status.HTTP_201_CREATED,
        response_model=CommentRead,
        tags=["comments"],
        name=f"add_{subject_type}_comment",
        summary=f"Comment on the {label}",
    )
    async def add_comment(
        subject: Annotated[Loaded[Any], subject_for(Role.member)], data: CommentCreate
    ) -> Response:
        """Members and above comment; records `<subject>.commented`."""
        comment = await service.add_comment(
            ctx=subject.ctx, subject_type=subject_type, subject_id=subject.obj.id, data=data
        )
        return json_response(comment, status_code=status.HTTP_201_CREATED)
