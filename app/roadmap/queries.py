"""The roadmap's SQL: Core statements on action items, built once per shape and reused.

Items travel as `ItemRow` (every column the API and the events show, plus `version`), read
straight from rows, and leave as JSON-ready dicts (`item_json`): no ORM objects and no
per-row models on the hot paths (create, PATCH, lists).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    delete,
    insert,
    not_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.pagination import Keyset, PageParams
from app.core.schemas import Stored, fields_of
from app.models import ActionItem, FocusArea, Meeting, Membership
from app.models import Proposal as ProposalModel
from app.models.base import table_of
from app.roadmap.schemas import (
    CLOSED_STATUSES,
    ActionItemFilters,
    ActionItemRead,
    is_overdue,
    today,
)

items = table_of(ActionItem)
memberships = table_of(Membership)


class ItemRow(ActionItemRead, Stored):
    """An action item as the API shows it, and its version."""


ITEM_FIELDS = fields_of(ItemRow)
READ_FIELDS = fields_of(ActionItemRead)
ITEM_COLUMNS = [items.c[name] for name in ITEM_FIELDS]


def _with_overdue(item: dict[str, Any], on: date | None = None) -> dict[str, Any]:
    item["overdue"] = is_overdue(item["due_date"], item["status"], on)
    return item


def item_json(row: Iterable[Any], on: date | None = None) -> dict[str, Any]:
    """ActionItemRead as a dict for the JSON encoder, from a row of ITEM_COLUMNS."""
    item = dict(zip(ITEM_FIELDS, row, strict=True))
    del item["version"]  # not shown: it is the ETag
    return _with_overdue(item, on)


def row_json(item: ItemRow | ActionItem) -> dict[str, Any]:
    """ActionItemRead as a dict for the JSON encoder, from an item's attributes."""
    return _with_overdue({name: getattr(item, name) for name in READ_FIELDS})


# --- reading ----------------------------------------------------------------------------------

_BY_ID = select(*ITEM_COLUMNS).where(items.c.id == bindparam("item_id"))


async def get_item(conn: AsyncConnection, item_id: uuid.UUID) -> ItemRow | None:
    row = (await conn.execute(_BY_ID, {"item_id": item_id})).first()
    return None if row is None else ItemRow.from_row(row)


CREATED_ORDER = Keyset([items.c.created_at, items.c.id])
_EQUAL_FILTERS = ("status", "owner_id", "focus_area_id", "proposal_id", "meeting_id")


def _overdue() -> ColumnElement[bool]:
    return and_(
        items.c.due_date.is_not(None),
        items.c.due_date < bindparam("today"),
        items.c.status.not_in(CLOSED_STATUSES),
    )


@cache
def _list_statement(mine: bool, filters: frozenset[str], with_cursor: bool) -> Select[Any]:
    """Items of a group (or, `mine`, the caller's items in the groups they belong to), with
    the filters named in `filters` as parameters of the same names."""
    stmt = select(*ITEM_COLUMNS)
    if mine:
        stmt = stmt.join(
            memberships,
            and_(
                memberships.c.group_id == items.c.group_id,
                memberships.c.user_id == bindparam("user_id"),
            ),
        ).where(items.c.owner_id == bindparam("user_id"))
    else:
        stmt = stmt.where(items.c.group_id == bindparam("group_id"))
    for name in _EQUAL_FILTERS:
        if name in filters:
            stmt = stmt.where(items.c[name] == bindparam(name))
    if "due_before" in filters:
        stmt = stmt.where(items.c.due_date < bindparam("due_before"))
    if "overdue" in filters:
        stmt = stmt.where(_overdue())
    elif "not_overdue" in filters:
        stmt = stmt.where(not_(_overdue()))
    return CREATED_ORDER.page(stmt, with_cursor=with_cursor)


async def list_items(
    conn: AsyncConnection,
    *,
    filters: ActionItemFilters,
    page: PageParams,
    group_id: uuid.UUID | None = None,
    owner_id: uuid.UUID | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of a group's items (`group_id`) or of one user's (`owner_id`), oldest first,
    as JSON-ready dicts."""
    params: dict[str, Any] = {}
    names = set()
    for name in (*_EQUAL_FILTERS, "due_before"):
        value = getattr(filters, name)
        if value is not None:
            params[name] = value
            names.add(name)
    if filters.overdue is not None:
        names.add("overdue" if filters.overdue else "not_overdue")
        params["today"] = today()
    if owner_id is not None:
        params["user_id"] = owner_id
    else:
        params["group_id"] = group_id
    stmt = _list_statement(owner_id is not None, frozenset(names), bool(page.cursor))
    rows, cursor = await CREATED_ORDER.fetch(conn, stmt, params, page)
    on = today()
    return [item_json(row, on) for row in rows], cursor


_ALL_OF_GROUP = (
    select(*ITEM_COLUMNS)
    .where(items.c.group_id == bindparam("group_id"))
    .order_by(items.c.created_at, items.c.id)
)


async def all_items(conn: AsyncConnection, group_id: uuid.UUID) -> list[ItemRow]:
    """Every item of the group, oldest first (the roadmap, the CSV export)."""
    rows = await conn.execute(_ALL_OF_GROUP, {"group_id": group_id})
    return [ItemRow.from_row(row) for row in rows]


# --- checking links ---------------------------------------------------------------------------

_LINKED_TABLES = {
    "focus_area_id": table_of(FocusArea),
    "proposal_id": table_of(ProposalModel),
    "meeting_id": table_of(Meeting),
}


@cache
def _links_statement(names: frozenset[str]) -> Select[Any]:
    """One row answering every check at once: is the owner a member, and which group each
    linked object belongs to (NULL: no such object)."""
    columns: list[Any] = []
    if "owner_id" in names:
        member = select(memberships.c.role).where(
            memberships.c.group_id == bindparam("group_id"),
            memberships.c.user_id == bindparam("owner_id"),
        )
        columns.append(member.scalar_subquery().label("owner_id"))
    for name, table in _LINKED_TABLES.items():
        if name in names:
            group_of = select(table.c.group_id).where(table.c.id == bindparam(name))
            columns.append(group_of.scalar_subquery().label(name))
    return select(*columns)


async def link_answers(
    conn: AsyncConnection, group_id: uuid.UUID, links: Mapping[str, uuid.UUID]
) -> Mapping[str, Any]:
    """For each link given: the owner's role (None: not a member), or the linked object's
    group id (None: no such object)."""
    stmt = _links_statement(frozenset(links))
    row = (await conn.execute(stmt, {"group_id": group_id, **links})).one()
    answers: Mapping[str, Any] = row._mapping
    return answers


# --- writing: statements a GroupContext runs together with the events they cause ---------
# Their parameters are named `i_<column>`: a parameter named like a column of a table in the
# same statement (`id`, `version`…) would be taken by SQLAlchemy as a value for that column.

# The reminder bookkeeping of a new item: nothing sent yet.
NOT_NOTIFIED = ("due_soon_notified_for", "overdue_notified_on")
INSERT_ITEM = (
    insert(items)
    .values({name: bindparam(f"i_{name}") for name in (*ITEM_FIELDS, *NOT_NOTIFIED)})
    .returning(items.c.id)
)


def insert_params(item: ItemRow) -> dict[str, Any]:
    params = {f"i_{name}": getattr(item, name) for name in ITEM_FIELDS}
    params.update({f"i_{name}": None for name in NOT_NOTIFIED})
    return params


# Every field a PATCH may change is written: one statement for any PATCH, built once. The
# reminder bookkeeping columns are not in it, so a reminder written meanwhile is kept.
UPDATABLE = (
    "title",
    "description",
    "owner_id",
    "due_date",
    "priority",
    "status",
    "progress",
    "completed_at",
    "focus_area_id",
    "proposal_id",
    "meeting_id",
)
UPDATE_ITEM = (
    update(items)
    .where(items.c.id == bindparam("i_id"), items.c.version == bindparam("i_old_version"))
    .values(
        {
            **{name: bindparam(f"i_{name}") for name in UPDATABLE},
            "updated_at": bindparam("i_updated_at"),
            "version": items.c.version + 1,
        }
    )
    .returning(items.c.id)
)


def update_params(old: ItemRow, new: ItemRow) -> dict[str, Any]:
    """UPDATE_ITEM's parameters writing `new` over `old` (only if still at old.version)."""
    params = {f"i_{name}": getattr(new, name) for name in UPDATABLE}
    params.update(i_id=old.id, i_old_version=old.version, i_updated_at=new.updated_at)
    return params


DELETE_ITEM = delete(items).where(items.c.id == bindparam("i_id")).returning(items.c.id)
