"""Action items: the roadmap's units of work."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import ValidationFailed
from app.core.events import record_event
from app.groups.access import GroupContext, membership_of
from app.models import ActionItem, FocusArea, Meeting, Proposal
from app.roadmap.schemas import ActionItemCreate, ActionItemRead


def action_item_data(item: ActionItem) -> dict[str, Any]:
    return ActionItemRead.model_validate(item).model_dump(mode="json")


def _invalid(field: str, msg: str) -> ValidationFailed:
    return ValidationFailed(msg, errors=[{"loc": ["body", field], "msg": msg}])


async def check_links(
    *,
    session: AsyncSession,
    group_id: uuid.UUID,
    owner_id: uuid.UUID | None = None,
    focus_area_id: uuid.UUID | None = None,
    proposal_id: uuid.UUID | None = None,
    meeting_id: uuid.UUID | None = None,
    prefix: str = "",
) -> None:
    """Refuse (422) an owner who is not a member, or links to objects of another group."""
    if owner_id is not None and await membership_of(session, group_id, owner_id) is None:
        raise _invalid(prefix + "owner_id", "the owner must be a member of the group")
    links: list[tuple[str, type[FocusArea | Proposal | Meeting], uuid.UUID | None]] = [
        ("focus_area_id", FocusArea, focus_area_id),
        ("proposal_id", Proposal, proposal_id),
        ("meeting_id", Meeting, meeting_id),
    ]
    for field, model, value in links:
        if value is None:
            continue
        row: FocusArea | Proposal | Meeting | None = await session.get(model, value)
        if row is None or row.group_id != group_id:
            raise _invalid(prefix + field, f"no such {field.removesuffix('_id')} in this group")


async def create_action_item(
    *,
    session: AsyncSession,
    ctx: GroupContext,
    data: ActionItemCreate,
    decision_id: uuid.UUID | None = None,
    field_prefix: str = "",
) -> ActionItem:
    """Create an item in the caller's transaction, with `action_item.created` (and
    `action_item.assigned` when it has an owner). Meetings and proposals call this too."""
    await check_links(
        session=session,
        group_id=ctx.group.id,
        owner_id=data.owner_id,
        focus_area_id=data.focus_area_id,
        proposal_id=data.proposal_id,
        meeting_id=data.meeting_id,
        prefix=field_prefix,
    )
    item = ActionItem(
        **data.model_dump(), group_id=ctx.group.id, decision_id=decision_id, created_by=ctx.user.id
    )
    session.add(item)
    await session.flush()
    payload = {"action_item": action_item_data(item)}
    await record_event(
        session=session,
        group_id=ctx.group.id,
        type="action_item.created",
        actor_id=ctx.user.id,
        subject_type="action_item",
        subject_id=item.id,
        data=payload,
    )
    if item.owner_id is not None:
        await record_event(
            session=session,
            group_id=ctx.group.id,
            type="action_item.assigned",
            actor_id=ctx.user.id,
            subject_type="action_item",
            subject_id=item.id,
            data={**payload, "owner_id": str(item.owner_id), "previous_owner_id": None},
        )
    return item
