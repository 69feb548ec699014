from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from app.core.db import SessionDep, TxDep
from app.core.deps import IfMatch, check_if_match, set_etag
from app.core.errors import Forbidden
from app.core.pagination import Page, PageParams, page_params
from app.core.responses import json_response, page_response
from app.groups import focus_areas, service
from app.groups.access import GroupContext, GroupMember, Loaded, Owner, Reader, object_access
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
from app.models import FocusArea, Role
from app.users.deps import CurrentUser

router = APIRouter(tags=["groups"])

Paging = Annotated[PageParams, Depends(page_params)]
# Leaving a group is a write anyone in it may do (the route decides whose membership).
InGroup = Annotated[GroupContext, GroupMember(Role.observer, write=True)]
AreaFor = object_access(focus_areas.FOCUS_AREA, "area_id")
AreaReader = Annotated[Loaded[FocusArea], AreaFor(Role.observer)]
AreaOwner = Annotated[Loaded[FocusArea], AreaFor(Role.owner)]


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
    tx: TxDep,
    page: Paging,
    include_archived: Annotated[bool, Query()] = False,
) -> Response:
    """Groups the caller can see: public ones and those they belong to."""
    items, cursor = await service.list_groups(
        tx=tx, user=user, page=page, include_archived=include_archived
    )
    return page_response(items, cursor)


@router.get("/groups/{group_id}", response_model=GroupRead)
async def get_group(ctx: Reader) -> Response:
    # Answered from the access check's own statement: no further query.
    read = service.group_read(ctx.group, ctx.role)
    return json_response(read.model_dump(), version=ctx.group.version)


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
async def list_members(ctx: Reader, page: Paging) -> Response:
    items, cursor = await service.list_members(ctx=ctx, page=page)
    return page_response(items, cursor)


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
async def get_member(user_id: uuid.UUID, ctx: Reader) -> Response:
    member, version = await service.member_json(ctx=ctx, user_id=user_id)
    return json_response(member, version=version)


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
async def remove_member(user_id: uuid.UUID, ctx: InGroup, session: SessionDep) -> None:
    """Owners remove anyone; every member may remove themselves (leave the group)."""
    if user_id != ctx.user.id and not ctx.has_role(Role.owner):
        if ctx.role is None:
            raise Forbidden("Only members can leave a group")
        raise Forbidden("This needs the owner role in the group")
    membership, member = await service.get_member(
        session=session, group_id=ctx.group.id, user_id=user_id
    )
    await service.remove_member(session=session, ctx=ctx, membership=membership, user=member)


# --- focus areas ---------------------------------------------------------------------------


@router.get(
    "/groups/{group_id}/focus-areas", response_model=Page[FocusAreaRead], tags=["focus areas"]
)
async def list_focus_areas(ctx: Reader) -> Response:
    """All focus areas in their order (a group has few, so one page)."""
    areas = await focus_areas.list_focus_areas(conn=ctx.tx.conn, group_id=ctx.group.id)
    return page_response([dict(a._mapping) for a in areas], None)


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
async def get_focus_area(area: AreaReader, response: Response) -> FocusAreaRead:
    set_etag(response, area.obj.version)
    return FocusAreaRead.model_validate(area.obj)


@router.patch("/focus-areas/{area_id}", response_model=FocusAreaRead, tags=["focus areas"])
async def update_focus_area(
    area: AreaOwner,
    data: FocusAreaUpdate,
    session: SessionDep,
    if_match: IfMatch,
    response: Response,
) -> FocusAreaRead:
    check_if_match(if_match, area.obj.version)
    updated = await focus_areas.update_focus_area(
        session=session, ctx=area.ctx, area=area.obj, data=data
    )
    set_etag(response, updated.version)
    return FocusAreaRead.model_validate(updated)


@router.delete(
    "/focus-areas/{area_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["focus areas"]
)
async def delete_focus_area(area: AreaOwner, session: SessionDep) -> None:
    await focus_areas.delete_focus_area(session=session, ctx=area.ctx, area=area.obj)
