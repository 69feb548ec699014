"""The caller's inbox and notification preferences (API.md "Notifications")."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from app.core.db import SessionDep, TxDep
from app.core.deps import IfMatch, check_if_match, set_etag
from app.core.pagination import Page, PageParams, page_params
from app.core.responses import json_response, page_response
from app.models import NotificationPreference
from app.notifications import service
from app.notifications.rules import rules_markdown
from app.notifications.schemas import (
    NotificationRead,
    PreferencesRead,
    PreferencesUpdate,
    ReadAllResult,
    UnreadCount,
)
from app.users.deps import CurrentUser

router = APIRouter(tags=["notifications"])

LIST_DESCRIPTION = f"""Your notifications, newest first; `unread=true` keeps the unread ones,
`unread=false` the read ones. Each is also pushed live to your websockets as
`{{"type": "notification", "notification": …}}` once created.

Who is notified of what:

{rules_markdown()}

Never the user who caused the event, never a user who has left the group, and never for a
type in your `muted_types`. Reminders (`due_soon`, `overdue`, `meeting.reminder`) have no
actor; an item is due at the end of its `due_date` in UTC. Email follows
`/users/me/notification-preferences`: `immediate` sends one mail per notification, `daily` a
digest grouped by group, `off` none."""


@router.get("/notifications", response_model=Page[NotificationRead], description=LIST_DESCRIPTION)
async def list_notifications(
    user: CurrentUser,
    tx: TxDep,
    page: Annotated[PageParams, Depends(page_params)],
    unread: Annotated[bool | None, Query(description="only unread (true) or read (false)")] = None,
) -> Response:
    items, cursor = await service.list_notifications(tx=tx, user=user, unread=unread, page=page)
    return page_response(items, cursor)


@router.get("/notifications/unread-count", response_model=UnreadCount)
async def unread_count(user: CurrentUser, tx: TxDep) -> Response:
    return json_response({"count": await service.unread_count(tx=tx, user=user)})


@router.post("/notifications/read-all", response_model=ReadAllResult)
async def read_all(user: CurrentUser, session: SessionDep) -> ReadAllResult:
    """Mark every unread notification of yours as read."""
    return ReadAllResult(marked_read=await service.mark_all_read(session=session, user=user))


@router.post("/notifications/{notification_id}/read", response_model=NotificationRead)
async def read_one(
    notification_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> NotificationRead:
    """Mark one notification as read (idempotent). Someone else's is a 404."""
    note = await service.mark_read(session=session, user=user, notification_id=notification_id)
    return NotificationRead.model_validate(note)


def _preferences(pref: NotificationPreference | None, response: Response) -> PreferencesRead:
    email, muted, version = service.effective(pref)
    set_etag(response, version)
    return PreferencesRead(email=email, muted_types=muted)


@router.get("/users/me/notification-preferences", response_model=PreferencesRead)
async def get_preferences(
    user: CurrentUser, session: SessionDep, response: Response
) -> PreferencesRead:
    """`email` defaults to `immediate` and nothing is muted until you PUT otherwise."""
    pref = await service.get_preferences(session=session, user_id=user.id)
    return _preferences(pref, response)


@router.put("/users/me/notification-preferences", response_model=PreferencesRead)
async def put_preferences(
    data: PreferencesUpdate,
    user: CurrentUser,
    session: SessionDep,
    if_match: IfMatch,
    response: Response,
) -> PreferencesRead:
    """Replace your preferences. `muted_types` must be types listed under
    `GET /notifications` (422 otherwise). Honours `If-Match` (412 on mismatch)."""
    current = await service.get_preferences(session=session, user_id=user.id)
    check_if_match(if_match, service.effective(current)[2])
    pref = await service.put_preferences(session=session, user=user, data=data)
    return _preferences(pref, response)
