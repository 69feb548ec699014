"""Focus areas: a group's few agreed themes, kept in a user-chosen order."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.core.changes import apply_changes
from app.core.errors import NotFound
from app.core.events import record_event
from app.groups.access import GroupContext, authorize_group
from app.groups.schemas import FocusAreaCreate, FocusAreaRead, FocusAreaUpdate
from app.models import FocusArea, Role, User


async def list_focus_areas(*, session: AsyncSession, group_id: uuid.UUID) -> list[FocusArea]:
    stmt = (
        select(FocusArea)
        .where(col(FocusArea.group_id) == group_id)
        .order_by(col(FocusArea.position), col(FocusArea.created_at))
    )
    return list((await session.execute(stmt)).scalars())


async def _place(
    session: AsyncSession, group_id: uuid.UUID, area: FocusArea, position: int | None
) -> None:
    """Put `area` at `position` (1-based; None = last) and renumber the others 1..n."""
    others = [
        a for a in await list_focus_areas(session=session, group_id=group_id) if a is not area
    ]
    index = len(others) if position is None else min(position - 1, len(others))
    others.insert(index, area)
    for i, a in enumerate(others, start=1):
        if a.position != i:
            a.position = i


async def create_focus_area(
    *, session: AsyncSession, ctx: GroupContext, data: FocusAreaCreate
) -> FocusArea:
    area = FocusArea(group_id=ctx.group.id, title=data.title, description=data.description)
    await _place(session, ctx.group.id, area, data.position)
    session.add(area)
    await session.flush()
    await record_event(
        session=session,
        group_id=ctx.group.id,
        type="focus_area.created",
        actor_id=ctx.user.id,
        subject_type="focus_area",
        subject_id=area.id,
        data={"focus_area": FocusAreaRead.model_validate(area).model_dump(mode="json")},
    )
    return area


async def get_authorized(
    *, session: AsyncSession, user: User, area_id: uuid.UUID, need: Role
) -> tuple[FocusArea, GroupContext]:
    area = await session.get(FocusArea, area_id)
    if area is None:
        raise NotFound("Focus area not found")
    ctx = await authorize_group(
        session=session,
        user=user,
        group_id=area.group_id,
        need=need,
        write=need != Role.observer,
        not_found="Focus area not found",
    )
    return area, ctx


async def update_focus_area(
    *, session: AsyncSession, ctx: GroupContext, area: FocusArea, data: FocusAreaUpdate
) -> FocusArea:
    position = data.position
    # Position is not a plain field: moving one area renumbers its siblings.
    without_position = FocusAreaUpdate.model_validate(
        data.model_dump(exclude_unset=True, exclude={"position"})
    )
    changes = apply_changes(area, without_position)
    if position is not None and position != area.position:
        old = area.position
        await _place(session, ctx.group.id, area, position)
        changes["position"] = {"old": old, "new": area.position}
    if changes:
        await session.flush()
        await record_event(
            session=session,
            group_id=ctx.group.id,
            type="focus_area.updated",
            actor_id=ctx.user.id,
            subject_type="focus_area",
            subject_id=area.id,
            data={
                "focus_area": FocusAreaRead.model_validate(area).model_dump(mode="json"),
                "changes": changes,
            },
        )
    return area


async def delete_focus_area(*, session: AsyncSession, ctx: GroupContext, area: FocusArea) -> None:
    data = {"focus_area": FocusAreaRead.model_validate(area).model_dump(mode="json")}
    await session.delete(area)
    await session.flush()
    remaining = await list_focus_areas(session=session, group_id=ctx.group.id)
    for i, a in enumerate(remaining, start=1):
        a.position = i
    await record_event(
        session=session,
        group_id=ctx.group.id,
        type="focus_area.deleted",
        actor_id=ctx.user.id,
        subject_type="focus_area",
        subject_id=area.id,
        data=data,
    )
