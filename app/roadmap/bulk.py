"""CSV export and all-or-nothing import of a group's action items.

One stable column set (EXPORT_COLUMNS) is written on export and understood on import, so an
exported file can be edited in a spreadsheet and imported back. An import either applies every
row or none: each bad row is reported with its row number (the header is row 1) and column.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

from pydantic import ValidationError
from sqlalchemy import bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.errors import DomainError, ValidationFailed
from app.core.spreadsheet import cell_value, safe_cell
from app.groups.access import GroupContext
from app.models import ActionItem, Membership, User
from app.models.base import table_of
from app.roadmap import queries
from app.roadmap.queries import ItemRow, row_json
from app.roadmap.schemas import ActionItemCreate, ActionItemRead, ActionItemUpdate, ImportResult
from app.roadmap.service import create_action_item, update_action_item

EXPORT_COLUMNS = (
    "id",
    "title",
    "description",
    "status",
    "progress",
    "priority",
    "owner_email",
    "due_date",
    "focus_area_id",
    "proposal_id",
    "meeting_id",
)
MAX_IMPORT_ROWS = 5_000
# An empty cell in these leaves the value as it is (a new item gets the default).
_KEEP_WHEN_EMPTY = {"title", "status", "progress", "priority"}
# The API field behind a CSV column, where they differ.
_FIELD = {"owner_email": "owner_id"}
_COLUMN = {v: k for k, v in _FIELD.items()}


_users = table_of(User)
_EMAILS = select(_users.c.id, _users.c.email).where(
    or_(
        _users.c.id.in_(
            select(table_of(Membership).c.user_id).where(
                table_of(Membership).c.group_id == bindparam("group_id")
            )
        ),
        _users.c.id.in_(
            select(table_of(ActionItem).c.owner_id).where(
                table_of(ActionItem).c.group_id == bindparam("group_id")
            )
        ),
    )
)


async def _emails(conn: AsyncConnection, group_id: uuid.UUID) -> dict[uuid.UUID, str]:
    """Emails of the group's members and of everyone owning one of its items (an owner who
    left the group still appears in the export, and the same file must import back)."""
    rows = await conn.execute(_EMAILS, {"group_id": group_id})
    return {uid: email for uid, email in rows.all()}


async def export_csv(*, ctx: GroupContext) -> str:
    """Every item of the group, oldest first, with the EXPORT_COLUMNS header (RFC 4180)."""
    emails = await _emails(ctx.tx.conn, ctx.group.id)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for item in await queries.all_items(ctx.tx.conn, ctx.group.id):
        row = {
            **ActionItemRead.model_validate(row_json(item)).model_dump(mode="json"),
            "owner_email": emails.get(item.owner_id) if item.owner_id else None,
        }
        writer.writerow([safe_cell(row[c]) for c in EXPORT_COLUMNS])
    return out.getvalue()


# --- import ----------------------------------------------------------------------------------


class _RowErrors:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, row: int, column: str | None, msg: str) -> None:
        loc = ["row", str(row)] + ([column] if column else [])
        self.items.append({"loc": loc, "row": row, "column": column, "msg": msg})

    def from_pydantic(self, row: int, exc: ValidationError) -> None:
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else None
            self.add(row, _COLUMN.get(field, field) if field else None, err["msg"])

    def from_domain(self, row: int, exc: DomainError) -> None:
        for err in exc.errors or [{"loc": [], "msg": exc.detail}]:
            loc = err.get("loc") or []
            field = str(loc[-1]) if len(loc) > 1 else None
            self.add(row, _COLUMN.get(field, field) if field else None, str(err["msg"]))


def _read_rows(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and non-blank records (with their row number); 422 for unreadable CSV."""
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise ValidationFailed(f"The file is not valid CSV: {exc}") from exc
    if not records or not any(c.strip() for c in records[0]):
        raise ValidationFailed("The file is empty; the first row must name the columns")
    header = [c.strip() for c in records[0]]
    rows = [(n, r) for n, r in enumerate(records[1:], start=2) if any(c.strip() for c in r)]
    return header, rows


def _check_header(header: list[str]) -> None:
    problems = [
        {"loc": ["header", name], "msg": f"unknown column {name!r}"}
        for name in header
        if name not in EXPORT_COLUMNS
    ]
    problems += [
        {"loc": ["header", name], "msg": f"column {name!r} appears twice"}
        for i, name in enumerate(header)
        if name in header[:i]
    ]
    if problems:
        raise ValidationFailed(
            "The header names unknown or repeated columns; allowed: " + ", ".join(EXPORT_COLUMNS),
            errors=problems,
        )


def _parse_uuid(value: str) -> uuid.UUID:
    return uuid.UUID(value)


def _parse_date(value: str) -> date:
    return date.fromisoformat(value)


_PARSERS: dict[str, Callable[[str], Any]] = {
    "focus_area_id": _parse_uuid,
    "proposal_id": _parse_uuid,
    "meeting_id": _parse_uuid,
    "due_date": _parse_date,
}


def _fields(
    row: int, cells: dict[str, str], users: dict[str, uuid.UUID], errors: _RowErrors
) -> dict[str, Any]:
    """CSV cells → API fields (only the columns present; pydantic validates the values)."""
    fields: dict[str, Any] = {}
    for column, cell in cells.items():
        raw = cell_value(cell)
        value = raw.strip()
        if column == "id":
            continue
        if not value:
            if column not in _KEEP_WHEN_EMPTY:
                fields[_FIELD.get(column, column)] = None
            continue
        if column == "owner_email":
            owner = users.get(value.lower())
            if owner is None:
                errors.add(row, column, "no member of the group has this email")
            fields["owner_id"] = owner
        elif column in _PARSERS:
            try:
                fields[column] = _PARSERS[column](value)
            except ValueError:
                kind = "date (YYYY-MM-DD)" if column == "due_date" else "UUID"
                errors.add(row, column, f"not a valid {kind}: {value!r}")
        else:
            fields[column] = raw if column == "description" else value
    return fields


async def import_csv(*, ctx: GroupContext, text: str) -> ImportResult:
    """Create (no `id`) or update (`id`) one item per row, through the same services as the
    API, so every change records its events. Any error: 422 listing them, nothing kept (the
    caller's transaction rolls back)."""
    header, rows = _read_rows(text)
    _check_header(header)
    if len(rows) > MAX_IMPORT_ROWS:
        raise ValidationFailed(
            f"{len(rows)} rows; an import takes at most {MAX_IMPORT_ROWS}",
            errors=[{"loc": ["file"], "msg": f"more than {MAX_IMPORT_ROWS} rows"}],
        )
    group_id = ctx.group.id
    users = {email.lower(): uid for uid, email in (await _emails(ctx.tx.conn, group_id)).items()}
    errors = _RowErrors()
    seen: set[uuid.UUID] = set()
    result = ImportResult(created=0, updated=0, unchanged=0, items=[])
    for row, record in rows:
        if len(record) != len(header):
            errors.add(row, None, f"expected {len(header)} fields, found {len(record)}")
            continue
        cells = dict(zip(header, record, strict=True))
        before = len(errors.items)
        fields = _fields(row, cells, users, errors)
        item_id: uuid.UUID | None = None
        if cells.get("id", "").strip():
            try:
                item_id = uuid.UUID(cells["id"].strip())
            except ValueError:
                errors.add(row, "id", "not a valid UUID")
        if len(errors.items) > before:
            continue
        try:
            if item_id is None:
                item = await _create(ctx, fields)
                result.created += 1
            else:
                if item_id in seen:
                    errors.add(row, "id", "the same item appears in an earlier row")
                    continue
                seen.add(item_id)
                existing = await queries.get_item(ctx.tx.conn, item_id)
                if existing is None or existing.group_id != group_id:
                    errors.add(row, "id", "no action item with this id in the group")
                    continue
                version = existing.version
                item = await update_action_item(ctx=ctx, item=existing, data=_update(fields))
                if item.version != version:
                    result.updated += 1
                else:
                    result.unchanged += 1
        except ValidationError as exc:
            errors.from_pydantic(row, exc)
            continue
        except DomainError as exc:
            errors.from_domain(row, exc)
            continue
        result.items.append(ActionItemRead.model_validate(row_json(item)))
    if errors.items:
        bad_rows = len({e["row"] for e in errors.items})
        raise ValidationFailed(
            f"{bad_rows} row(s) have errors; nothing was imported", errors=errors.items
        )
    return result


def _update(fields: dict[str, Any]) -> ActionItemUpdate:
    return ActionItemUpdate.model_validate(fields)


async def _create(ctx: GroupContext, fields: dict[str, Any]) -> ItemRow:
    """A new item from a row: created as the API would, then given its status and progress
    (so the events are the same as creating then updating it by hand)."""
    later: dict[str, Any] = {k: fields.pop(k) for k in ("status", "progress") if k in fields}
    data = ActionItemCreate.model_validate(fields)
    if later:
        _update(later)  # validate before anything is written
    item = await create_action_item(ctx=ctx, data=data)
    if later:
        item = await update_action_item(ctx=ctx, item=item, data=_update(later))
    return item
