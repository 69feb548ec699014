"""Focus areas: a group's few agreed themes, kept in a user-chosen order.

Reads are Core (the roadmap lists them on every call); writes renumber siblings and stay on
the ORM, where that reads most clearly.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlmodel import col

from app.core.changes import apply_changes
from app.groups.access import GroupContext, ObjectKind
from app.groups.schemas import FocusAreaCreate, FocusAreaRead, FocusAreaUpdate
from app.models import FocusArea
from app.models.base import table_of

focus_areas = table_of(FocusArea)
FOCUS_AREA = ObjectKind(focus_areas, "Focus area", FocusArea)

_IN_ORDER = (
    select(*(focus_areas.c[name] for name in FocusAreaRead.model_fields))
    .where(focus_areas.c.group_id == bindparam("group_id"))
    .order_by(focus_areas.c.position, focus_areas.c.created_at)
)


async def list_focus_areas(*, conn: AsyncConnection, group_id: uuid.UUID) -> list[Row[Any]]:
    """The group's areas in their order (FocusAreaRead's columns)."""
    return list(await conn.execute(_IN_ORDER, {"group_id": group_id}))


async def _ordered(session: AsyncSession, group_id: uuid.UUID) -> list[FocusArea]:
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
    others = [a for a in await _ordered(session, group_id) if a is not area]
    index = len(others) if position is None else min(position - 1, len(others))
    others.insert(index, area)
    for i, a in enumerate(others, start=1):
        if a.position != i:
            a.position = i


def _data(area: FocusArea) -> dict[str, Any]:
    return FocusAreaRead.model_validate(area).model_dump(mode="json")


async def create_focus_area(
    *, session: AsyncSession, ctx: GroupContext, data: FocusAreaCreate
) -> FocusArea:
    area = FocusArea(group_id=ctx.group.id, title=data.title, description=data.description)
    await _place(session, ctx.group.id, area, data.position)
    session.add(area)
    await session.flush()
    await ctx.record(
        "focus_area.created",
        subject_type="focus_area",
        subject_id=area.id,
        data={"focus_area": _data(area)},
    )
    return area


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
        await ctx.record(
            "focus_area.updated",
            subject_type="focus_area",
            subject_id=area.id,
            data={"focus_area": _data(area), "changes": changes},
        )
    return area


async def delete_focus_area(*, session: AsyncSession, ctx: GroupContext, area: FocusArea) -> None:
    data = {"focus_area": _data(area)}
    await session.delete(area)
    await session.flush()
    for i, a in enumerate(await _ordered(session, ctx.group.id), start=1):
        a.position = i
    await ctx.record("focus_area.deleted", subject_type="focus_area", subject_id=area.id, data=data)
