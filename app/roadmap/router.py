from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from starlette.datastructures import UploadFile

from app.comments.router import add_comment_routes
from app.core.db import TxDep
from app.core.deps import IfMatch, check_if_match
from app.core.errors import DomainError, Forbidden, ValidationFailed
from app.core.pagination import Page, PageParams, page_params
from app.core.responses import json_response, page_response
from app.core.schemas import Day
from app.groups.access import Member, Moderator, Reader
from app.models import ActionItemStatus
from app.roadmap import bulk, service
from app.roadmap.deps import ACTION_ITEM, ItemReader, ItemWriter
from app.roadmap.queries import ItemRow, row_json
from app.roadmap.schemas import (
    ActionItemCreate,
    ActionItemFilters,
    ActionItemRead,
    ActionItemUpdate,
    ImportResult,
    Roadmap,
)
from app.users.deps import CurrentUser

router = APIRouter(tags=["roadmap"])

Paging = Annotated[PageParams, Depends(page_params)]


async def item_filters(
    status: Annotated[ActionItemStatus | None, Query()] = None,
    owner_id: Annotated[uuid.UUID | None, Query()] = None,
    focus_area_id: Annotated[uuid.UUID | None, Query()] = None,
    proposal_id: Annotated[uuid.UUID | None, Query()] = None,
    meeting_id: Annotated[uuid.UUID | None, Query()] = None,
    due_before: Annotated[
        Day | None, Query(description="due strictly before this date (YYYY-MM-DD)")
    ] = None,
    overdue: Annotated[
        bool | None,
        Query(
            description="true: due date before today (UTC) and status neither done nor "
            "cancelled; false: every other item"
        ),
    ] = None,
) -> ActionItemFilters:
    return ActionItemFilters(
        status=status,
        owner_id=owner_id,
        focus_area_id=focus_area_id,
        proposal_id=proposal_id,
        meeting_id=meeting_id,
        due_before=due_before,
        overdue=overdue,
    )


Filters = Annotated[ActionItemFilters, Depends(item_filters)]


def _item(item: ItemRow, status_code: int = 200) -> Response:
    return json_response(row_json(item), status_code=status_code, version=item.version)


@router.post(
    "/groups/{group_id}/action-items",
    status_code=status.HTTP_201_CREATED,
    response_model=ActionItemRead,
)
async def create_action_item(data: ActionItemCreate, ctx: Member) -> Response:
    """Moderators create items for anyone; a member creates items they own (an omitted
    `owner_id` means the caller). The owner must be a member of the group (422)."""
    item = await service.create_for_caller(ctx=ctx, data=data)
    return _item(item, status.HTTP_201_CREATED)


@router.get("/groups/{group_id}/action-items", response_model=Page[ActionItemRead])
async def list_action_items(ctx: Reader, page: Paging, filters: Filters) -> Response:
    """Oldest first; the filters combine with AND."""
    items, cursor = await service.list_action_items(ctx=ctx, filters=filters, page=page)
    return page_response(items, cursor)


@router.get("/users/me/action-items", response_model=Page[ActionItemRead], tags=["users"])
async def my_action_items(user: CurrentUser, tx: TxDep, page: Paging, filters: Filters) -> Response:
    """Items the caller owns, across every group they belong to."""
    items, cursor = await service.list_my_action_items(tx=tx, user=user, filters=filters, page=page)
    return page_response(items, cursor)


@router.get("/action-items/{action_item_id}", response_model=ActionItemRead)
async def get_action_item(item: ItemReader) -> Response:
    return _item(item.obj)


@router.patch("/action-items/{action_item_id}", response_model=ActionItemRead)
async def update_action_item(
    item: ItemWriter, data: ActionItemUpdate, if_match: IfMatch
) -> Response:
    """Moderators change any item; members the items they own (and only moderators assign
    an item to someone else). Records `action_item.updated` with `{field: {old, new}}`,
    `action_item.assigned` when the owner changes, `action_item.completed` on `done`."""
    service.ensure_can_manage(item.ctx, item.obj)
    check_if_match(if_match, item.obj.version)
    updated = await service.update_action_item(ctx=item.ctx, item=item.obj, data=data)
    return _item(updated)


@router.delete("/action-items/{action_item_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_action_item(item: ItemWriter, if_match: IfMatch) -> None:
    """Moderators delete any item; members the items they own. Its comments go with it."""
    service.ensure_can_manage(item.ctx, item.obj)
    check_if_match(if_match, item.obj.version)
    await service.delete_action_item(ctx=item.ctx, item=item.obj)


add_comment_routes(
    router,
    kind=ACTION_ITEM,
    subject_type="action_item",
    prefix="/action-items",
    param="action_item_id",
)


@router.get(
    "/groups/{group_id}/roadmap",
    response_model=Roadmap,
    description=(
        "The group's action items grouped by focus area (in the areas' order, then a bucket "
        "with `focus_area: null` for items without one). Cancelled items are left out of the "
        "lists and the numbers (`cancelled_count` says how many there are).\n\n"
        "**Progress formula**: the progress of a bucket is the arithmetic mean of the "
        "`progress` (0-100) of its non-cancelled items, rounded half up to one decimal; the "
        "overall `progress` is the same mean over every non-cancelled item of the group "
        "(each item weighs the same, whatever its area). `null` when there are no such items."
    ),
)
async def get_roadmap(ctx: Reader) -> Roadmap:
    return await service.roadmap(ctx=ctx)


@router.get(
    "/groups/{group_id}/action-items.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "RFC 4180 CSV, UTF-8"}},
)
async def export_action_items(ctx: Reader) -> Response:
    """Every item of the group as CSV with the columns
    `id,title,description,status,progress,priority,owner_email,due_date,focus_area_id,proposal_id,meeting_id`
    (empty cell = null). Members of the group of any role may export; a signed-in
    non-member of a public group may not, since the file holds members' email addresses."""
    if ctx.role is None:
        raise Forbidden("Only members of the group may export its action items")
    text = await bulk.export_csv(ctx=ctx)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="action-items.csv"'},
    )


class UnsupportedMediaType(DomainError):
    status, code = 415, "unsupported-media-type"


async def _csv_text(request: Request) -> str:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw: bytes
    if content_type == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if isinstance(upload, UploadFile):
            raw = await upload.read()
        elif isinstance(upload, str):
            raw = upload.encode()
        else:
            raise ValidationFailed(
                "Send the CSV as the form field `file`",
                errors=[{"loc": ["body", "file"], "msg": "missing"}],
            )
    elif content_type in ("text/csv", "text/plain", "application/csv"):
        raw = await request.body()
    else:
        raise UnsupportedMediaType("Send text/csv, or multipart/form-data with a `file` field")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed("The file is not UTF-8 text") from exc


_IMPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}


@router.post(
    "/groups/{group_id}/action-items/import",
    response_model=ImportResult,
    openapi_extra=_IMPORT_BODY,
    responses={415: {"description": "The body is neither text/csv nor multipart/form-data"}},
)
async def import_action_items(request: Request, ctx: Moderator) -> ImportResult:
    """Create or update items from CSV (moderators). Columns are those of the export, any
    subset in any order (`title` is needed for new rows): a row without `id` creates an
    item, a row with `id` updates that item. `owner_email` names a member; an empty cell
    sets a field to null, except `title`, `status`, `progress` and `priority`, which are
    left as they are (new items get the defaults). At most 5,000 rows.

    All or nothing: an unknown column, any bad row or too many rows → 422 with every row's
    error (`errors[].row` counts the header as row 1) and nothing changed. Every created or
    updated item records the same events as through the API."""
    text = await _csv_text(request)
    return await bulk.import_csv(ctx=ctx, text=text)
