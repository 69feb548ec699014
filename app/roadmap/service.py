"""Action items: the roadmap's units of work, and the roadmap that sums them up."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, not_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.comments.service import delete_comments
from app.core.changes import apply_changes
from app.core.errors import Forbidden, ValidationFailed
from app.core.events import record_events, record_object_event
from app.core.pagination import PageParams, paginate
from app.groups.access import GroupContext, membership_of
from app.groups.focus_areas import list_focus_areas
from app.models import (
    ActionItem,
    ActionItemStatus,
    FocusArea,
    Meeting,
    Membership,
    Proposal,
    Role,
    User,
)
from app.models.base import utcnow
from app.roadmap.schemas import (
    CLOSED_STATUSES,
    ActionItemCreate,
    ActionItemFilters,
    ActionItemRead,
    ActionItemUpdate,
    FocusAreaBrief,
    Roadmap,
    RoadmapArea,
    today,
)


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
    owner_to_check = data.owner_id
    if ctx.membership is not None and ctx.membership.user_id == owner_to_check:
        # The caller's own membership was read when the request was authorized (under the
        # group lock for writes): no need to read it again.
        owner_to_check = None
    await check_links(
        session=session,
        group_id=ctx.group.id,
        owner_id=owner_to_check,
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
    events: list[tuple[str, dict[str, Any]]] = [("action_item.created", payload)]
    if item.owner_id is not None:
        owners = {"owner_id": str(item.owner_id), "previous_owner_id": None}
        events.append(("action_item.assigned", {**payload, **owners}))
    await record_events(
        session=session,
        group_id=ctx.group.id,
        actor_id=ctx.user.id,
        subject_type="action_item",
        subject_id=item.id,
        events=events,
    )
    return item


# --- who may change an item ------------------------------------------------------------------


def can_manage(ctx: GroupContext, item: ActionItem) -> bool:
    """Moderators manage every item; members the items they own."""
    if ctx.has_role(Role.moderator):
        return True
    return ctx.has_role(Role.member) and item.owner_id == ctx.user.id


def ensure_can_manage(ctx: GroupContext, item: ActionItem) -> None:
    if not can_manage(ctx, item):
        raise Forbidden("Only the item's owner or a moderator may change it")


async def create_for_caller(
    *, session: AsyncSession, ctx: GroupContext, data: ActionItemCreate
) -> ActionItem:
    """`POST /groups/{id}/action-items`: moderators assign to anyone; a member's new item is
    their own (owner_id omitted means themselves, someone else is a 403)."""
    if not ctx.has_role(Role.moderator):
        if data.owner_id not in (None, ctx.user.id):
            raise Forbidden("Members create action items for themselves; moderators assign")
        data = data.model_copy(update={"owner_id": ctx.user.id})
    return await create_action_item(session=session, ctx=ctx, data=data)


# --- updating ------------------------------------------------------------------------------


class _ItemChanges(ActionItemUpdate):
    """ActionItemUpdate plus what the status rules derive (never sent by clients)."""

    completed_at: datetime | None = None


def _status_rules(item: ActionItem, fields: dict[str, Any], prefix: str) -> None:
    """done ⇒ progress 100 and completed_at; leaving done clears completed_at."""
    status = fields.get("status", item.status)
    if status == ActionItemStatus.done:
        if fields.get("progress", 100) != 100:
            raise _invalid(prefix + "progress", "a done item has progress 100")
        if item.status != ActionItemStatus.done:
            fields["progress"] = 100
            fields["completed_at"] = utcnow()
    elif item.status == ActionItemStatus.done:
        fields["completed_at"] = None


async def update_action_item(
    *,
    session: AsyncSession,
    ctx: GroupContext,
    item: ActionItem,
    data: ActionItemUpdate,
    field_prefix: str = "",
) -> ActionItem:
    """Apply a PATCH; record `action_item.updated` with `{field: {old, new}}`, plus
    `action_item.assigned` when the owner changes and `action_item.completed` on becoming done.

    Links are checked only when they change, so an edit of the title is not refused because
    the owner has since left the group.
    """
    fields = data.model_dump(exclude_unset=True)
    changed = {k: v for k, v in fields.items() if getattr(item, k) != v}
    reassigns = "owner_id" in changed and changed["owner_id"] != ctx.user.id
    if reassigns and not ctx.has_role(Role.moderator):
        raise Forbidden("Only moderators assign action items to others")
    await check_links(
        session=session,
        group_id=item.group_id,
        owner_id=changed.get("owner_id"),
        focus_area_id=changed.get("focus_area_id"),
        proposal_id=changed.get("proposal_id"),
        meeting_id=changed.get("meeting_id"),
        prefix=field_prefix,
    )
    _status_rules(item, fields, field_prefix)
    was_done = item.status == ActionItemStatus.done
    previous_owner = item.owner_id
    changes = apply_changes(item, _ItemChanges.model_validate(fields))
    if not changes:
        return item
    await session.flush()
    payload = {"action_item": action_item_data(item)}
    await _event(session, ctx, item, "action_item.updated", {**payload, "changes": changes})
    if "owner_id" in changes:
        owners = {
            "owner_id": _str_or_none(item.owner_id),
            "previous_owner_id": _str_or_none(previous_owner),
        }
        await _event(session, ctx, item, "action_item.assigned", {**payload, **owners})
    if item.status == ActionItemStatus.done and not was_done:
        await _event(session, ctx, item, "action_item.completed", payload)
    return item


def _str_or_none(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


async def _event(
    session: AsyncSession, ctx: GroupContext, item: ActionItem, type: str, data: dict[str, Any]
) -> None:
    await record_object_event(
        session=session,
        actor_id=ctx.user.id,
        subject_type="action_item",
        subject=item,
        type=type,
        data=data,
    )


async def delete_action_item(*, session: AsyncSession, ctx: GroupContext, item: ActionItem) -> None:
    """Delete the item and its comments; `action_item.deleted` keeps its last state."""
    payload = {"action_item": action_item_data(item)}
    await delete_comments(session=session, subject_type="action_item", subject_id=item.id)
    await session.delete(item)
    await session.flush()
    await _event(session, ctx, item, "action_item.deleted", payload)


# --- lists and the roadmap -----------------------------------------------------------------


def _overdue() -> Any:
    return and_(
        col(ActionItem.due_date).is_not(None),
        col(ActionItem.due_date) < today(),
        col(ActionItem.status).not_in(CLOSED_STATUSES),
    )


def _filtered(stmt: Select[Any], filters: ActionItemFilters) -> Select[Any]:
    equal = ("status", "owner_id", "focus_area_id", "proposal_id", "meeting_id")
    for name in equal:
        value = getattr(filters, name)
        if value is not None:
            stmt = stmt.where(getattr(ActionItem, name) == value)
    if filters.due_before is not None:
        stmt = stmt.where(col(ActionItem.due_date) < filters.due_before)
    if filters.overdue is True:
        stmt = stmt.where(_overdue())
    elif filters.overdue is False:
        stmt = stmt.where(not_(_overdue()))
    return stmt


async def list_action_items(
    *,
    session: AsyncSession,
    group_id: uuid.UUID,
    filters: ActionItemFilters,
    params: PageParams,
) -> tuple[list[ActionItem], str | None]:
    stmt = _filtered(select(ActionItem).where(col(ActionItem.group_id) == group_id), filters)
    rows, cursor = await paginate(
        session, stmt, params, (col(ActionItem.created_at), col(ActionItem.id))
    )
    return rows, cursor


async def list_my_action_items(
    *, session: AsyncSession, user: User, filters: ActionItemFilters, params: PageParams
) -> tuple[list[ActionItem], str | None]:
    """Items the user owns in every group they still belong to."""
    stmt = (
        select(ActionItem)
        .join(
            Membership,
            and_(
                col(Membership.group_id) == col(ActionItem.group_id),
                col(Membership.user_id) == user.id,
            ),
        )
        .where(col(ActionItem.owner_id) == user.id)
    )
    rows, cursor = await paginate(
        session, _filtered(stmt, filters), params, (col(ActionItem.created_at), col(ActionItem.id))
    )
    return rows, cursor


def mean_progress(values: Sequence[int]) -> float | None:
    """Mean of 0-100 values rounded half up to one decimal; None for no values."""
    if not values:
        return None
    n = len(values)
    return ((sum(values) * 20 + n) // (2 * n)) / 10


def _summary(items: Sequence[ActionItem]) -> dict[str, Any]:
    counted = [i for i in items if i.status != ActionItemStatus.cancelled]
    return {
        "item_count": len(counted),
        "done_count": sum(i.status == ActionItemStatus.done for i in counted),
        "cancelled_count": len(items) - len(counted),
        "progress": mean_progress([i.progress for i in counted]),
    }


def _roadmap_order(item: ActionItem) -> tuple[bool, date, datetime, uuid.UUID]:
    return (item.due_date is None, item.due_date or date.min, item.created_at, item.id)


async def roadmap(*, session: AsyncSession, group_id: uuid.UUID) -> Roadmap:
    """Items by focus area (in the areas' order, then the "no focus area" bucket)."""
    areas = await list_focus_areas(session=session, group_id=group_id)
    stmt = select(ActionItem).where(col(ActionItem.group_id) == group_id)
    items = sorted((await session.execute(stmt)).scalars(), key=_roadmap_order)
    buckets: dict[uuid.UUID | None, list[ActionItem]] = {a.id: [] for a in areas}
    buckets[None] = []
    for item in items:
        buckets.setdefault(item.focus_area_id, []).append(item)

    def area(brief: FocusAreaBrief | None, rows: list[ActionItem]) -> RoadmapArea:
        shown = [
            ActionItemRead.model_validate(i) for i in rows if i.status != ActionItemStatus.cancelled
        ]
        return RoadmapArea(focus_area=brief, items=shown, **_summary(rows))

    out = [area(FocusAreaBrief.model_validate(a), buckets[a.id]) for a in areas]
    out.append(area(None, buckets[None]))
    return Roadmap(group_id=group_id, areas=out, **_summary(items))
