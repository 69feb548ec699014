"""Action items: the roadmap's units of work, and the roadmap that sums them up.

Everything here runs Core statements (app/roadmap/queries.py) in the caller's transaction and
records events through the caller's GroupContext; items are `ItemRow`s.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from app.comments.service import SubjectType, delete_comments
from app.core.db import Tx
from app.core.errors import Forbidden, PreconditionFailed, ValidationFailed
from app.core.events import Change
from app.core.pagination import PageParams
from app.diagnosis import links as finding_links
from app.groups.access import GroupContext
from app.groups.focus_areas import list_focus_areas
from app.models import ActionItem, ActionItemStatus, Role
from app.models.base import new_id, utcnow
from app.roadmap import queries
from app.roadmap.queries import ItemRow, row_json
from app.roadmap.schemas import (
    ActionItemCreate,
    ActionItemFilters,
    ActionItemUpdate,
    FocusAreaBrief,
    Roadmap,
    RoadmapArea,
)
from app.users.principal import Principal

SUBJECT: SubjectType = "action_item"


def action_item_data(item: ItemRow | ActionItem) -> dict[str, Any]:
    """The item as events carry it (ActionItemRead's fields)."""
    return row_json(item)


def _invalid(field: str, msg: str) -> ValidationFailed:
    return ValidationFailed(msg, errors=[{"loc": ["body", field], "msg": msg}])


async def check_links(
    *,
    ctx: GroupContext,
    owner_id: uuid.UUID | None = None,
    focus_area_id: uuid.UUID | None = None,
    proposal_id: uuid.UUID | None = None,
    meeting_id: uuid.UUID | None = None,
    prefix: str = "",
) -> None:
    """Refuse (422) an owner who is not a member, or links to objects of another group.
    Every check given is answered by one statement."""
    links = {
        name: value
        for name, value in (
            ("owner_id", owner_id),
            ("focus_area_id", focus_area_id),
            ("proposal_id", proposal_id),
            ("meeting_id", meeting_id),
        )
        if value is not None
    }
    if not links:
        return
    answers = await queries.link_answers(ctx.tx.conn, ctx.group.id, links)
    if "owner_id" in links and answers["owner_id"] is None:
        raise _invalid(prefix + "owner_id", "the owner must be a member of the group")
    for name in ("focus_area_id", "proposal_id", "meeting_id"):
        if name in links and answers[name] != ctx.group.id:
            raise _invalid(prefix + name, f"no such {name.removesuffix('_id')} in this group")


def _creation_events(item: ItemRow) -> list[tuple[str, dict[str, Any]]]:
    payload = {"action_item": action_item_data(item)}
    events: list[tuple[str, dict[str, Any]]] = [("action_item.created", payload)]
    if item.owner_id is not None:
        owners = {"owner_id": item.owner_id, "previous_owner_id": None}
        events.append(("action_item.assigned", {**payload, **owners}))
    return events


async def create_action_item(
    *,
    ctx: GroupContext,
    data: ActionItemCreate,
    decision_id: uuid.UUID | None = None,
    field_prefix: str = "",
) -> ItemRow:
    """Create an item in the caller's transaction, with `action_item.created` (and
    `action_item.assigned` when it has an owner). Meetings and proposals call this too."""
    owner_to_check = data.owner_id
    if owner_to_check == ctx.user.id and ctx.member_role is not None:
        # The caller's own membership was read when the request was authorized (under the
        # group lock for writes): no need to read it again.
        owner_to_check = None
    await check_links(
        ctx=ctx,
        owner_id=owner_to_check,
        focus_area_id=data.focus_area_id,
        proposal_id=data.proposal_id,
        meeting_id=data.meeting_id,
        prefix=field_prefix,
    )
    await finding_links.check_findings(
        ctx.tx.conn, ctx.group.id, data.finding_ids, field_prefix + "finding_ids"
    )
    now = utcnow()
    item = ItemRow.model_construct(
        id=new_id(),
        group_id=ctx.group.id,
        title=data.title,
        description=data.description,
        owner_id=data.owner_id,
        due_date=data.due_date,
        priority=data.priority,
        status=ActionItemStatus.todo,
        progress=0,
        completed_at=None,
        focus_area_id=data.focus_area_id,
        proposal_id=data.proposal_id,
        meeting_id=data.meeting_id,
        decision_id=decision_id,
        created_by=ctx.user.id,
        created_at=now,
        updated_at=now,
        version=1,
    )
    # The INSERT and its events in one statement (app/core/events.py).
    await ctx.change_and_record(
        Change(queries.INSERT_ITEM, queries.insert_params(item)),
        subject_type=SUBJECT,
        subject_id=item.id,
        events=_creation_events(item),
    )
    await finding_links.link(ctx.tx.conn, data.finding_ids, SUBJECT, item.id)
    return item


# --- who may change an item ------------------------------------------------------------------


def can_manage(ctx: GroupContext, item: ItemRow) -> bool:
    """Moderators manage every item; members the items they own."""
    if ctx.has_role(Role.moderator):
        return True
    return ctx.has_role(Role.member) and item.owner_id == ctx.user.id


def ensure_can_manage(ctx: GroupContext, item: ItemRow) -> None:
    if not can_manage(ctx, item):
        raise Forbidden("Only the item's owner or a moderator may change it")


async def create_for_caller(*, ctx: GroupContext, data: ActionItemCreate) -> ItemRow:
    """`POST /groups/{id}/action-items`: moderators assign to anyone; a member's new item is
    their own (owner_id omitted means themselves, someone else is a 403)."""
    if not ctx.has_role(Role.moderator):
        if data.owner_id not in (None, ctx.user.id):
            raise Forbidden("Members create action items for themselves; moderators assign")
        data = data.model_copy(update={"owner_id": ctx.user.id})
    return await create_action_item(ctx=ctx, data=data)


# --- updating ------------------------------------------------------------------------------


def _status_rules(item: ItemRow, fields: dict[str, Any], prefix: str, now: datetime) -> None:
    """done ⇒ progress 100 and completed_at; leaving done clears completed_at."""
    status = fields.get("status", item.status)
    if status == ActionItemStatus.done:
        if fields.get("progress", 100) != 100:
            raise _invalid(prefix + "progress", "a done item has progress 100")
        if item.status != ActionItemStatus.done:
            fields["progress"] = 100
            fields["completed_at"] = now
    elif item.status == ActionItemStatus.done:
        fields["completed_at"] = None


def _changes(item: ItemRow, fields: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """`{field: {"old": …, "new": …}}` of what really changes (the `*.updated` event)."""
    return {
        name: {"old": getattr(item, name), "new": value}
        for name, value in fields.items()
        if getattr(item, name) != value
    }


async def update_action_item(
    *,
    ctx: GroupContext,
    item: ItemRow,
    data: ActionItemUpdate,
    field_prefix: str = "",
) -> ItemRow:
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
        ctx=ctx,
        owner_id=changed.get("owner_id"),
        focus_area_id=changed.get("focus_area_id"),
        proposal_id=changed.get("proposal_id"),
        meeting_id=changed.get("meeting_id"),
        prefix=field_prefix,
    )
    now = utcnow()
    _status_rules(item, fields, field_prefix, now)
    changes = _changes(item, fields)
    if not changes:
        return item
    new = {name: change["new"] for name, change in changes.items()}
    updated = item.model_copy(update={**new, "updated_at": now, "version": item.version + 1})
    payload = {"action_item": action_item_data(updated)}
    events: list[tuple[str, dict[str, Any]]] = [
        ("action_item.updated", {**payload, "changes": changes})
    ]
    if "owner_id" in changes:
        owners = {"owner_id": updated.owner_id, "previous_owner_id": item.owner_id}
        events.append(("action_item.assigned", {**payload, **owners}))
    if updated.status == ActionItemStatus.done and item.status != ActionItemStatus.done:
        events.append(("action_item.completed", payload))
    # The UPDATE (only if the item is still at the version read) and its events, in one
    # statement (app/core/events.py).
    recorded = await ctx.change_and_record(
        Change(queries.UPDATE_ITEM, queries.update_params(item, updated)),
        subject_type=SUBJECT,
        subject_id=item.id,
        events=events,
    )
    if recorded is None:
        # Only possible without the group lock (every writer of an item holds it).
        raise PreconditionFailed("The resource was changed by someone else; fetch it again")
    return updated


async def delete_action_item(*, ctx: GroupContext, item: ItemRow) -> None:
    """Delete the item and its comments; `action_item.deleted` keeps its last state."""
    payload = {"action_item": action_item_data(item)}
    await delete_comments(conn=ctx.tx.conn, subject_type=SUBJECT, subject_id=item.id)
    await ctx.change_and_record(
        Change(queries.DELETE_ITEM, {"i_id": item.id}),
        subject_type=SUBJECT,
        subject_id=item.id,
        events=[("action_item.deleted", payload)],
    )


# --- the roadmap ---------------------------------------------------------------------------


def mean_progress(values: Sequence[int]) -> float | None:
    """Mean of 0-100 values rounded half up to one decimal; None for no values."""
    if not values:
        return None
    n = len(values)
    return ((sum(values) * 20 + n) // (2 * n)) / 10


def _summary(items: Sequence[ItemRow]) -> dict[str, Any]:
    counted = [i for i in items if i.status != ActionItemStatus.cancelled]
    return {
        "item_count": len(counted),
        "done_count": sum(i.status == ActionItemStatus.done for i in counted),
        "cancelled_count": len(items) - len(counted),
        "progress": mean_progress([i.progress for i in counted]),
    }


def _roadmap_order(item: ItemRow) -> tuple[bool, date, datetime, uuid.UUID]:
    return (item.due_date is None, item.due_date or date.min, item.created_at, item.id)


async def roadmap(*, ctx: GroupContext) -> Roadmap:
    """Items by focus area (in the areas' order, then the "no focus area" bucket)."""
    areas = await list_focus_areas(conn=ctx.tx.conn, group_id=ctx.group.id)
    items = sorted(await queries.all_items(ctx.tx.conn, ctx.group.id), key=_roadmap_order)
    buckets: dict[uuid.UUID | None, list[ItemRow]] = {a.id: [] for a in areas}
    buckets[None] = []
    for item in items:
        buckets.setdefault(item.focus_area_id, []).append(item)

    def area(brief: FocusAreaBrief | None, rows: list[ItemRow]) -> RoadmapArea:
        shown = [row_json(i) for i in rows if i.status != ActionItemStatus.cancelled]
        return RoadmapArea.model_validate({"focus_area": brief, "items": shown, **_summary(rows)})

    out = [area(FocusAreaBrief.model_validate(a), buckets[a.id]) for a in areas]
    out.append(area(None, buckets[None]))
    return Roadmap(group_id=ctx.group.id, areas=out, **_summary(items))


# --- lists ---------------------------------------------------------------------------------


async def list_action_items(
    *, ctx: GroupContext, filters: ActionItemFilters, page: PageParams
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the group's items, oldest first, as JSON-ready dicts."""
    return await queries.list_items(ctx.tx.conn, filters=filters, page=page, group_id=ctx.group.id)


async def list_my_action_items(
    *, tx: Tx, user: Principal, filters: ActionItemFilters, page: PageParams
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the items `user` owns in every group they still belong to."""
    return await queries.list_items(tx.conn, filters=filters, page=page, owner_id=user.id)
