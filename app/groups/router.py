from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.core.db import SessionDep
from app.core.deps import IfMatch, check_if_match, set_etag
from app.core.errors import Forbidden
from app.core.pagination import Page, PageParams, page_params
from app.groups import focus_areas, service
from app.groups.access import GroupContext, GroupMember, authorize_group
from app.groups.schemas import (
    FocusAreaCreate,
    FocusAreaRead,
    FocusAreaUpdate,
    GroupCreate,
    GroupRead,
    GroupUpdate,
    MemberCreate,
    MemberRead,
    MemberUpdate,
)
from app.models import Role
from app.users.deps import CurrentUser

router = APIRouter(tags=["groups"])

Reader = Annotated[GroupContext, GroupMember(Role.observer)]
Owner = Annotated[GroupContext, GroupMember(Role.owner)]
Paging = Annotated[PageParams, Depends(page_params)]


@router.post("/groups", status_code=status.HTTP_201_CREATED, response_model=GroupRead)
async def create_group(
    data: GroupCreate, user: CurrentUser, session: SessionDep, response: Response
) -> GroupRead:
    """Create a group; the creator becomes its owner."""
    group = await service.create_group(session=session, data=data, actor=user)
    set_etag(response, group.version)
    return service.group_read(group, Role.owner)


@router.get("/groups", response_model=Page[GroupRead])
async def list_groups(
    user: CurrentUser,
    session: SessionDep,
    page: Paging,
    include_archived: Annotated[bool, Query()] = False,
) -> Page[GroupRead]:
    """Groups the caller can see: public ones and those they belong to."""
    rows, cursor = await service.list_groups(
        session=session, user=user, params=page, include_archived=include_archived
    )
    return Page(items=[service.group_read(g, r) for g, r in rows], next_cursor=cursor)


@router.get("/groups/{group_id}", response_model=GroupRead)
async def get_group(ctx: Reader, response: Response) -> GroupRead:
    set_etag(response, ctx.group.version)
    return service.group_read(ctx.group, ctx.role)


@router.patch("/groups/{group_id}", response_model=GroupRead)
async def update_group(
    data: GroupUpdate, ctx: Owner, session: SessionDep, if_match: IfMatch, response: Response
) -> GroupRead:
    check_if_match(if_match, ctx.group.version)
    group = await service.update_group(session=session, ctx=ctx, data=data)
    set_etag(response, group.version)
    return service.group_read(group, ctx.role)


@router.post("/groups/{group_id}/archive", response_model=GroupRead)
async def archive_group(
    ctx: Annotated[GroupContext, GroupMember(Role.owner, write=False)],
    session: SessionDep,
    response: Response,
) -> GroupRead:
    """Make the group read-only. Archiving twice is a 409."""
    group = await service.archive_group(session=session, ctx=ctx)
    set_etag(response, group.version)
    return service.group_read(group, ctx.role)


# --- members -------------------------------------------------------------------------------


@router.get("/groups/{group_id}/members", response_model=Page[MemberRead], tags=["members"])
async def list_members(ctx: Reader, session: SessionDep, page: Paging) -> Page[MemberRead]:
    items, cursor = await service.list_members(session=session, group_id=ctx.group.id, params=page)
    return Page(items=items, next_cursor=cursor)


@router.post(
    "/groups/{group_id}/members",
    status_code=status.HTTP_201_CREATED,
    response_model=MemberRead,
    tags=["members"],
)
async def add_member(
    data: MemberCreate, ctx: Owner, session: SessionDep, response: Response
) -> MemberRead:
    membership, user = await service.add_member(session=session, ctx=ctx, data=data)
    set_etag(response, membership.version)
    return service.member_read(membership, user)


@router.get("/groups/{group_id}/members/{user_id}", response_model=MemberRead, tags=["members"])
async def get_member(
    user_id: uuid.UUID, ctx: Reader, session: SessionDep, response: Response
) -> MemberRead:
    membership, user = await service.get_member(
        session=session, group_id=ctx.group.id, user_id=user_id
    )
    set_etag(response, membership.version)
    return service.member_read(membership, user)


@router.patch("/groups/{group_id}/members/{user_id}", response_model=MemberRead, tags=["members"])
async def update_member(
    user_id: uuid.UUID,
    data: MemberUpdate,
    ctx: Owner,
    session: SessionDep,
    if_match: IfMatch,
    response: Response,
) -> MemberRead:
    membership, user = await service.get_member(
        session=session, group_id=ctx.group.id, user_id=user_id
    )
    check_if_match(if_match, membership.version)
    membership = await service.update_member(
        session=session, ctx=ctx, membership=membership, user=user, data=data
    )
    set_etag(response, membership.version)
    return service.member_read(membership, user)


@router.delete(
    "/groups/{group_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["members"],
)
async def remove_member(
    group_id: uuid.UUID, user_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> None:
    """Owners remove anyone; every member may remove themselves (leave the group)."""
    ctx = await authorize_group(
        session=session, user=user, group_id=group_id, need=Role.observer, write=True
    )
    if user_id != user.id and not ctx.has_role(Role.owner):
        if ctx.role is None:
            raise Forbidden("Only members can leave a group")
        raise Forbidden("This needs the owner role in the group")
    membership, member = await service.get_member(
        session=session, group_id=group_id, user_id=user_id
    )
    await service.remove_member(session=session, ctx=ctx, membership=membership, user=member)


# --- focus areas ---------------------------------------------------------------------------


@router.get(
    "/groups/{group_id}/focus-areas", response_model=Page[FocusAreaRead], tags=["focus areas"]
)
async def list_focus_areas(ctx: Reader, session: SessionDep) -> Page[FocusAreaRead]:
    """All focus areas in their order (a group has few, so one page)."""
    areas = await focus_areas.list_focus_areas(session=session, group_id=ctx.group.id)
    return Page(items=[FocusAreaRead.model_validate(a) for a in areas])


@router.post(
    "/groups/{group_id}/focus-areas",
    status_code=status.HTTP_201_CREATED,
    response_model=FocusAreaRead,
    tags=["focus areas"],
)
async def create_focus_area(
    data: FocusAreaCreate, ctx: Owner, session: SessionDep, response: Response
) -> FocusAreaRead:
    area = await focus_areas.create_focus_area(session=session, ctx=ctx, data=data)
    set_etag(response, area.version)
    return FocusAreaRead.model_validate(area)


@router.get("/focus-areas/{area_id}", response_model=FocusAreaRead, tags=["focus areas"])
async def get_focus_area(
    area_id: uuid.UUID, user: CurrentUser, session: SessionDep, response: Response
) -> FocusAreaRead:
    area, _ = await focus_areas.get_authorized(
        session=session, user=user, area_id=area_id, need=Role.observer
    )
    set_etag(response, area.version)
    return FocusAreaRead.model_validate(area)


@router.patch("/focus-areas/{area_id}", response_model=FocusAreaRead, tags=["focus areas"])
async def update_focus_area(
    area_id: uuid.UUID,
    data: FocusAreaUpdate,
    user: CurrentUser,
    session: SessionDep,
    if_match: IfMatch,
    response: Response,
) -> FocusAreaRead:
    area, ctx = await focus_areas.get_authorized(
        session=session, user=user, area_id=area_id, need=Role.owner
    )
    check_if_match(if_match, area.version)
    area = await focus_areas.update_focus_area(session=session, ctx=ctx, area=area, data=data)
    set_etag(response, area.version)
    return FocusAreaRead.model_validate(area)


@router.delete(
    "/focus-areas/{area_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["focus areas"]
)
async def delete_focus_area(area_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> None:
    area, ctx = await focus_areas.get_authorized(
        session=session, user=user, area_id=area_id, need=Role.owner
    )
    await focus_areas.delete_focus_area(session=session, ctx=ctx, area=area)
